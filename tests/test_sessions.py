"""The sessions API with the fake CLI: bad input, ownership, titles and costs, lazy forks,
deletes; and reading a session file in the real CLI's format."""

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from app.claude import transcript_steps, transcripts
from app.shared.keys import digest
from tests.support.chat import answer_of, chat, session_of, user
from tests.support.native import LIVE, ask, open_stream, processes
from tests.support.postgres import both_databases
from tests.support.streams import result_json
from tests.support.waiting import wait_until

KEYS = {"API_KEYS": "key-alice-0001,key-bob-0002"}
ALICE, BOB = {"x-api-key": "key-alice-0001"}, {"x-api-key": "key-bob-0002"}
UNKNOWN = "3f0c4a5e-1111-4222-8333-444455556666"
SESSIONS = "/api/claude/sessions"


@pytest.fixture
def client(make_app):
    return make_app(**KEYS).test_client()


def start(client, prompt="hi", headers=ALICE, **fields) -> str:
    """A new session of `headers`' key, after one turn; its id."""
    return ask(client, prompt, headers=headers, **fields)["session_id"]


def listing(client, headers=ALICE, query="") -> dict:
    response = client.get(SESSIONS + query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def session_file(client, session_id: str, key: str = ALICE["x-api-key"]) -> Path | None:
    """The CLI's file of a session, in the config folder of the key that owns it."""
    folders = client.application.extensions["gateway"].folders
    return transcripts.find(session_id, folders.config(digest(key)))


def assert_error(response, status: int, param: str, code: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code


@pytest.mark.parametrize("query, param", [
    ("?limit=0", "limit"), ("?limit=101", "limit"), ("?limit=ten", "limit"),
    ("?limit=1.5", "limit"), ("?after=not-a-uuid", "after"), ("?order=asc", "order"),
])
def test_bad_list_parameters_are_400_naming_them(client, query, param):
    assert_error(client.get(SESSIONS + query, headers=ALICE), 400, param, "invalid_request")


@both_databases
def test_an_after_cursor_of_no_session_of_this_key_is_400(client):
    bobs = start(client, headers=BOB)
    for cursor in (UNKNOWN, bobs):
        response = client.get(f"{SESSIONS}?after={cursor}", headers=ALICE)
        assert_error(response, 400, "after", "invalid_cursor")


@pytest.mark.parametrize("method, path", [
    ("get", "/{}"), ("post", "/{}/fork"), ("delete", "/{}")])
def test_each_route_refuses_bad_unknown_and_other_keys_ids(client, method, path):
    alices = start(client)
    call = getattr(client, method)
    assert_error(call(SESSIONS + path.format("nope--version"), headers=ALICE), 400, "session-id")
    for session, key in ((UNKNOWN, ALICE), (alices, BOB)):
        assert_error(call(SESSIONS + path.format(session), headers=key), 404, "session-id",
                     "session_not_found")
    assert client.get(f"{SESSIONS}/{alices}", headers=ALICE).status_code == 200


@both_databases
def test_the_list_holds_titles_workspaces_turns_and_costs(client):
    long_line = "Refactor " + "the parser " * 12
    first = start(client, f"\n  {long_line}\nsecond line", workspace="demo")
    ask(client, "and again", headers=ALICE, **{"session-id": first})
    second = start(client, "Short one")
    body = listing(client)
    assert [s["id"] for s in body["data"]] == [second, first]
    newest, older = body["data"]
    assert newest["title"] == "Short one" and newest["workspace"] is None
    assert older["title"].startswith("Refactor the parser") and len(older["title"]) <= 80
    assert older["title"].endswith("…") and older["workspace"] == "demo"
    assert older["turns"] == 2 and older["total_cost_usd"] == pytest.approx(2 * 0.0123)
    assert older["created_at"] <= older["last_turn_at"] and older["object"] == "session"
    assert listing(client, BOB)["data"] == []


@both_databases
def test_a_regenerated_chat_turn_forks_with_the_conversations_title(client):
    first = chat(client, "Plan a trip", ALICE)
    history = [user("Plan a trip"), answer_of(first)]
    chat(client, [*history, user("to Rome")], ALICE)
    again = chat(client, [*history, user("to Oslo")], ALICE)  # the UI edited turn two
    fork = session_of(again)
    assert fork != session_of(first)
    titles = {s["id"]: s["title"] for s in listing(client)["data"]}
    assert titles == {session_of(first): "Plan a trip", fork: "Plan a trip"}


@both_databases
def test_pages_follow_the_after_cursor(client):
    ids = [start(client, f"session {n}") for n in range(3)][::-1]  # newest first
    first = listing(client, query="?limit=2")
    assert [s["id"] for s in first["data"]] == ids[:2] and first["has_more"] is True
    assert (first["first_id"], first["last_id"]) == (ids[0], ids[1])
    rest = listing(client, query=f"?limit=2&after={first['last_id']}")
    assert [s["id"] for s in rest["data"]] == ids[2:] and rest["has_more"] is False


@both_databases
def test_a_fork_first_runs_on_its_source_then_on_its_own_file(client):
    source = start(client, "remember this")
    made = client.post(f"{SESSIONS}/{source}/fork", headers=ALICE)
    assert made.status_code == 201
    fork = made.get_json()
    assert fork["id"] != source and fork["forked_from"] == source
    assert (fork["title"], fork["turns"], fork["total_cost_usd"]) == ("remember this", 1, 0)
    last = json.loads(session_file(client, source).read_text().splitlines()[-1])["uuid"]
    first = ask(client, "fake:argv", headers=ALICE, **{"session-id": fork["id"]})
    argv = result_json([first])["argv"]
    assert first["session_id"] == fork["id"]
    assert {f"--resume={source}", f"--resume-session-at={last}", "--fork-session",
            f"--session-id={fork['id']}"} <= set(argv)
    again = result_json([ask(client, "fake:argv", headers=ALICE, **{"session-id": fork["id"]})])
    assert f"--resume={fork['id']}" in again["argv"] and "--fork-session" not in again["argv"]
    assert listing(client)["data"][0]["turns"] == 3


@both_databases
def test_a_fork_of_a_fork_that_has_not_run_starts_where_it_does(client):
    source = start(client)
    fork = client.post(f"{SESSIONS}/{source}/fork", headers=ALICE).get_json()["id"]
    grandchild = client.post(f"{SESSIONS}/{fork}/fork", headers=ALICE).get_json()
    assert grandchild["forked_from"] == source
    argv = result_json([ask(client, "fake:argv", headers=ALICE,
                            **{"session-id": grandchild["id"]})])["argv"]
    assert f"--resume={source}" in argv and f"--session-id={grandchild['id']}" in argv


@both_databases
def test_delete_forgets_the_session_its_conversations_and_its_file(client):
    chat = client.post("/v1/chat/completions", headers=ALICE, json={
        "model": "claude-code", "messages": [{"role": "user", "content": "hi"}]})
    session = chat.headers["X-Session-Id"]
    assert session_file(client, session) is not None
    response = client.delete(f"{SESSIONS}/{session}", headers=ALICE)
    assert response.status_code == 200
    assert response.get_json() == {"id": session, "object": "session", "deleted": True}
    assert session_file(client, session) is None
    assert client.get(f"{SESSIONS}/{session}", headers=ALICE).status_code == 404
    assert listing(client)["data"] == []
    with client.application.extensions["gateway"].db.connect() as db:
        rows = db.execute(text("SELECT COUNT(*) FROM conversations WHERE session_id = :id"),
                          {"id": session}).scalar_one()
    assert rows == 0


def test_delete_is_409_while_a_turn_runs(make_app):
    client = make_app().test_client()
    session = start(client, headers=None)
    response, events = open_stream(client, "fake:hang", **{"session-id": session})
    next(events)
    refused = client.delete(f"{SESSIONS}/{session}")
    assert_error(refused, 409, "session-id", "session_busy")
    response.close()
    assert wait_until(lambda: client.delete(f"{SESSIONS}/{session}").status_code == 200, 10)


@both_databases
def test_delete_is_409_while_a_fork_still_starts_from_it(client):
    source = start(client)
    fork = client.post(f"{SESSIONS}/{source}/fork", headers=ALICE).get_json()["id"]
    refused = client.delete(f"{SESSIONS}/{source}", headers=ALICE)
    assert_error(refused, 409, "session-id", "session_has_forks")
    assert fork in refused.get_json()["error"]["message"]
    ask(client, "go", headers=ALICE, **{"session-id": fork})  # the fork has its own file now
    assert client.delete(f"{SESSIONS}/{source}", headers=ALICE).status_code == 200
    assert ask(client, "still here", headers=ALICE, **{"session-id": fork})["session_id"] == fork


def test_delete_stops_the_idle_process_here_at_once(make_app):
    client = make_app(**LIVE).test_client()
    session = start(client, headers=None)
    assert processes(client)["idle"] == 1
    assert client.delete(f"{SESSIONS}/{session}").status_code == 200
    assert processes(client)["idle"] == 0


def test_delete_stops_an_idle_process_in_another_worker(make_app):
    worker_a = make_app(**LIVE).test_client()
    worker_b = make_app(**LIVE).test_client()
    session = start(worker_a, headers=None)
    assert processes(worker_b)["idle"] == 1
    assert worker_b.delete(f"{SESSIONS}/{session}").status_code == 200
    assert wait_until(lambda: processes(worker_b)["idle"] == 0, seconds=5)


# The real CLI's session file, trimmed to the fields that matter: two prompts, a tool
# turn, an interrupted one, a subagent's side chain, lines it cannot read.
REAL_FORMAT = [
    {"type": "queue-operation", "operation": "enqueue", "sessionId": "s"},
    {"type": "user", "uuid": "u1", "promptId": "p1", "timestamp": "2026-12-02T07:40:29.705Z",
     "message": {"role": "user", "content": [{"type": "text", "text": "Run echo hi please"}]}},
    {"type": "attachment", "uuid": "x1", "attachment": {"type": "skill_listing"}},
    {"type": "assistant", "uuid": "a1", "message": {
        "role": "assistant", "content": [{"type": "text", "text": "Let me look."}]}},
    {"type": "assistant", "uuid": "a2", "message": {"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "echo hi"}}]}},
    {"type": "user", "uuid": "u2", "promptId": "p1", "toolUseResult": {}, "message": {
        "role": "user", "content": [{"tool_use_id": "t1", "type": "tool_result",
                                     "content": "hi"}]}},
    "not json at all {",
    {"type": "assistant", "uuid": "a3", "isSidechain": True, "message": {
        "role": "assistant", "content": [{"type": "text", "text": "a subagent's words"}]}},
    {"type": "assistant", "uuid": "a4", "message": {
        "role": "assistant", "content": [{"type": "text", "text": "It said hi."}]}},
    {"type": "last-prompt", "lastPrompt": "Run echo hi please", "leafUuid": "a4"},
    {"type": "user", "uuid": "u3", "promptId": "p2", "message": {
        "role": "user", "content": [{"type": "text", "text": "Wait for a while"}]}},
    {"type": "user", "uuid": "u4", "promptId": "p2", "message": {"role": "user", "content": [
        {"type": "text", "text": "[Request interrupted by user for tool use]"}]}},
    {"type": "assistant", "uuid": "a5", "message": {
        "model": "<synthetic>", "role": "assistant", "content": "No response requested."}},
    {"type": "user", "uuid": "u5", "message": {"role": "user", "content": "Look at this"}},
    {"type": "assistant", "uuid": "a6", "message": {"role": "assistant", "content": "A cat."}},
    [1, 2, 3],
]


def test_turns_are_read_tolerantly_from_a_session_file(client, tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line)
                              for line in REAL_FORMAT) + "\n")
    turns = transcripts.read_turns(path)
    assert [(t["prompt"], t["reply"]) for t in turns] == [
        ("Run echo hi please", "Let me look.\n\nIt said hi."),
        ("Wait for a while", ""),
        ("Look at this", "A cat."),
    ]
    assert turns[0]["created_at"] == 1796197229 and turns[2]["created_at"] is None
    assert turns[0]["steps"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "echo hi"}},
        {"type": "tool_result", "tool_use_id": "t1", "content": "hi", "is_error": False},
        {"type": "text", "text": "It said hi."}]
    assert [t["prompt"] for t in transcripts.read_turns(path, until="u3")] == [
        "Run echo hi please", "Wait for a while"]
    assert transcripts.last_message(path) == "a6"


def test_thinking_and_failed_tool_results_are_steps_too():
    assert transcript_steps.assistant_steps([
        {"type": "thinking", "thinking": "hm", "signature": "x"}, {"type": "image"}]) == [
        {"type": "thinking", "thinking": "hm"}]
    assert transcript_steps.result_steps([
        {"type": "tool_result", "tool_use_id": "t", "is_error": True,
         "content": [{"type": "text", "text": "no such file"}, {"type": "image"}]}]) == [
        {"type": "tool_result", "tool_use_id": "t", "content": "no such file\n[image]",
         "is_error": True}]
