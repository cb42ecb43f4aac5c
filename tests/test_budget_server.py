"""The host's process budget, live processes and interrupts, against real gunicorn servers."""

import json
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.support.fake_cli import FAKE_CLAUDE
from tests.support.streams import first_cli_event, sse_events
from tests.support.waiting import process_gone, wait_until

TIMEOUT = (5, 30)  # connect, read: no request of this module may hang the suite


# -- processes ------------------------------------------------------------------------------

def fake_groups(base: Path) -> set[int]:
    """Process groups of live fake claude processes whose working directory is under `base`.

    Groups, not pids: each claude child runs in a group of its own, and a launcher shim (pyenv's
    `python3` is a bash script) briefly forks copies of itself with the same command line.
    """
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{entry}/cwd")
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if str(FAKE_CLAUDE).encode() in cmdline and cwd.startswith(str(base)) \
                and stat[0] not in ("Z", "X"):
            found.add(int(stat[2]))  # field 5: the process group
    return found


def parent_of(pid: int) -> int:
    """The parent pid of a running process (field 4 of /proc/<pid>/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def records(folder: Path, name: str) -> list[dict]:
    """The JSON lines the fake CLI appended to one of its record files."""
    path = folder / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def interrupt_recorded(folder: Path, pid: int) -> bool:
    """Whether the fake CLI with this pid has received an interrupt control request."""
    return any(control["pid"] == pid and control["subtype"] == "interrupt"
               for control in records(folder, "controls.jsonl"))


def record_dir(tmp_path: Path) -> Path:
    """A fresh folder for the fake CLI's records."""
    folder = tmp_path / "record"
    folder.mkdir()
    return folder


# -- HTTP -----------------------------------------------------------------------------------

def open_stream(server, body: dict, headers: dict | None = None):
    """Start a streaming /api/claude request; return the response and its line iterator."""
    response = requests.post(server.url + "/api/claude", json=body, headers=headers,
                             stream=True, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response, response.iter_lines()


def next_event(lines) -> dict:
    """The next of the CLI's events of a stream being read."""
    return first_cli_event(lines)


def rest_of_stream(lines, seconds: float) -> list[dict]:
    """The stream's remaining events, read to its end or until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    events = []
    for line in lines:
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
        if time.monotonic() > deadline:
            break
    return events


def run_turn(server, prompt: str) -> tuple[list[dict], int]:
    """One whole streaming turn; its events and the gunicorn worker that ran it."""
    response = requests.post(server.url + "/api/claude", json={"prompt": prompt},
                             timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    assert events[1].get("subtype") == "init", f"the turn did not run: {events[-1]}"
    return events, parent_of(events[1]["fake_pid"])


def assert_capacity_error(response) -> None:
    """A 429 in the gateway's error shape, with a Retry-After header."""
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) > 0
    error = response.json()["error"]
    assert error["code"] == "capacity_exceeded" and error["type"] == "rate_limit_error"
    assert error["message"]


def hold_the_slot(server) -> tuple[requests.Response, int]:
    """Run a hanging stream whose process surely runs; return it and the process's pid."""
    response, lines = open_stream(server, {"prompt": "fake:hang"})
    return response, next_event(lines)["fake_pid"]


def let_go(holder: requests.Response, pid: int) -> None:
    """Leave the holding stream; its process must end once the server notices."""
    holder.close()
    assert wait_until(lambda: process_gone(pid), seconds=10)


# -- 1. the cap ----------------------------------------------------------------------------

def test_cap_holds_across_two_workers_under_50_requests(live_server, tmp_path):
    """50 simultaneous streams on 2 workers: never more than 3 processes, all answered."""
    server = live_server(MAX_CLAUDE_PROCESSES="3", WEB_CONCURRENCY="2", QUEUE_TIMEOUT_MS="60000")
    base = tmp_path / "ws"
    peak, done = [0], threading.Event()

    def sample() -> None:
        """Record the most fake processes seen at once, every ~20 ms."""
        while not done.is_set():
            peak[0] = max(peak[0], len(fake_groups(base)))
            done.wait(0.02)

    def ask(_: int) -> requests.Response:
        return requests.post(server.url + "/api/claude", json={"prompt": "fake:slow 0.3"},
                             timeout=(5, 90))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(ask, range(50)))
    finally:
        done.set()
        sampler.join(timeout=5)
    assert [r.status_code for r in responses] == [200] * 50
    for response in responses:
        result = sse_events(response.text)[-1]
        assert result["type"] == "result" and result["is_error"] is False, result
        assert result["result"] == "..."
    assert 1 <= peak[0] <= 3, f"{peak[0]} fake claude processes ran at once (cap 3)"


# -- 2. 429 --------------------------------------------------------------------------------

def test_a_request_that_waits_too_long_gets_429(live_server):
    """A queue wait past QUEUE_TIMEOUT_MS is a real 429 (it is shorter than a keep-alive)."""
    server = live_server(MAX_CLAUDE_PROCESSES="1", QUEUE_TIMEOUT_MS="300",
                         KEEPALIVE_INTERVAL_MS="1000")
    holder, pid = hold_the_slot(server)
    url = server.url
    assert_capacity_error(requests.post(url + "/api/claude",
                                        json={"prompt": "hi", "stream": False}, timeout=TIMEOUT))
    assert_capacity_error(requests.post(url + "/api/claude", json={"prompt": "hi"},
                                        timeout=TIMEOUT))
    chat = {"model": "claude-code", "stream": False,
            "messages": [{"role": "user", "content": "hi"}]}
    assert_capacity_error(requests.post(url + "/v1/chat/completions", json=chat,
                                        timeout=TIMEOUT))
    let_go(holder, pid)


def test_a_full_queue_gets_429_at_once(live_server):
    """With QUEUE_MAX requests already waiting (here 0), a request is refused without waiting."""
    server = live_server(MAX_CLAUDE_PROCESSES="1", QUEUE_MAX="0", QUEUE_TIMEOUT_MS="60000",
                         KEEPALIVE_INTERVAL_MS="1000")
    holder, pid = hold_the_slot(server)
    started = time.monotonic()
    response = requests.post(server.url + "/api/claude", json={"prompt": "hi", "stream": False},
                             timeout=TIMEOUT)
    assert_capacity_error(response)
    assert time.monotonic() - started < 3, "a full queue made the request wait"
    let_go(holder, pid)


# -- 3. eviction across workers ------------------------------------------------------------

def test_an_idle_process_in_another_worker_is_evicted_for_a_waiting_request(live_server):
    """The only slot is held by an idle process; a request in the other worker still runs."""
    server = live_server(MAX_CLAUDE_PROCESSES="1", LIVE_IDLE_MS="600000", WEB_CONCURRENCY="2",
                         QUEUE_TIMEOUT_MS="20000")
    events, idle_worker = run_turn(server, "fake:echo")
    idle_pid = events[1]["fake_pid"]
    for attempt in range(40):
        events, worker = run_turn(server, f"hello {attempt}")
        assert events[-1]["result"] == f"echo: hello {attempt}"
        assert process_gone(idle_pid), "the idle process still holds the only slot"
        if worker != idle_worker:
            break
        idle_pid = events[1]["fake_pid"]  # same worker: it was given up locally; try again
    else:
        raise AssertionError("40 requests all landed on the worker holding the idle process")
    health = requests.get(server.url + "/health", timeout=TIMEOUT).json()["processes"]
    assert health == {"running": 0, "idle": 1, "warm": 0, "queued": 0, "cap": 1}


# -- 4. SIGKILL of a worker ----------------------------------------------------------------

def test_sigkilled_worker_mid_stream_leaves_no_process(live_server):
    """The master ends the process group (CLI and its tool) of a worker killed mid-turn."""
    server = live_server(WEB_CONCURRENCY="1")
    response, lines = open_stream(server, {"prompt": "fake:child"})
    init = next_event(lines)
    fake_pid, child_pid = init["fake_pid"], init["child_pid"]
    os.kill(parent_of(fake_pid), signal.SIGKILL)
    response.close()
    assert wait_until(lambda: process_gone(fake_pid) and process_gone(child_pid), seconds=10)


def test_sigkilled_worker_mid_idle_leaves_no_process(live_server, tmp_path):
    """An idle process does not outlive its worker killed by SIGKILL."""
    folder = record_dir(tmp_path)
    server = live_server(WEB_CONCURRENCY="1", LIVE_IDLE_MS="600000",
                         FAKE_CLAUDE_RECORD=str(folder))
    events, worker = run_turn(server, "fake:echo")
    assert events[-1]["result"] == "echo: fake:echo"
    pid = records(folder, "turns.jsonl")[0]["pid"]
    assert not process_gone(pid), "the process did not stay idle"
    os.kill(worker, signal.SIGKILL)
    assert wait_until(lambda: process_gone(pid), seconds=10)


# -- 5. a non-streaming client that leaves -------------------------------------------------

def test_a_gone_non_streaming_client_interrupts_its_turn(live_server, tmp_path):
    """A client that closes its socket while waiting for a whole result ends the turn."""
    folder = record_dir(tmp_path)
    server = live_server(FAKE_CLAUDE_RECORD=str(folder))
    body = json.dumps({"prompt": "fake:hang", "stream": False}).encode()
    head = (f"POST /api/claude HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(head + body)
        assert wait_until(lambda: records(folder, "turns.jsonl"), seconds=10)
    finally:
        sock.close()
    pid = records(folder, "turns.jsonl")[0]["pid"]
    assert wait_until(lambda: interrupt_recorded(folder, pid), seconds=10), \
        "no interrupt reached the process"
    assert wait_until(lambda: process_gone(pid), seconds=10)


# -- 6. the interrupt endpoint -------------------------------------------------------------

def test_interrupt_endpoint_ends_the_turn_and_knows_its_owner(live_server):
    """202 and the CLI's interrupted result for the owner; 404 for another key; 409 after."""
    server = live_server(WEB_CONCURRENCY="2", API_KEYS="key-a,key-b",
                         KEEPALIVE_INTERVAL_MS="500")
    key_a, key_b = ({"Authorization": f"Bearer {key}"} for key in ("key-a", "key-b"))
    response, lines = open_stream(server, {"prompt": "fake:hang"}, headers=key_a)
    try:
        session_id = next_event(lines)["session_id"]
        url = f"{server.url}/api/claude/sessions/{session_id}/interrupt"
        assert requests.post(url, headers=key_b, timeout=TIMEOUT).status_code == 404
        first = requests.post(url, headers=key_a, timeout=TIMEOUT)
        assert first.status_code == 202, first.text
        events = rest_of_stream(lines, seconds=5)
    finally:
        response.close()
    assert events and events[-1]["type"] == "result", f"no result within 5 s: {events}"
    assert events[-1]["subtype"] == "error_during_execution" and events[-1]["is_error"] is True
    second = requests.post(url, headers=key_a, timeout=TIMEOUT)
    assert second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "no_running_turn"


# -- 7. no growth over 1,000 live turns ----------------------------------------------------

def settled_threads() -> set[threading.Thread]:
    """Live threads, once the cancelled per-turn watchdog timers have exited."""
    wait_until(lambda: not any(isinstance(t, threading.Timer) for t in threading.enumerate()),
               seconds=2)
    return set(threading.enumerate())


def resources(base: Path) -> tuple[int, set, int]:
    """Open fds of this process, its threads, and fake claude process groups under `base`."""
    return len(os.listdir("/proc/self/fd")), settled_threads(), len(fake_groups(base))


def test_1000_live_turns_leak_no_fd_thread_or_process(make_app, tmp_path, monkeypatch):
    """1,000 turns on one live process: fds, threads and processes stay as they were."""
    folder = record_dir(tmp_path)
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(folder))
    client = make_app(LIVE_IDLE_MS="60000").test_client()
    first = client.post("/api/claude", json={"prompt": "hi", "stream": False})
    assert first.status_code == 200, first.get_data(as_text=True)
    sid = first.get_json()["session_id"]
    before = None
    for number in range(1000):
        if number == 20:
            before = resources(tmp_path / "ws")
        response = client.post("/api/claude",
                               json={"prompt": "hi", "session-id": sid, "stream": False})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["result"] == "echo: hi"
    fds, threads, processes = resources(tmp_path / "ws")
    # growth only: what earlier tests left may still be closing while this one runs
    assert fds - before[0] <= 2, f"open fds went from {before[0]} to {fds}"
    assert not threads - before[1], f"threads started and still alive: {threads - before[1]}"
    assert processes == before[2] == 1, f"fake processes went from {before[2]} to {processes}"
    turns = records(folder, "turns.jsonl")
    assert len(turns) == 1001
    assert len({turn["pid"] for turn in turns}) == 1, "a turn ran in a new process"
