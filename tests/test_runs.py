"""Runs with the fake CLI: each belongs to its key (another key's answers like an unknown one),
bad requests get clear errors, and webhooks are signed, allowed only to the operator's hosts,
retried while the receiver is down, and never hold the run up."""

import base64
import os
import queue
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from tests.support.streams import sse_events

ALICE, BOB = {"x-api-key": "key-alice-0001"}, {"x-api-key": "key-bob-0002"}
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def client(make_app):
    return make_app(API_KEYS="key-alice-0001,key-bob-0002").test_client()


def run(client, headers, prompt="hello", **body) -> tuple[str, list]:
    response = client.post("/api/claude", headers=headers, json={"prompt": prompt, **body})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.headers["X-Run-Id"], sse_events(response.get_data(as_text=True))


def test_a_finished_run_shows_its_result_and_replays_its_events(client):
    run_id, events = run(client, ALICE)
    shown = client.get(f"/api/claude/runs/{run_id}", headers=ALICE).get_json()
    assert shown["status"] == "completed" and shown["result"]["result"] == "echo: hello"
    assert shown["session_id"] == events[-1]["session_id"]
    replay = client.get(f"/api/claude/runs/{run_id}/events", headers=ALICE)
    assert sse_events(replay.get_data(as_text=True)) == events
    after = client.get(f"/api/claude/runs/{run_id}/events?after=2", headers=ALICE)
    assert sse_events(after.get_data(as_text=True)) == events[2:]
    body = client.get(f"/api/claude/runs/{run_id}/events", headers={
        **ALICE, "Last-Event-ID": str(len(events) - 1)}).get_data(as_text=True)
    assert body.startswith(f"id: {len(events)}\n") and sse_events(body) == events[-1:]


def test_a_non_streaming_run_has_an_id_too(client):
    response = client.post("/api/claude", headers=ALICE, json={"prompt": "hi", "stream": False})
    assert response.status_code == 200 and response.get_json()["result"] == "echo: hi"
    shown = client.get(f"/api/claude/runs/{response.headers['X-Run-Id']}", headers=ALICE)
    assert shown.get_json()["status"] == "completed"


def test_another_keys_run_answers_like_an_unknown_one(client):
    run_id, _ = run(client, ALICE)
    unknown = "run_" + "0" * 32
    for path in ("/api/claude/runs/{}", "/api/claude/runs/{}/events"):
        theirs = client.get(path.format(run_id), headers=BOB)
        missing = client.get(path.format(unknown), headers=BOB)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.get_json()["error"] == {**missing.get_json()["error"],
                                              "message": f"Run {run_id} was not found."}
    cancel = client.post(f"/api/claude/runs/{run_id}/cancel", headers=BOB)
    assert cancel.status_code == 404
    assert [r["id"] for r in client.get("/api/claude/runs", headers=BOB).get_json()["data"]] \
        == []
    assert run_id in [r["id"] for r in client.get("/api/claude/runs",
                                                  headers=ALICE).get_json()["data"]]


def test_the_list_filters_by_status(client):
    run_id, _ = run(client, ALICE)
    done = client.get("/api/claude/runs?status=completed", headers=ALICE).get_json()["data"]
    running = client.get("/api/claude/runs?status=running", headers=ALICE).get_json()["data"]
    assert [r["id"] for r in done] == [run_id] and running == []
    bad = client.get("/api/claude/runs?status=sleeping", headers=ALICE)
    assert bad.status_code == 400 and bad.get_json()["error"]["param"] == "status"


def test_bad_run_requests_get_clear_errors(client):
    run_id, _ = run(client, ALICE)
    bad_id = client.get(f"/api/claude/runs/{run_id}/events",
                        headers={**ALICE, "Last-Event-ID": "seven"})
    assert bad_id.status_code == 400 and bad_id.get_json()["error"]["param"] == "Last-Event-ID"
    bad_mode = client.post("/api/claude", headers=ALICE,
                           json={"prompt": "hi", "on-disconnect": "linger"})
    assert bad_mode.status_code == 400
    assert bad_mode.get_json()["error"]["param"] == "on-disconnect"
    assert client.post(f"/api/claude/runs/{run_id}/cancel",
                       headers=ALICE).get_json()["status"] == "completed"


class Receiver:
    """A webhook receiver on loopback that keeps what it is sent."""

    def __init__(self, port: int = 0):
        self.received: queue.Queue = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verified(headers: dict, body: bytes) -> dict:
    """The event, once its Standard Webhooks signature checks out (else an exception)."""
    lower = {k.lower(): v for k, v in headers.items()}
    return Webhook(SECRET).verify(body, {k: lower[k] for k in (
        "webhook-id", "webhook-timestamp", "webhook-signature")})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_webhook_gets_the_signed_end_of_the_run(make_app):
    receiver = Receiver()
    try:
        client = make_app(API_KEY="key-alice-0001", WEBHOOK_SECRET=SECRET,
                          WEBHOOK_ALLOWED_HOSTS=f"127.0.0.1:{receiver.port}").test_client()
        run_id, _ = run(client, ALICE, webhook=f"http://127.0.0.1:{receiver.port}/hook")
        headers, body = receiver.received.get(timeout=30)
        event = verified(headers, body)
        assert event["type"] == "run.completed" and event["data"]["id"] == run_id
        assert event["data"]["result"]["result"] == "echo: hello"
        with pytest.raises(Exception):
            verified({**headers, "webhook-signature": "v1,AAAA"}, body)
    finally:
        receiver.close()


def test_a_webhook_to_a_host_not_allowed_is_refused_before_the_run(make_app):
    client = make_app(API_KEY="key-alice-0001", WEBHOOK_SECRET=SECRET,
                      WEBHOOK_ALLOWED_HOSTS="hooks.example.com").test_client()
    refused = client.post("/api/claude", headers=ALICE, json={
        "prompt": "hi", "webhook": "http://127.0.0.1:9/steal"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "webhook_host_not_allowed"
    assert client.get("/api/claude/runs", headers=ALICE).get_json()["data"] == []
    malformed = client.post("/api/claude", headers=ALICE, json={
        "prompt": "hi", "webhook": "file:///etc/passwd"})
    assert malformed.status_code == 400


def test_a_receiver_that_is_down_is_retried_and_never_holds_the_run(make_app):
    port = free_port()  # nothing listens here yet
    client = make_app(API_KEY="key-alice-0001", WEBHOOK_SECRET=SECRET,
                      WEBHOOK_ALLOWED_HOSTS=f"127.0.0.1:{port}").test_client()
    run_id, events = run(client, ALICE, webhook=f"http://127.0.0.1:{port}/hook")
    assert events[-1]["result"] == "echo: hello"  # the run ended while its receiver was down
    receiver = Receiver(port)
    try:
        headers, body = receiver.received.get(timeout=30)  # the retry, a second later
        assert verified(headers, body)["data"]["id"] == run_id
    finally:
        receiver.close()


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", {"model": "claude-code", "stream": True,
                              "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/messages", {"model": "claude-code", "stream": True, "max_tokens": 100,
                      "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/responses", {"model": "claude-code", "stream": True, "input": "hi"})])
def test_every_streamed_answer_is_a_run_its_client_can_resume(client, path, body):
    response = client.post(path, headers=ALICE, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    run_id = response.headers["X-Run-Id"]
    streamed = response.get_data(as_text=True)
    replay = client.get(f"/api/claude/runs/{run_id}/events", headers=ALICE)
    assert sse_events(replay.get_data(as_text=True)) == sse_events(streamed)
    shown = client.get(f"/api/claude/runs/{run_id}", headers=ALICE).get_json()
    assert shown["status"] == "completed" and shown["surface"] == path.split("/")[2]


def test_the_sdks_read_streams_with_keep_alives_between_events(live_server):
    """A quiet spell mid-stream (keep-alives) reaches the OpenAI and Anthropic SDKs as nothing."""
    import anthropic
    import openai
    server = live_server(KEEPALIVE_INTERVAL_MS="40")  # the fake CLI speaks every 100 ms
    sdk = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=60)
    chunks = list(sdk.chat.completions.create(model="claude-code", stream=True, messages=[
        {"role": "user", "content": "fake:slow 1"}]))
    assert chunks[-1].choices[0].finish_reason == "stop"
    events = list(sdk.responses.create(model="claude-code", stream=True,
                                       input="fake:slow 1"))
    assert events[-1].type == "response.completed"
    claude = anthropic.Anthropic(base_url=server.url, api_key="none", max_retries=0, timeout=60)
    with claude.messages.stream(model="claude-code", max_tokens=100, messages=[
            {"role": "user", "content": "fake:slow 1"}]) as stream:
        assert stream.get_final_message().stop_reason == "end_turn"
