"""A permission question that nobody will answer, with the real CLI: the client leaves, or
the session is interrupted, while the turn waits. The question is denied (and stays
settled), the tool does not run, and no Claude Code process is left behind."""

import json

import pytest
import requests

from tests.support.cli_approvals import answer, stream_turn, workspace, write_turn
from tests.support.live_cli import AUTH, serve_worker_class
from tests.support.waiting import wait_until

SETTLE_SECONDS = 30  # a gone client is noticed at a keep-alive write (every 1 s)


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def server(request, standin, tmp_path_factory):
    """No warm process and no idle one: once a turn ends, nothing may be left running."""
    yield from serve_worker_class(request, standin, tmp_path_factory, "approval-disconnect",
                                  WARM_POOL_SIZE="0", LIVE_IDLE_MS="0")


def pending(server) -> list:
    response = requests.get(server.url + "/api/claude/permissions", headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def processes(server) -> dict:
    return requests.get(server.url + "/health", timeout=10).json()["processes"]


def no_process_left(server) -> bool:
    counts = processes(server)
    return counts["running"] == counts["idle"] == counts["warm"] == 0


def test_a_client_leaving_while_a_question_waits_denies_it_and_ends_the_turn(server, standin):
    target = workspace(server) / "left.txt"
    body = write_turn(standin, target)
    question = None
    with requests.Session() as client:
        response = client.post(server.url + "/api/claude", json=body, headers=AUTH,
                               stream=True, timeout=120)
        assert response.status_code == 200, response.text
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "permission_request":
                    question = event
                    break
        assert question is not None, "the stream ended without a permission_request"
        assert [p["request_id"] for p in pending(server)] == [question["request_id"]]
        assert processes(server)["running"] == 1  # the CLI waits for the answer
        response.close()  # the client goes away without answering
    assert wait_until(lambda: pending(server) == [], seconds=SETTLE_SECONDS), pending(server)
    assert wait_until(lambda: no_process_left(server), seconds=SETTLE_SECONDS), \
        processes(server)
    assert not target.exists()
    late = answer(server, question["request_id"], behavior="allow")
    assert late.status_code == 409, late.text
    assert late.json()["error"]["code"] == "permission_request_settled"
    assert not target.exists()


def test_an_interrupt_ends_a_turn_that_waits_on_a_question(server, standin):
    target = workspace(server) / "interrupted.txt"
    asked, interrupts = [], []

    def interrupt(event):
        asked.append(event)
        assert [p["request_id"] for p in pending(server)] == [event["request_id"]]
        interrupts.append(requests.post(
            f"{server.url}/api/claude/sessions/{event['session_id']}/interrupt",
            headers=AUTH, timeout=10))

    events = stream_turn(server, write_turn(standin, target), interrupt)
    assert [e["tool_name"] for e in asked] == ["Write"]
    assert [r.status_code for r in interrupts] == [202], [r.text for r in interrupts]
    assert events[-1]["type"] == "result", events[-1]
    assert events[-1]["session_id"] == asked[0]["session_id"]
    assert not target.exists()
    assert pending(server) == []
    assert wait_until(lambda: no_process_left(server), seconds=SETTLE_SECONDS), \
        processes(server)
    late = answer(server, asked[0]["request_id"], behavior="allow")
    assert late.status_code == 409, late.text
