"""API keys: required everywhere but /health when set, in either header."""

import pytest


@pytest.fixture
def keyed(make_app):
    return make_app(API_KEYS="first-key-0001, second-key-0002").test_client()


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer first-key-0001"},
    {"Authorization": "bearer second-key-0002"},
    {"x-api-key": "second-key-0002"},
])
def test_a_configured_key_is_accepted(keyed, headers):
    response = keyed.post("/api/claude", json={"prompt": "hi", "stream": False}, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("headers, words", [
    ({}, "Missing API key"),
    ({"Authorization": "Bearer wrong"}, "Invalid API key"),
    ({"Authorization": "Basic Zmlyc3Qta2V5LTAwMDE="}, "Missing API key"),
    ({"x-api-key": "first-key-000"}, "Invalid API key"),
])
def test_missing_or_wrong_key_is_401(keyed, headers, words):
    response = keyed.post("/api/claude", json={"prompt": "hi"}, headers=headers)
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert words in error["message"] and error["type"] == "authentication_error"


def test_health_needs_no_key(keyed):
    assert keyed.get("/health").status_code == 200


def test_single_api_key_setting_works(make_app):
    client = make_app(API_KEY="only-key-123").test_client()
    assert client.post("/api/claude", json={"prompt": "hi"}).status_code == 401
    assert client.post("/api/claude", json={"prompt": "hi", "stream": False},
                       headers={"x-api-key": "only-key-123"}).status_code == 200


def test_logs_show_a_fixed_length_hash_of_a_key_never_the_key(make_app, capsys):
    client = make_app(API_KEY="short", LOG_LEVEL="INFO").test_client()
    response = client.get("/v1/models", headers={"x-api-key": "short"})
    response.close()
    logged = capsys.readouterr().err
    line = next(text for text in logged.splitlines() if "path=/v1/models" in text)
    assert "key=env:" in line and "short" not in line
    assert len(line.split("key=env:")[1].split()[0]) == 8
