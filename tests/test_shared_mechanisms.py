"""The seam's mechanisms, one table run against each implementation: session locks and
signals between workers and runs' event logs, on files (one host) and on a real Redis (many
hosts); the host registry on Redis."""

import subprocess
import threading

import pytest

from app.claude.interrupts import InterruptBox
from app.errors import Conflict
from app.runs.log import FileRunLog, Frame, RedisRunLog, RunMeta
from app.shared import redis_state
from app.shared.file_locks import FileSessionLocks
from app.shared.redis_state import Host, HostRegistry, RedisSessionLocks, RedisSignals

SESSION = "3f0c4a5e-1111-4222-8333-444455556666"


@pytest.fixture(params=["files", "redis"])
def locks(request, tmp_path):
    if request.param == "files":
        return FileSessionLocks(tmp_path / "locks")
    url = request.getfixturevalue("redis_url")
    return RedisSessionLocks(redis_state.connect(url))


@pytest.fixture(params=["files", "redis"])
def signals(request, tmp_path):
    if request.param == "files":
        return lambda kind: InterruptBox(tmp_path / kind)
    client = redis_state.connect(request.getfixturevalue("redis_url"))
    return lambda kind: RedisSignals(client, kind)


def test_a_session_runs_one_turn_at_a_time(locks):
    held = locks.lock(SESSION, 0)
    assert locks.is_running(SESSION)
    with pytest.raises(Conflict) as refused:
        locks.lock(SESSION, 0)
    assert refused.value.code == "session_busy"
    held.release()
    held.release()  # idempotent
    assert not locks.is_running(SESSION)
    locks.lock(SESSION, 0).release()


def test_a_waiting_turn_takes_the_session_once_it_is_free(locks):
    held = locks.lock(SESSION, 0)
    taken = threading.Event()

    def wait_for_it():
        locks.lock(SESSION, 10).release()
        taken.set()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert not taken.wait(0.3)  # still held
    held.release()
    assert taken.wait(10)
    waiter.join()


def test_signals_reach_whoever_reads_them_until_cleared(signals):
    interrupts, handovers = signals("interrupts"), signals("handovers")
    interrupts.request(SESSION)
    assert interrupts.pending() == [SESSION] and handovers.pending() == []
    assert interrupts.pending() == [SESSION]  # read by every worker until one acts
    interrupts.clear(SESSION)
    assert interrupts.pending() == []


def test_a_lock_of_a_host_that_died_frees_after_its_lease(redis_url, monkeypatch):
    monkeypatch.setattr(redis_state, "LEASE_SECONDS", 0.5)
    dead = RedisSessionLocks(redis_state.connect(redis_url))
    dead.lock(SESSION, 0)  # never released, never renewed (its keeper waits 10 s)
    alive = RedisSessionLocks(redis_state.connect(redis_url))
    alive.lock(SESSION, 5).release()  # taken once the lease ran out


def test_hosts_that_beat_are_alive_and_found_by_id(redis_url):
    client = redis_state.connect(redis_url)
    one = HostRegistry(client, Host.at("http://10.0.0.1:3000"))
    two = HostRegistry(client, Host.at("http://10.0.0.2:3000"))
    one.beat()
    assert [h.url for h in two.alive()] == ["http://10.0.0.1:3000"]
    two.beat()
    assert {h.url for h in one.alive()} == {"http://10.0.0.1:3000", "http://10.0.0.2:3000"}
    assert one.find(two.me.id).url == "http://10.0.0.2:3000"
    assert one.find("no-such-host") is None


def test_without_redis_the_answer_is_a_503_not_a_guess():
    client = redis_state.connect("redis://127.0.0.1:9/0")  # nothing listens on port 9
    with pytest.raises(redis_state.RedisUnavailable):
        RedisSessionLocks(client).lock(SESSION, 0)
    with pytest.raises(redis_state.RedisUnavailable):
        HostRegistry(client, Host.at("http://h:1")).alive()


# --- runs' event logs ----------------------------------------------------------------------

@pytest.fixture(params=["files", "redis"])
def run_log(request, tmp_path):
    if request.param == "files":
        return FileRunLog(tmp_path / "runs")
    return RedisRunLog(redis_state.connect(request.getfixturevalue("redis_url")), 60)


def test_a_follower_gets_every_event_once_then_the_end(run_log):
    meta = RunMeta("run_" + "a" * 32, "alice", "claude", status="running")
    run_log.open(meta)
    run_log.append(meta.id, [Frame(1, None, '{"n": 1}')])
    # frames that came together are written together, whatever their data holds
    run_log.append(meta.id, [Frame(2, None, '{"n": 2}\t'), Frame(3, None, 'two\nlines\r')])
    got: list[Frame] = []

    def follow():
        for batch in run_log.follow(meta.id, 1, keepalive=0.2):
            got.extend(batch or [])

    reader = threading.Thread(target=follow)
    reader.start()
    run_log.append(meta.id, [Frame(4, "done", '{"n": 4}')])
    meta.status = "completed"
    run_log.save(meta)
    reader.join(10)
    assert not reader.is_alive(), "the follower did not see the run end"
    assert [(f.seq, f.event, f.data) for f in got] == [
        (2, None, '{"n": 2}\t'), (3, None, 'two\nlines\r'), (4, "done", '{"n": 4}')]
    assert [m.id for m in run_log.runs_of("alice")] == [meta.id] and run_log.runs_of("bob") == []


def test_a_deleted_run_is_gone(run_log):
    meta = RunMeta("run_" + "b" * 32, "alice", "claude", status="completed")
    run_log.open(meta)
    run_log.delete(meta.id)
    assert run_log.meta(meta.id) is None and run_log.runs_of("alice") == []
    assert list(run_log.follow(meta.id, 0, keepalive=0.1)) == []


def test_a_run_whose_worker_died_ends_failed(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    log = FileRunLog(tmp_path / "runs")
    meta = RunMeta("run_" + "c" * 32, "alice", "claude", status="running", worker=gone.pid)
    log.open(meta)
    log.prune(3600)
    ended = log.meta(meta.id)
    assert ended.status == "failed" and "stopped" in ended.result["error"]
