"""A session belongs to the key that started it: every other key gets 404 on every path."""

import pytest

KEYS = {"API_KEYS": "key-alice-0001,key-bob-0002"}
ALICE, BOB = {"x-api-key": "key-alice-0001"}, {"x-api-key": "key-bob-0002"}


@pytest.fixture
def client(make_app):
    return make_app(**KEYS).test_client()


def alices_session(client) -> tuple[str, dict]:
    """A /v1 conversation Alice started: its session id and the reply she got."""
    response = client.post("/v1/chat/completions", headers=ALICE, json={
        "model": "claude-code", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    return response.headers["X-Session-Id"], response.get_json()["choices"][0]["message"]


def chat(client, headers, messages, extra_headers=None):
    return client.post("/v1/chat/completions", headers={**headers, **(extra_headers or {})},
                       json={"model": "claude-code", "messages": messages})


def assert_not_found(response, param: str) -> None:
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "session_not_found" and error["param"] == param


def test_another_key_cannot_resume_on_api_claude(client):
    session, _ = alices_session(client)
    refused = client.post("/api/claude", headers=BOB, json={"prompt": "hi",
                                                           "session-id": session})
    assert_not_found(refused, "session-id")
    mine = client.post("/api/claude", headers=ALICE, json={"prompt": "hi", "stream": False,
                                                          "session-id": session})
    assert mine.status_code == 200 and mine.get_json()["session_id"] == session


def test_another_key_cannot_resume_with_a_session_line_or_header(client):
    session, _ = alices_session(client)
    line = chat(client, BOB, [{"role": "user", "content": f"session-id={session}\n\nhi"}])
    assert_not_found(line, "session-id")
    header = chat(client, BOB, [{"role": "user", "content": "hi"}], {"X-Session-Id": session})
    assert_not_found(header, "X-Session-Id")


def test_replaying_another_keys_history_starts_a_fresh_session(client):
    session, reply = alices_session(client)
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", **reply},
               {"role": "user", "content": "fake:stdin-echo"}]
    theirs = chat(client, BOB, history)
    assert theirs.status_code == 200
    assert theirs.headers["X-Session-Id"] not in ("", session)
    mine = chat(client, ALICE, history)
    assert mine.headers["X-Session-Id"] == session


def test_interrupt_of_another_keys_session_is_404(client):
    session, _ = alices_session(client)
    refused = client.post(f"/api/claude/sessions/{session}/interrupt", headers=BOB)
    assert_not_found(refused, "session-id")
