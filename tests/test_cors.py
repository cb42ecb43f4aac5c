"""CORS: browsers on CORS_ORIGINS may call every endpoint, preflight included; others may not."""

import re

import pytest

from app.settings import SettingsError

ORIGIN = "https://chat.example.com"
LOCAL = "http://[::1]:5173"
KEY = "k" * 24
AUTH = {"Authorization": f"Bearer {KEY}"}
# what the openai and anthropic SDKs send from a browser, besides the usual
SDK_HEADERS = ("authorization", "content-type", "x-api-key", "x-session-id",
               "x-stainless-os", "x-stainless-retry-count", "anthropic-version",
               "anthropic-dangerous-direct-browser-access")
SKIPPED = {"HEAD", "OPTIONS"}


@pytest.fixture
def cors_app(make_app):
    return make_app(CORS_ORIGINS=f"{ORIGIN}, {LOCAL}", API_KEY=KEY)


def preflight(client, path, origin, method="POST"):
    return client.options(path, headers={"Origin": origin,
                                         "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": ", ".join(SDK_HEADERS)})


def listed(response, header) -> set[str]:
    return {item.strip().lower() for item in response.headers.get(header, "").split(",")
            if item.strip()}


def routes(app) -> list[tuple[str, str]]:
    """Every (path, method) the app serves, with a value in each `<param>`."""
    return sorted((re.sub(r"<[^>]+>", "x", rule.rule), method)
                  for rule in app.url_map.iter_rules() if rule.endpoint != "static"
                  for method in rule.methods - SKIPPED)


def test_preflight_of_every_endpoint_from_an_allowed_origin_needs_no_key(cors_app):
    client = cors_app.test_client()
    for path, method in routes(cors_app):
        answer = preflight(client, path, ORIGIN, method)
        assert answer.status_code == 200, (path, method, answer.get_data(as_text=True))
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN, (path, method)
        assert method.lower() in listed(answer, "Access-Control-Allow-Methods"), (path, method)
        assert listed(answer, "Access-Control-Allow-Headers") == set(SDK_HEADERS), (path, method)
        assert "Access-Control-Allow-Credentials" not in answer.headers
        assert "Origin" in answer.headers.get("Vary", "")
        assert int(answer.headers["Access-Control-Max-Age"]) > 0


def test_an_ipv6_loopback_origin_is_matched_exactly(cors_app):
    client = cors_app.test_client()
    assert preflight(client, "/v1/models", LOCAL, "GET").headers[
        "Access-Control-Allow-Origin"] == LOCAL
    assert "Access-Control-Allow-Origin" not in preflight(
        client, "/v1/models", "http://[::1]:51730", "GET").headers


@pytest.mark.parametrize("origin", ["https://evil.example", "http://chat.example.com",
                                    "https://chat.example.com.evil.example", "null"])
def test_a_refused_origin_gets_no_allow_headers(cors_app, origin):
    client = cors_app.test_client()
    answer = preflight(client, "/v1/chat/completions", origin)
    assert not [name for name in answer.headers.keys() if name.startswith("Access-Control-")]
    real = client.get("/v1/models", headers={"Origin": origin, **AUTH})
    assert real.status_code == 200
    assert "Access-Control-Allow-Origin" not in real.headers


def test_a_real_request_exposes_the_headers_the_api_returns(cors_app):
    answer = cors_app.test_client().post(
        "/v1/chat/completions", headers={"Origin": ORIGIN, **AUTH},
        json={"model": "claude-code", "temperature": 0.5,
              "messages": [{"role": "user", "content": "hello"}]})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = listed(answer, "Access-Control-Expose-Headers")
    assert exposed >= {"x-session-id", "x-ignored-params", "x-request-id", "retry-after"}
    assert answer.headers["X-Session-Id"] and answer.headers["X-Ignored-Params"] == "temperature"


def test_an_error_reaches_the_allowed_page_readable(cors_app):
    answer = cors_app.test_client().get("/v1/models", headers={
        "Origin": ORIGIN, "Authorization": "Bearer wrong"})
    assert answer.status_code == 401
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert answer.get_json()["error"]["code"] == "invalid_api_key"


def test_without_cors_origins_no_cors_headers_are_sent(make_app):
    client = make_app(API_KEY=KEY).test_client()
    answers = [preflight(client, "/v1/chat/completions", ORIGIN),
               client.get("/v1/models", headers={"Origin": ORIGIN, **AUTH})]
    assert answers[1].status_code == 200
    for answer in answers:
        assert not [name for name in answer.headers.keys() if name.startswith("Access-Control-")]


def test_any_origin_with_a_key(make_app):
    client = make_app(CORS_ORIGINS="*", API_KEY=KEY).test_client()
    answer = preflight(client, "/api/claude", "https://anywhere.example")
    assert answer.headers["Access-Control-Allow-Origin"] == "https://anywhere.example"
    assert "Access-Control-Allow-Credentials" not in answer.headers


@pytest.mark.parametrize("value", [
    "https://chat.example.com/", "https://chat.example.com/app", "chat.example.com",
    "https://chat.example.com?x=1", "null", "*, https://chat.example.com", "https://a b.example",
])
def test_a_bad_origin_is_refused_by_name(make_app, value):
    with pytest.raises(SettingsError) as refused:
        make_app(CORS_ORIGINS=value, API_KEY=KEY)
    assert str(refused.value).startswith("CORS_ORIGINS=") and "\n" not in str(refused.value)


def test_any_origin_without_a_key_is_refused(make_app):
    with pytest.raises(SettingsError, match="CORS_ORIGINS='\\*'.*API_KEY"):
        make_app(CORS_ORIGINS="*")
