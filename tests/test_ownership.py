"""A session belongs to the key that started it: every other key gets 404 on every path."""

import pytest

from app.claude.approvals import Approval
from tests.support.postgres import both_databases

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


# --- another key's ids answer exactly like unknown ones -----------------------------------

UNKNOWN_SESSION = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def managed(make_app):
    """A server with managed keys only (own workspaces, no shared ones)."""
    app = make_app(API_KEY="operator-key-0000")
    store = app.extensions["gateway"].keys
    return app, {name: {"x-api-key": store.create(name, ["chat", "sessions", "approvals"])}
                 for name in ("alice", "bob")}


def alices_ids(client, alice) -> dict:
    """Alice's session (in her own workspace "secret"), response and open question."""
    turn = client.post("/api/claude", headers=alice, json={"prompt": "hi", "stream": False,
                                                           "workspace": "secret"})
    session = turn.get_json()["session_id"]
    response = client.post("/v1/responses", headers=alice,
                           json={"model": "claude-code", "input": "hi"}).get_json()["id"]
    gateway = client.application.extensions["gateway"]
    owner = gateway.keys.find(alice["x-api-key"]).owner
    question = Approval.asked({"tool_name": "Write", "input": {}}, owner, session, 60)
    gateway.desk.book.add(question)
    return {"session": session, "response": response, "approval": question.id}


ROUTES = {
    "resume": lambda c, h, i: c.post("/api/claude", headers=h, json={
        "prompt": "hi", "session-id": i["session"]}),
    "resume elsewhere": lambda c, h, i: c.post("/api/claude", headers=h, json={
        "prompt": "hi", "session-id": i["session"], "workspace": "other"}),
    "interrupt": lambda c, h, i: c.post(f"/api/claude/sessions/{i['session']}/interrupt",
                                        headers=h),
    "show": lambda c, h, i: c.get(f"/api/claude/sessions/{i['session']}", headers=h),
    "fork": lambda c, h, i: c.post(f"/api/claude/sessions/{i['session']}/fork", headers=h),
    "delete": lambda c, h, i: c.delete(f"/api/claude/sessions/{i['session']}", headers=h),
    "chat line": lambda c, h, i: chat(c, h, [{"role": "user", "content":
                                              f"session-id={i['session']}\n\nhi"}]),
    "chat header": lambda c, h, i: chat(c, h, [{"role": "user", "content": "hi"}],
                                        {"X-Session-Id": i["session"]}),
    "messages line": lambda c, h, i: c.post("/v1/messages", headers=h, json={
        "model": "claude-code", "max_tokens": 10, "messages": [
            {"role": "user", "content": f"session-id={i['session']}\n\nhi"}]}),
    "previous response": lambda c, h, i: c.post("/v1/responses", headers=h, json={
        "model": "claude-code", "input": "hi", "previous_response_id": i["response"]}),
    "answer approval": lambda c, h, i: c.post(f"/api/claude/permissions/{i['approval']}",
                                              headers=h, json={"behavior": "allow"}),
}


@pytest.mark.parametrize("route", ROUTES)
@both_databases
def test_another_keys_ids_answer_like_unknown_ones(managed, route):
    app, keys = managed
    client = app.test_client()
    theirs = alices_ids(client, keys["alice"])
    unknown = {"session": UNKNOWN_SESSION, "response": "resp_" + "0" * 32,
               "approval": "perm_" + "0" * 32}
    answers = []
    for ids in (theirs, unknown):
        response = ROUTES[route](client, keys["bob"], ids)
        body = response.get_data(as_text=True)
        for name in ("session", "response", "approval"):
            body = body.replace(ids[name], f"<{name}>")
        answers.append((response.status_code, body))
    assert answers[0] == answers[1]
    assert answers[0][0] in (404, 409), answers[0]


@both_databases
def test_a_key_made_again_under_a_revoked_name_sees_nothing_of_the_old_one(managed):
    app, keys = managed
    client = app.test_client()
    store = app.extensions["gateway"].keys
    old = alices_ids(client, keys["alice"])
    store.revoke("alice")
    again = {"x-api-key": store.create("alice", ["chat", "sessions"])}
    assert client.get("/api/claude/sessions", headers=again).get_json()["data"] == []
    assert client.get(f"/api/claude/sessions/{old['session']}",
                      headers=again).status_code == 404
    assert client.get("/api/usage", headers=again).get_json()["today"]["turns"] == 0
