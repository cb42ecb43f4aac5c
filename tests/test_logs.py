"""LOG_FORMAT=json: every log line is one JSON object, and the request line's fields are
structured (`record.extra`), from the app and from a real gunicorn alike."""

import json

import requests
from loguru import logger

from app import logs
from tests.support.waiting import wait_until


def records(text: str) -> list[dict]:
    """Every line of a log, each parsed as JSON (failing on any line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def request_lines(found: list[dict], path: str) -> list[dict]:
    return [r["record"]["extra"] for r in found if r["record"]["extra"].get("path") == path]


def test_a_request_is_one_json_line_with_its_fields_as_extra(make_app, capsys):
    client = make_app(LOG_FORMAT="json", LOG_LEVEL="INFO").test_client()
    with client.get("/v1/models", headers={"X-Request-Id": "req-123"}) as response:
        assert response.status_code == 200
    found = records(capsys.readouterr().err)
    [line] = request_lines(found, "/v1/models")
    assert line["method"] == "GET" and line["status"] == 200 and line["request_id"] == "req-123"
    assert isinstance(line["duration_ms"], int) and line["key"] == "anonymous"


def test_multi_line_messages_and_tracebacks_stay_on_one_line(capsys):
    logs.configure("INFO", "json")
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logger.exception("failed:\n{}", "details")
    [record] = records(capsys.readouterr().err)
    assert record["record"]["message"] == "failed:\ndetails"
    assert "RuntimeError: boom" in record["text"]
    logs.configure("WARNING", "text")


def test_gunicorn_writes_only_json_lines_including_its_own(live_server):
    server = live_server(LOG_FORMAT="json", LOG_LEVEL="INFO")
    assert requests.get(server.url + "/v1/models", headers={"X-Request-Id": "gun-1"},
                        timeout=30).status_code == 200
    assert wait_until(lambda: '"request_id": "gun-1"' in server.log.read_text(), seconds=10)
    server.stop()
    found = records(server.log.read_text())
    assert [line["request_id"] for line in request_lines(found, "/v1/models")] == ["gun-1"]
    messages = [r["record"]["message"] for r in found if r["record"]["name"] == "gunicorn.error"]
    assert any(m.startswith("Booting worker") for m in messages)
    assert not any('"GET /v1/models HTTP/1.1"' in r["text"] for r in found)  # no access log
