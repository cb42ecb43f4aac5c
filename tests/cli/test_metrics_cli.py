"""/metrics behind a real gunicorn with two workers and the real CLI: every worker's counts add
up in any scrape, a SIGKILLed worker's counts stay and nothing counts twice, a previous run's
samples are gone at start-up, and approvals, first tokens and processes are counted."""

import os
import signal
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from app.shared.keys import operator_key
from tests.support.cli_approvals import answer, stream_turn, workspace, write_turn
from tests.support.live_cli import AUTH, KEY, start_server
from tests.support.prometheus import parse, value
from tests.support.waiting import wait_until

TURN_ROUTE = {"endpoint": "/api/claude", "method": "POST", "status": "200"}
MOST_TURNS = 16  # sent one by one until both workers have served some
STALE_COUNT = 1000.0


def leave_stale_samples(folder: Path) -> None:
    """What a previous run of the server left: its workers' sample files."""
    folder.mkdir(parents=True)
    stale = MmapedDict(str(folder / "counter_999999.db"))
    stale.write_value(mmap_key("claude_gateway_requests", "claude_gateway_requests_total",
                               list(TURN_ROUTE), list(TURN_ROUTE.values()), "old"),
                      STALE_COUNT, 0.0)
    stale.close()


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def server(request, standin, tmp_path_factory):
    home = tmp_path_factory.mktemp(f"metrics-{request.param}")
    leave_stale_samples(home / "state" / "metrics")
    gateway = start_server(standin, home, WEB_CONCURRENCY="2",
                           GUNICORN_WORKER_CLASS=request.param)
    yield gateway
    gateway.stop()


def scrape(server) -> dict:
    response = requests.get(server.url + "/metrics", headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    return parse(response.text)


def workers(server) -> set[int]:
    """The gunicorn master's children: its workers."""
    master = server.process.pid
    return {int(pid) for pid in
            Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def worker_of(server, request_id: str) -> int:
    """The pid of the worker that logged the request (the log line's fourth field)."""
    def line():
        return next((text for text in server.log.read_text().splitlines()
                     if f"request_id={request_id}" in text), None)
    assert wait_until(lambda: line() is not None, seconds=10)
    return int(line().split()[3])


def turn(server, number: int) -> tuple[dict, int]:
    """One whole /api/claude turn: its result and the worker that ran it."""
    request_id = f"metrics-turn-{os.getpid()}-{number}"
    response = requests.post(server.url + "/api/claude", timeout=120,
                             json={"prompt": f"Say ok {number}", "stream": False},
                             headers={**AUTH, "X-Request-Id": request_id})
    assert response.status_code == 200, response.text
    return response.json(), worker_of(server, request_id)


def spent(results: list[dict]) -> tuple[int, int]:
    """Input tokens (cache reads and writes included) and output tokens, as the CLI reported."""
    inputs = sum(r["usage"].get(k) or 0 for r in results for k in
                 ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
    return inputs, sum(r["usage"].get("output_tokens") or 0 for r in results)


def counted(samples: dict) -> tuple:
    """What the test checks: turn requests, successful turns, tokens in and out."""
    key = operator_key(KEY).name
    return (value(samples, "claude_gateway_requests_total", **TURN_ROUTE),
            value(samples, "claude_gateway_turns_total", outcome="success"),
            value(samples, "claude_gateway_tokens_total", key=key, direction="input"),
            value(samples, "claude_gateway_tokens_total", key=key, direction="output"))


def plus(base: tuple, results: list[dict]) -> tuple:
    """The counts `base` grows to with these turns."""
    return tuple(a + b for a, b in zip(base, (len(results), len(results), *spent(results))))


def test_counts_add_up_across_workers_and_outlive_a_killed_one(server):
    base = counted(scrape(server))
    assert base[0] < STALE_COUNT  # the previous run's samples were emptied at start-up
    results, served = [], {}
    for number in range(MOST_TURNS):
        result, pid = turn(server, number)
        results.append(result)
        served[pid] = served.get(pid, 0) + 1
        if len(served) == 2 and len(results) >= 4:
            break
    assert len(served) == 2, f"{MOST_TURNS} turns all landed on one worker: {served}"
    assert spent(results)[0] > 0 and spent(results)[1] > 0
    for _ in range(6):  # whichever worker answers the scrape
        assert counted(scrape(server)) == plus(base, results)

    victim = max(served, key=served.get)
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: victim not in workers(server) and len(workers(server)) == 2,
                      seconds=30)
    for _ in range(6):  # whichever worker answers, the dead one's counts are there, once
        assert counted(scrape(server)) == plus(base, results)
    for number in range(MOST_TURNS, MOST_TURNS + 2):
        results.append(turn(server, number)[0])
    assert counted(scrape(server)) == plus(base, results)


def test_approvals_count_by_outcome_in_the_worker_holding_the_question(server, standin):
    before = scrape(server)
    for behavior, name in (("allow", "allowed.txt"), ("deny", "denied.txt")):
        target = workspace(server) / name
        stream_turn(server, write_turn(standin, target), lambda event, b=behavior: answer(
            server, event["request_id"], behavior=b))
    after = scrape(server)
    for outcome in ("allowed", "denied"):
        assert value(after, "claude_gateway_approvals_total", outcome=outcome) == \
            value(before, "claude_gateway_approvals_total", outcome=outcome) + 1


def test_a_stream_records_its_first_token_and_processes_match_health(server):
    first = ("claude_gateway_time_to_first_token_seconds_count", {"endpoint": "/api/claude"})
    before = value(scrape(server), first[0], **first[1])
    response = requests.post(server.url + "/api/claude", json={"prompt": "Say ok"},
                             headers=AUTH, timeout=120)
    assert response.status_code == 200 and '"type":"result"' in response.text.replace(" ", "")
    assert wait_until(lambda: value(scrape(server), first[0], **first[1]) == before + 1,
                      seconds=10)

    def same() -> bool:
        health = requests.get(server.url + "/health", timeout=30).json()["processes"]
        samples = scrape(server)
        gauges = {state: value(samples, "claude_gateway_processes", state=state)
                  for state in ("running", "idle", "warm")}
        gauges["queued"] = value(samples, "claude_gateway_queue_length")
        gauges["cap"] = value(samples, "claude_gateway_processes_max")
        return gauges == health and health["idle"] + health["warm"] >= 1
    assert wait_until(same, seconds=20)
