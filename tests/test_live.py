"""Live processes with the fake CLI: warm starts, conversations that stay loaded, the queue,
interrupts. Two apps on one STATE_DIR stand for two gunicorn workers."""

import os
import threading
from pathlib import Path

from app.claude import pool
from tests.support.fake_cli import FAKE_CLAUDE
from tests.support.native import LIVE, ask, open_stream, processes
from tests.support.streams import sse_events
from tests.support.waiting import process_gone, wait_until


def fake_children() -> set[int]:
    """Fake CLI processes this test process started, one per process group (a launcher
    shim such as pyenv's may briefly fork copies of itself with the same command line)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        leader = int(stat[2])  # each child runs in its own group, led by the pid we started
        if str(FAKE_CLAUDE).encode() in cmdline and stat[0] not in ("Z", "X") \
                and _parent(leader) == os.getpid():
            found.add(leader)
    return found


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


# --- warm start ----------------------------------------------------------------------------

def test_a_new_conversation_takes_the_warm_process_and_the_pool_refills(make_app, record):
    before = fake_children()
    client = make_app(WARM_POOL_SIZE="1").test_client()
    assert wait_until(lambda: processes(client)["warm"] == 1, seconds=10)
    (warm,) = fake_children() - before
    assert [c["subtype"] for c in record("controls") if c["pid"] == warm] == \
        ["initialize", "get_context_usage"]  # the handshake, then the warm-up
    assert ask(client, "hi")["result"] == "echo: hi"
    assert record("turns")[-1]["pid"] == warm
    assert wait_until(lambda: len(fake_children() - before - {warm}) == 1, seconds=10)
    assert wait_until(lambda: processes(client)["warm"] == 1, seconds=10)


def test_a_warm_process_that_never_reports_ready_is_not_warm_and_is_given_up(
        make_app, record, monkeypatch):
    monkeypatch.setenv("FAKE_CLAUDE_MUTE_INITIALIZE", "1")
    monkeypatch.setattr(pool, "READY_SECONDS", 1.0)
    before = fake_children()
    client = make_app(WARM_POOL_SIZE="1").test_client()
    assert wait_until(lambda: len(fake_children() - before) == 1, seconds=10)
    (stuck,) = fake_children() - before
    assert processes(client)["warm"] == 0 and processes(client)["running"] == 1
    assert wait_until(lambda: process_gone(stuck), seconds=10)
    assert [c["subtype"] for c in record("controls") if c["pid"] == stuck] == ["initialize"]
    assert processes(client)["warm"] == 0


def test_a_conversation_with_other_options_starts_cold_and_leaves_the_warm_one(make_app,
                                                                                 record):
    before = fake_children()
    client = make_app(WARM_POOL_SIZE="1").test_client()
    assert wait_until(lambda: processes(client)["warm"] == 1, seconds=10)
    (warm,) = fake_children() - before
    assert ask(client, "hi", workspace="elsewhere")["result"] == "echo: hi"
    assert record("turns")[-1]["pid"] != warm
    assert wait_until(lambda: fake_children() - before == {warm}, seconds=5)


def test_with_idle_conversations_filling_the_cap_the_warm_pool_gives_up_the_oldest(
        make_app, record):
    client = make_app(WARM_POOL_SIZE="1", MAX_CLAUDE_PROCESSES="3", **LIVE).test_client()
    sessions = []
    for name in ("a", "b", "c"):  # each takes the warm process and stays idle after its turn
        assert wait_until(lambda: processes(client)["warm"] == 1, seconds=10)
        sessions.append(ask(client, name)["session_id"])
    pids = {turn["prompt"]: turn["pid"] for turn in record("turns")}
    # the cap holds three idle conversations; the pool gives up the oldest (a) for a warm one
    assert wait_until(lambda: processes(client)["warm"] == 1, seconds=10)
    assert processes(client)["idle"] == 2
    warm = (fake_children() - set(pids.values())).pop()
    assert ask(client, "d")["session_id"] not in sessions
    assert record("turns")[-1]["pid"] == warm  # the new conversation started warm
    assert wait_until(lambda: processes(client)["warm"] == 1, seconds=10)  # b went for it
    assert ask(client, "c again", **{"session-id": sessions[2]})["result"] == "echo: c again"
    assert record("turns")[-1]["pid"] == pids["c"]  # c stayed loaded
    ask(client, "a again", **{"session-id": sessions[0]})
    assert record("turns")[-1]["pid"] != pids["a"]  # a resumed cold


# --- conversations that stay loaded ----------------------------------------------------------

def test_the_next_turn_is_written_into_the_same_process(make_app, record):
    client = make_app(**LIVE).test_client()
    first = ask(client, "one")
    second = ask(client, "two", **{"session-id": first["session_id"]})
    assert second["result"] == "echo: two" and second["session_id"] == first["session_id"]
    turns = record("turns")
    assert [t["pid"] for t in turns] == [turns[0]["pid"]] * 2
    assert [t["turn"] for t in turns] == [1, 2]
    assert processes(client)["idle"] == 1


def test_changed_options_close_the_live_process_and_resume_cold(make_app, record):
    client = make_app(**LIVE).test_client()
    first = ask(client, "one")
    ask(client, "two", **{"session-id": first["session_id"], "allowed-tools": ["Read"]})
    old, new = record("turns")
    assert new["pid"] != old["pid"] and process_gone(old["pid"])
    assert f"--resume={first['session_id']}" in new["argv"]
    assert "--allowedTools=Read" in new["argv"]


def test_a_turn_on_another_worker_forces_a_cold_resume(make_app, record):
    worker_a, worker_b = (make_app(**LIVE).test_client() for _ in range(2))
    first = ask(worker_a, "one")
    session = {"session-id": first["session_id"]}
    ask(worker_b, "two", **session)
    third = ask(worker_a, "three", **session)
    a1, b2, a3 = record("turns")
    assert third["result"] == "echo: three"
    assert len({a1["pid"], b2["pid"], a3["pid"]}) == 3  # a's idle process missed turn two
    assert process_gone(a1["pid"]) and f"--resume={first['session_id']}" in a3["argv"]


def test_an_idle_process_ends_after_live_idle_ms(make_app, record):
    client = make_app(LIVE_IDLE_MS="200").test_client()
    ask(client, "one")
    assert wait_until(lambda: process_gone(record("turns")[0]["pid"])
                      and processes(client)["idle"] == 0, seconds=10)


def test_with_live_idle_off_the_process_ends_with_its_turn(make_app, record):
    client = make_app(LIVE_IDLE_MS="0").test_client()
    ask(client, "one")
    assert wait_until(lambda: process_gone(record("turns")[0]["pid"]), seconds=5)


# --- interrupts and disconnects --------------------------------------------------------------

def test_interrupt_ends_the_stream_with_the_clis_result_and_the_session_resumes(make_app,
                                                                                record):
    client = make_app(**LIVE).test_client()
    response, events = open_stream(client, "fake:hang")
    session = next(events)["session_id"]
    answer = client.post(f"/api/claude/sessions/{session}/interrupt")
    assert answer.status_code == 202 and answer.get_json()["session_id"] == session
    rest = list(events)
    assert rest[-1]["type"] == "result" and rest[-1]["subtype"] == "error_during_execution"
    assert not rest[-1].get("synthetic")
    response.close()
    again = ask(client, "after", **{"session-id": session})
    assert again["result"] == "echo: after"
    interrupted, resumed = record("turns")
    # after an interrupt the CLI's memory and its file differ: the next turn resumes cold
    assert process_gone(interrupted["pid"]) and f"--resume={session}" in resumed["argv"]


def test_interrupt_without_a_running_turn_is_409_and_other_keys_get_404(make_app):
    client = make_app(API_KEYS="key-a-0001,key-b-0002").test_client()
    mine, theirs = ({"x-api-key": key} for key in ("key-a-0001", "key-b-0002"))
    session = ask(client, "one", headers=mine)["session_id"]
    url = f"/api/claude/sessions/{session}/interrupt"
    assert client.post(url, headers=mine).status_code == 409
    refused = client.post(url, headers=theirs)
    assert refused.status_code == 404
    assert refused.get_json()["error"]["code"] == "session_not_found"
    assert client.post("/api/claude/sessions/not-a-uuid/interrupt",
                       headers=mine).status_code == 400


def test_interrupt_reaches_a_turn_running_in_another_worker(make_app):
    worker_a, worker_b = make_app().test_client(), make_app().test_client()
    response, events = open_stream(worker_a, "fake:hang")
    session = next(events)["session_id"]
    assert worker_b.post(f"/api/claude/sessions/{session}/interrupt").status_code == 202
    assert list(events)[-1]["subtype"] == "error_during_execution"
    response.close()


def test_a_client_leaving_a_stream_interrupts_the_turn_before_the_process_ends(make_app,
                                                                              record):
    client = make_app(**LIVE).test_client()
    response, events = open_stream(client, "fake:hang")
    session = next(events)["session_id"]
    response.close()
    pid = record("turns")[0]["pid"]
    assert [c["subtype"] for c in record("controls") if c["pid"] == pid] == ["interrupt"]
    assert process_gone(pid)
    assert ask(client, "back", **{"session-id": session})["result"] == "echo: back"


# --- the budget and its queue ------------------------------------------------------------------

def test_the_queue_serves_waiting_requests_in_order(make_app, record):
    client = make_app(MAX_CLAUDE_PROCESSES="1").test_client()
    response, events = open_stream(client, "fake:hang")
    holder = next(events)["session_id"]
    results: dict[str, dict] = {}
    threads = []
    for number, name in enumerate(("first", "second", "third"), start=1):
        thread = threading.Thread(target=lambda n=name: results.update({n: ask(client, n)}))
        thread.start()
        threads.append(thread)
        assert wait_until(lambda n=number: processes(client)["queued"] == n, seconds=10)
    client.post(f"/api/claude/sessions/{holder}/interrupt")
    list(events)
    response.close()
    for thread in threads:
        thread.join(timeout=30)
    assert [t["prompt"] for t in record("turns")] == ["fake:hang", "first", "second", "third"]
    assert {name: r["result"] for name, r in results.items()} == {
        "first": "echo: first", "second": "echo: second", "third": "echo: third"}


def test_past_the_queue_timeout_requests_get_429_with_retry_after(make_app):
    client = make_app(MAX_CLAUDE_PROCESSES="1", QUEUE_TIMEOUT_MS="200").test_client()
    response, events = open_stream(client, "fake:hang")
    next(events)
    native = client.post("/api/claude", json={"prompt": "hi", "stream": False})
    chat = client.post("/v1/chat/completions", json={
        "model": "claude-code", "messages": [{"role": "user", "content": "hi"}]})
    for refused in (native, chat):
        assert refused.status_code == 429 and refused.headers["Retry-After"].isdigit()
        error = refused.get_json()["error"]
        assert error["code"] == "capacity_exceeded" and error["type"] == "rate_limit_error"
    response.close()


def test_with_a_full_queue_requests_get_429_at_once(make_app):
    client = make_app(MAX_CLAUDE_PROCESSES="1", QUEUE_MAX="0").test_client()
    response, events = open_stream(client, "fake:hang")
    next(events)
    refused = client.post("/api/claude", json={"prompt": "hi"})
    assert refused.status_code == 429
    assert "already wait" in refused.get_json()["error"]["message"]
    response.close()


def test_a_waiting_stream_gets_keep_alives_then_an_in_band_capacity_error(make_app):
    client = make_app(MAX_CLAUDE_PROCESSES="1", QUEUE_TIMEOUT_MS="1200",
                      KEEPALIVE_INTERVAL_MS="300").test_client()
    response, events = open_stream(client, "fake:hang")
    next(events)
    waiting = client.post("/api/claude", json={"prompt": "hi"})
    body = waiting.get_data(as_text=True)
    assert waiting.status_code == 200 and ": keep-alive" in body
    result = sse_events(body)[-1]
    assert result["type"] == "result" and result["subtype"] == "capacity_exceeded"
    response.close()


def test_an_idle_process_in_another_worker_is_evicted_for_a_waiting_request(make_app, record):
    worker_a = make_app(MAX_CLAUDE_PROCESSES="1", **LIVE).test_client()
    worker_b = make_app(MAX_CLAUDE_PROCESSES="1", **LIVE).test_client()
    ask(worker_a, "one")
    idle = record("turns")[0]["pid"]
    assert processes(worker_b)["idle"] == 1
    assert ask(worker_b, "two")["result"] == "echo: two"
    assert process_gone(idle)


def test_health_reports_processes_and_the_cap(make_app):
    client = make_app(MAX_CLAUDE_PROCESSES="3", **LIVE).test_client()
    ask(client, "one")
    assert processes(client) == {"running": 0, "idle": 1, "warm": 0, "queued": 0, "cap": 3}


def test_a_turn_that_ended_in_an_error_does_not_keep_its_process(make_app, record):
    client = make_app(**LIVE).test_client()
    response = client.post("/api/claude", json={"prompt": "fake:error-result", "stream": False})
    assert response.get_json()["is_error"] is True
    assert wait_until(lambda: process_gone(record("turns")[0]["pid"]), seconds=5)
    assert processes(client)["idle"] == 0


def test_an_interrupt_reaches_a_turn_still_waiting_in_the_queue(make_app):
    client = make_app(MAX_CLAUDE_PROCESSES="1", KEEPALIVE_INTERVAL_MS="200").test_client()
    waiting_session = ask(client, "one")["session_id"]
    response, events = open_stream(client, "fake:hang")
    next(events)
    waiting, waiting_events = open_stream(client, "two", **{"session-id": waiting_session})
    url = f"/api/claude/sessions/{waiting_session}/interrupt"
    assert client.post(url).status_code == 202
    result = [e for e in waiting_events if isinstance(e, dict)][-1]
    assert result["type"] == "result" and result["subtype"] == "interrupted"
    waiting.close()
    response.close()
