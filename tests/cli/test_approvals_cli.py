"""Tool approvals on /api/claude with the real CLI: the stream asks, an HTTP POST answers."""


import pytest
import requests

from tests.support.cli_approvals import answer, stream_turn, workspace, write_turn
from tests.support.live_cli import AUTH, serve_worker_class, start_server
from tests.support.server import GatewayServer

OTHER_KEY = "another-test-key"


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def server(request, standin, tmp_path_factory):
    yield from serve_worker_class(request, standin, tmp_path_factory, "approvals",
                                  API_KEYS=OTHER_KEY)


@pytest.fixture(scope="module")
def twin(server):
    """A second server sharing the first one's STATE_DIR: another worker, as far as state goes."""
    other = GatewayServer({}, workdir=server.workdir, env=server.env)
    other.start()
    yield other
    other.stop()


def test_allowed_write_runs_and_the_question_is_in_the_stream(server, standin):
    target = workspace(server) / "allowed.txt"
    seen = []

    def allow(event):
        seen.append(event)
        listed = requests.get(server.url + "/api/claude/permissions", headers=AUTH).json()
        assert [p["request_id"] for p in listed["data"]] == [event["request_id"]]
        assert answer(server, event["request_id"], behavior="allow").status_code == 200

    events = stream_turn(server, write_turn(standin, target), allow)
    assert [e["tool_name"] for e in seen] == ["Write"]
    assert seen[0]["input"]["file_path"] == "/workspace/approve/allowed.txt"
    assert seen[0]["session_id"] == events[-1]["session_id"]
    assert target.read_text() == "from claude"
    assert events[-1]["type"] == "result" and events[-1]["result"] == "Finished."
    assert requests.get(server.url + "/api/claude/permissions", headers=AUTH).json()["data"] == []


def test_denied_write_does_not_run_and_claude_hears_why(server, standin):
    target = workspace(server) / "denied.txt"
    events = stream_turn(server, write_turn(standin, target), lambda event: answer(
        server, event["request_id"], behavior="deny", message="not in this folder"))
    assert not target.exists()
    results = [block for e in events if e["type"] == "user"
               for block in e["message"]["content"] if block.get("type") == "tool_result"]
    assert results[0]["is_error"] and "not in this folder" in str(results[0]["content"])
    assert events[-1]["result"] == "Finished."


def test_updated_input_is_what_runs(server, standin):
    target = workspace(server) / "updated.txt"

    def change(event):
        changed = {**event["input"], "content": "changed by the reviewer"}
        assert answer(server, event["request_id"], behavior="allow",
                      updated_input=changed).status_code == 200

    stream_turn(server, write_turn(standin, target), change)
    assert target.read_text() == "changed by the reviewer"


def test_an_answer_posted_to_another_worker_reaches_the_turn(server, twin, standin):
    target = workspace(server) / "twin.txt"
    stream_turn(server, write_turn(standin, target), lambda event: answer(
        twin, event["request_id"], behavior="allow"))
    assert target.read_text() == "from claude"


def test_only_the_owning_key_may_answer_and_only_once(server, standin):
    target = workspace(server) / "owned.txt"
    codes = []

    def try_others(event):
        request_id = event["request_id"]
        codes.append(answer(server, request_id, key=OTHER_KEY, behavior="allow").status_code)
        others = requests.get(server.url + "/api/claude/permissions",
                              headers={"Authorization": f"Bearer {OTHER_KEY}"}).json()
        codes.append(len(others["data"]))
        codes.append(answer(server, request_id, behavior="deny").status_code)
        codes.append(answer(server, request_id, behavior="allow").status_code)
        codes.append(answer(server, "perm_unknown", behavior="allow").status_code)

    stream_turn(server, write_turn(standin, target), try_others)
    assert codes == [404, 0, 200, 409, 404]
    assert not target.exists()


def test_bad_answers_are_400(server):
    for body in ({"behavior": "maybe"}, {}, {"behavior": "allow", "updated_input": "x"},
                 {"behavior": "allow", "extra": 1}):
        response = answer(server, "perm_x", **body)
        assert response.status_code == 400, body
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_unanswered_question_is_denied_after_the_timeout(standin, tmp_path_factory):
    quick = start_server(standin, tmp_path_factory.mktemp("approvals-timeout"),
                         APPROVAL_TIMEOUT_MS="1500")
    try:
        target = workspace(quick) / "late.txt"
        events = stream_turn(quick, write_turn(standin, target), lambda event: None)
        assert not target.exists()
        results = [block for e in events if e["type"] == "user"
                   for block in e["message"]["content"] if block.get("type") == "tool_result"]
        assert "within 1.5 s" in str(results[0]["content"])
        assert events[-1]["result"] == "Finished."
    finally:
        quick.stop()


def test_approvals_can_be_turned_off_by_the_operator(standin, tmp_path_factory):
    strict = start_server(standin, tmp_path_factory.mktemp("approvals-off"), APPROVALS="off")
    try:
        response = requests.post(strict.url + "/api/claude", headers=AUTH, json={
            "prompt": "hi", "approvals": True})
        assert response.status_code == 403
        assert response.json()["error"]["param"] == "approvals"
    finally:
        strict.stop()
