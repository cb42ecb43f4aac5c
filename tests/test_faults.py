"""Fault injection with the fake CLI: the stream survives, says what failed, ends cleanly."""

import json
import socket

import pytest
import requests

from tests.support.streams import first_cli_event, sse_events
from tests.support.waiting import process_gone, wait_until


def stream(client, prompt: str) -> list:
    response = client.post("/api/claude", json={"prompt": prompt})
    assert response.status_code == 200
    return sse_events(response.get_data(as_text=True))


def test_garbage_lines_are_skipped(client):
    events = stream(client, "fake:garbage")
    assert all(isinstance(e, dict) for e in events)
    assert events[-1]["type"] == "result"
    assert events[-1]["result"] == "garbage survived ok fine really done"


def test_a_10_mb_line_is_one_event(client):
    events = stream(client, "fake:bigline 10000000")
    assistant = [e for e in events if e["type"] == "assistant"]
    assert len(assistant) == 1
    assert assistant[0]["message"]["content"][0]["text"] == "x" * 10_000_000
    assert events[-1]["result"] == "bigline done"


def test_crash_mid_stream_ends_with_an_error_result_quoting_stderr(client):
    events = stream(client, "fake:crash")
    assert any(e["type"] == "stream_event" for e in events)
    result = events[-1]
    assert result["type"] == "result" and result["is_error"] is True
    assert result["subtype"] == "process_error"
    assert "code 3" in result["result"] and "fatal: simulated crash" in result["result"]


def test_exit_without_result_gets_one(client):
    result = stream(client, "fake:noresult")[-1]
    assert result["type"] == "result" and result["subtype"] == "process_error"
    assert "code 0" in result["result"]


@pytest.mark.parametrize("prompt, status", [
    ("hi", 200),
    ("fake:max-turns", 200),
    ("fake:error-result 400", 400),
    ("fake:error-result 413", 413),
    ("fake:error-result 401", 502),  # the gateway's own login failed: not the client's fault
    ("fake:error-result 529", 502),
    ("fake:error-result 500", 502),
    ("fake:crash", 502),
    ("fake:hang", 504),
])
def test_a_result_maps_to_one_status_on_both_endpoints(make_app, prompt, status):
    client = make_app(CLAUDE_INACTIVITY_TIMEOUT_MS="300").test_client()
    native = client.post("/api/claude", json={"prompt": prompt, "stream": False})
    chat = client.post("/v1/chat/completions", json={
        "model": "claude-code", "messages": [{"role": "user", "content": prompt}]})
    assert native.status_code == chat.status_code == status
    assert native.get_json()["type"] == "result"  # the CLI's result stays in the body
    if status == 200:
        assert "choices" in chat.get_json()
    else:
        assert native.get_json()["is_error"] is True and "error" in chat.get_json()


def test_inactivity_timeout_stops_the_process_group(make_app):
    client = make_app(CLAUDE_INACTIVITY_TIMEOUT_MS="300").test_client()
    events = stream(client, "fake:child")
    result = events[-1]
    assert result["subtype"] == "timeout" and result["is_error"] is True
    assert "inactivity timeout" in result["result"]
    assert process_gone(events[1]["fake_pid"]) and process_gone(events[1]["child_pid"])


def test_total_timeout_fires_even_while_the_cli_talks(make_app):
    client = make_app(CLAUDE_TOTAL_TIMEOUT_MS="500").test_client()
    events = stream(client, "fake:slow 30")
    assert events[-1]["subtype"] == "timeout" and "total timeout" in events[-1]["result"]
    assert process_gone(events[1]["fake_pid"])


def test_a_cli_ignoring_the_stop_signals_is_killed(make_app):
    client = make_app(CLAUDE_INACTIVITY_TIMEOUT_MS="200", PROCESS_KILL_TIMEOUT_MS="300")\
        .test_client()
    events = stream(client, "fake:ignore-term")
    assert events[-1]["subtype"] == "timeout"
    assert process_gone(events[1]["fake_pid"])


def test_stderr_flood_does_not_deadlock(client):
    events = stream(client, "fake:stderr-flood 20")
    assert events[-1]["result"] == "flood done"


def test_crash_after_stderr_flood_quotes_only_the_tail(client):
    events = stream(client, "fake:crash")
    assert len(events[-1]["result"]) < 3000


def test_keepalive_comments_while_the_cli_is_silent(make_app):
    client = make_app(KEEPALIVE_INTERVAL_MS="100").test_client()
    body = client.post("/api/claude", json={"prompt": "fake:sleep-then-echo 1"})\
        .get_data(as_text=True)
    assert body.count(": keep-alive\n\n") >= 3
    assert sse_events(body)[-1]["result"] == "echo: fake:sleep-then-echo 1"


def test_missing_cli_is_503_and_unhealthy(make_app, tmp_path):
    client = make_app(CLAUDE_PATH=str(tmp_path / "no-such-claude")).test_client()
    response = client.post("/api/claude", json={"prompt": "hi"})
    assert response.status_code == 503
    assert "not found" in response.get_json()["error"]["message"]
    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["status"] == "unhealthy"
    assert health.get_json()["checks"]["cli"]["status"] == "fail"


def test_client_disconnect_stops_the_process(live_server):
    server = live_server(KEEPALIVE_INTERVAL_MS="100")
    response = requests.post(server.url + "/api/claude", json={"prompt": "fake:child"},
                             stream=True, timeout=10)
    lines = response.iter_lines()
    init = first_cli_event(lines)
    response.close()
    assert wait_until(lambda: process_gone(init["fake_pid"]) and process_gone(init["child_pid"]),
                      seconds=5)


@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_worker_shutdown_stops_running_processes(live_server, worker_class, monkeypatch):
    monkeypatch.setenv("GUNICORN_WORKER_CLASS", worker_class)
    monkeypatch.setenv("GUNICORN_GRACEFUL_TIMEOUT", "3")
    server = live_server(KEEPALIVE_INTERVAL_MS="100")
    response = requests.post(server.url + "/api/claude", json={"prompt": "fake:hang"},
                             stream=True, timeout=10)
    pid = first_cli_event(response.iter_lines())["fake_pid"]
    server.stop()
    assert wait_until(lambda: process_gone(pid), seconds=10)


def test_a_gevent_worker_patches_before_the_app_is_imported(live_server, monkeypatch):
    """gunicorn's master reads gunicorn.conf.py before any worker patches: had it imported
    the app (redis, SQLAlchemy, requests), those modules would not be cooperative in a
    gevent worker, which gevent says in a MonkeyPatchWarning."""
    monkeypatch.setenv("GUNICORN_WORKER_CLASS", "gevent")
    server = live_server(LOG_LEVEL="INFO")
    assert requests.get(server.url + "/health", timeout=10).status_code in (200, 503)
    server.stop()
    log = server.log.read_text()
    assert "Using worker: gevent" in log
    assert "MonkeyPatchWarning" not in log


@pytest.mark.parametrize("request_bytes, status", [
    (b"NOT A REQUEST LINE\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n", 431),
])
def test_errors_gunicorn_answers_itself_are_json_too(live_server, request_bytes, status):
    server = live_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].startswith(f"HTTP/1.1 {status}".encode())
    assert b"Content-Type: application/json" in head
    assert set(json.loads(body)["error"]) == {"message", "type", "param", "code"}
