"""Two hosts, each with its own STATE_DIR, HOME and workspace base, sharing only a real
PostgreSQL and a real Redis, running the real CLI: a key made on one works on the other; a
turn for a session that lives on the other host is forwarded there (/api/claude, chat
completions, responses); an interrupt and a permission answer reach the turn through the
other host; rpm and a daily cap hold over both; each host keeps its own process cap; a run
started on one host is resumed and cancelled through the other; and a host killed mid-stream
leaves no process, its session answering 503 on the other host."""

import json
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from app.shared.dialects import PostgreSQL
from app.shared.keys import KeyStore
from app.shared.state import StateDB
from tests.support.anthropic_standin import Text, ToolUse
from tests.support.real_cli import REAL_CLAUDE, cli_environment
from tests.support.sandbox_paths import inside
from tests.support.streams import numbered_events
from tests.support.server import GatewayServer
from tests.support.waiting import wait_until

OPERATOR = "two-host-operator-key"
SECRET = "two-host-cluster-secret"
AUTH = {"Authorization": f"Bearer {OPERATOR}"}
HOST_GONE_SECONDS = 60  # a killed host stops beating; the registry forgets it in 15 s
# A tool that runs until it is stopped (the CLI refuses a bare long `sleep`); the Bash tool's
# own time limit set to its longest, ten minutes.
WAIT_FOREVER = {"command": "tail -f /dev/null", "description": "wait", "timeout": 600000}


def start_host(standin, home: Path, database_url: str, redis_url: str) -> GatewayServer:
    """One host: two workers, a cap of one claude process, its own folders and HOME."""
    home.mkdir(parents=True)
    settings = {"STATE_DIR": str(home / "state"), "WORKSPACE_BASE_PATH": str(home / "ws"),
                "CLAUDE_PATH": str(REAL_CLAUDE), "API_KEY": OPERATOR, "LOG_LEVEL": "INFO",
                "KEEPALIVE_INTERVAL_MS": "1000", "STARTUP_CHECK": "false",
                "DATABASE_URL": database_url, "REDIS_URL": redis_url, "CLUSTER_SECRET": SECRET,
                "MAX_CLAUDE_PROCESSES": "1", "QUEUE_TIMEOUT_MS": "240000",
                "WARM_POOL_SIZE": "0"}
    server = GatewayServer(settings, workdir=home, env={**cli_environment(standin, home),
                                                       "WEB_CONCURRENCY": "2"})
    server.env["NODE_URL"] = server.url  # known once its port is
    server.start()
    return server


@pytest.fixture(scope="module")
def database_url(postgres):
    """The PostgreSQL database the hosts of this module share."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="module")
def hosts(standin, tmp_path_factory, database_url, redis_server):
    redis_server.flush()
    base = tmp_path_factory.mktemp("hosts")
    started = []
    try:
        for name in ("a", "b"):
            started.append(start_host(standin, base / name, database_url, redis_server.url))
        assert wait_until(lambda: all(len(health(s).get("hosts", [])) == 2 for s in started),
                          seconds=30), health(started[0])
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def make_key(database_url, tmp_path):
    """Make a managed key straight in the shared database, as `flask keys create` would."""
    db = StateDB(tmp_path / "keys-state", PostgreSQL(database_url))

    def make(name: str, **limits) -> str:
        return KeyStore(db).create(name, ["chat", "workspace:*", "sessions"], **limits)
    yield make
    db.close()


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def health(server) -> dict:
    return requests.get(server.url + "/health", timeout=30).json()


def turn(server, headers=AUTH, **body) -> requests.Response:
    return requests.post(server.url + "/api/claude", json={"stream": False, **body},
                         headers=headers, timeout=300)


def workspace(server, name: str) -> Path:
    return Path(server.env["WORKSPACE_BASE_PATH"]) / "workspace" / name


class Stream:
    """A streamed /api/claude turn read in a thread: its events, and whether it ended."""

    def __init__(self, server, body: dict):
        self.events: list[dict] = []
        self.status: int | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(server, body), daemon=True)
        self._thread.start()

    def _read(self, server, body: dict) -> None:
        try:
            with requests.post(server.url + "/api/claude", json=body, headers=AUTH,
                               stream=True, timeout=300) as response:
                self.status = response.status_code
                for line in response.iter_lines(decode_unicode=True):
                    if line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
        except requests.RequestException:
            pass  # a host killed under the stream
        finally:
            self.done.set()

    def first(self, kind: str) -> dict | None:
        return next((event for event in self.events if event.get("type") == kind), None)



# --- keys and sessions across hosts ----------------------------------------------------------

def test_a_key_made_on_one_host_works_on_the_other(hosts, make_key, standin):
    key = make_key("roaming")
    standin.script(Text("from a"), Text("from b"))
    assert turn(hosts[0], bearer(key), prompt="hi").json()["result"] == "from a"
    assert turn(hosts[1], bearer(key), prompt="hi").json()["result"] == "from b"
    assert turn(hosts[1], bearer("not-a-key-of-this-cluster"), prompt="hi").status_code == 401


def test_api_claude_turn_two_runs_on_the_session_s_host(hosts, standin):
    standin.script(Text("Noted: 42"), Text("It was 42"))
    first = turn(hosts[0], prompt="Remember the number 42", workspace="numbers").json()
    second = turn(hosts[1], prompt="Which number?", **{"session-id": first["session_id"]})
    assert second.status_code == 200, second.text
    assert second.json()["result"] == "It was 42"
    assert second.json()["session_id"] == first["session_id"]
    assert "Remember the number 42" in json.dumps(standin.requests[-1]["messages"])  # resumed
    assert workspace(hosts[0], "numbers").is_dir()
    assert not workspace(hosts[1], "numbers").exists()  # it ran on a, where its files are


def test_chat_turn_two_with_the_same_session_header_runs_on_its_host(hosts, standin):
    standin.script(Text("Noted: TEAL"), Text("The colour was TEAL"))
    body = {"model": "claude-code", "messages": [{"role": "user", "content": "Remember TEAL"}]}
    first = requests.post(hosts[1].url + "/v1/chat/completions", json=body, headers=AUTH,
                          timeout=300)
    assert first.status_code == 200, first.text
    session = first.headers["X-Session-Id"]
    body["messages"] += [first.json()["choices"][0]["message"],
                         {"role": "user", "content": "Which colour?"}]
    second = requests.post(hosts[0].url + "/v1/chat/completions", json=body,
                           headers={**AUTH, "X-Session-Id": session}, timeout=300)
    assert second.status_code == 200, second.text
    assert second.headers["X-Session-Id"] == session
    assert second.json()["choices"][0]["message"]["content"].endswith("The colour was TEAL")
    assert "Remember TEAL" in json.dumps(standin.requests[-1]["messages"])  # resumed on b


def test_previous_response_id_continues_on_the_other_host(hosts, standin):
    standin.script(Text("Noted: OTTER"), Text("The animal was OTTER"))
    first = requests.post(hosts[0].url + "/v1/responses", headers=AUTH, timeout=300,
                          json={"model": "claude-code", "input": "Remember OTTER"})
    assert first.status_code == 200, first.text
    second = requests.post(hosts[1].url + "/v1/responses", headers=AUTH, timeout=300,
                           json={"model": "claude-code", "input": "Which animal?",
                                 "previous_response_id": first.json()["id"]})
    assert second.status_code == 200, second.text
    assert "The animal was OTTER" in json.dumps(second.json()["output"])
    assert "Remember OTTER" in json.dumps(standin.requests[-1]["messages"])  # resumed on a


# --- signals across hosts ---------------------------------------------------------------------

def test_an_interrupt_through_the_other_host_stops_the_turn(hosts, standin):
    standin.script(ToolUse("Bash", WAIT_FOREVER), Text("The wait ended by itself."))
    stream = Stream(hosts[0], {"prompt": "wait", "workspace": "waits",
                               "allowed-tools": ["Bash"]})
    assert wait_until(lambda: waiting_tool(hosts[0]) or stream.done.is_set(), seconds=120)
    assert not stream.done.is_set(), stream.events[-1:]
    session = stream.first("system")["session_id"]
    stopped = requests.post(f"{hosts[1].url}/api/claude/sessions/{session}/interrupt",
                            headers=AUTH, timeout=30)
    assert stopped.status_code == 202, stopped.text
    assert stream.done.wait(120), "the turn was not interrupted"
    assert stream.events[-1]["type"] == "result"
    assert len(standin.requests) == 1  # the turn stopped in its tool: no call came after it
    assert wait_until(lambda: not waiting_tool(hosts[0]), seconds=60)


def test_a_permission_answer_through_the_other_host_lets_the_turn_go_on(hosts, standin):
    target = workspace(hosts[0], "asks") / "a.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    standin.script(ToolUse("Write", {"file_path": inside(target, target.parents[2]),
                                     "content": "allowed from b"}), Text("Written."))
    stream = Stream(hosts[0], {"prompt": "write", "workspace": "asks", "approvals": True})
    assert wait_until(lambda: stream.first("permission_request") or stream.done.is_set(), 120)
    question = stream.first("permission_request")
    listed = [requests.get(f"{server.url}/api/claude/permissions", headers=AUTH,
                           timeout=30).json()["data"] for server in hosts]
    assert [[p["request_id"] for p in data] for data in listed] == [[question["request_id"]]] * 2
    answered = requests.post(f"{hosts[1].url}/api/claude/permissions/{question['request_id']}",
                             json={"behavior": "allow"}, headers=AUTH, timeout=30)
    assert answered.status_code == 200, answered.text
    assert stream.done.wait(120)
    assert stream.events[-1]["result"] == "Written."
    assert target.read_text() == "allowed from b"


# --- limits over both hosts -------------------------------------------------------------------

def test_requests_per_minute_are_exact_over_both_hosts(hosts, make_key):
    key = make_key("hasty-pair", rpm=6)
    start = threading.Barrier(16)

    def models(i: int) -> int:
        start.wait()
        return requests.get(hosts[i % 2].url + "/v1/models", headers=bearer(key),
                            timeout=60).status_code
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(models, range(16)))
    assert codes.count(200) == 6 and codes.count(429) == 10, codes


def used(server, key: str) -> dict:
    return requests.get(server.url + "/api/usage", headers=bearer(key), timeout=30
                        ).json()["today"]


def test_a_daily_token_cap_holds_over_both_hosts(hosts, make_key, standin):
    standin.default_reply = Text("A reply of a few words")
    standin.delta_delay = 0.05  # calls overlap
    try:
        measure = make_key("measure")
        assert turn(hosts[0], bearer(measure), prompt="Say something").status_code == 200
        call = used(hosts[1], measure)["total_tokens"]  # seen from the other host
        cap = int(call * 2.5)
        key = make_key("capped-pair", daily_tokens=cap)
        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda i: turn(hosts[i % 2], bearer(key),
                                                 prompt="Say something").status_code, range(6)))
    finally:
        standin.delta_delay = 0.0
    spent = used(hosts[0], key)["total_tokens"]
    assert spent <= cap + call, (spent, cap, codes)
    assert sorted(set(codes)) == [200, 429] and codes.count(200) >= 2, codes
    assert [turn(server, bearer(key), prompt="more").status_code for server in hosts] == \
        [429, 429]


def test_each_host_holds_its_own_process_cap(hosts, standin):
    listed = health(hosts[0])["hosts"]
    assert {host["url"] for host in listed} == {server.url for server in hosts}
    assert [host["self"] for host in listed if host["url"] == hosts[0].url] == [True]
    target = workspace(hosts[0], "capped") / "held.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    standin.script(ToolUse("Write", {"file_path": inside(target, target.parents[2]),
                                     "content": "x"}), Text("Held."))
    held = Stream(hosts[0], {"prompt": "write", "workspace": "capped", "approvals": True})
    assert wait_until(lambda: held.first("permission_request") or held.done.is_set(), 120)
    assert held.first("permission_request") is not None, held.events
    waiting = []
    queued = threading.Thread(target=lambda: waiting.append(turn(hosts[0], prompt="next")),
                              daemon=True)
    queued.start()
    assert wait_until(lambda: health(hosts[0])["processes"]["queued"] == 1, seconds=60)
    counts = health(hosts[0])["processes"]
    assert (counts["running"], counts["cap"]) == (1, 1)  # the second waits for the first
    elsewhere = turn(hosts[1], prompt="b has its own cap")  # a's cap is not b's
    assert elsewhere.status_code == 200, elsewhere.text
    assert health(hosts[0])["processes"]["queued"] == 1  # still waiting on a
    requests.post(f"{hosts[1].url}/api/claude/permissions/"
                  f"{held.first('permission_request')['request_id']}",
                  json={"behavior": "allow"}, headers=AUTH, timeout=30)
    assert held.done.wait(120)
    queued.join(240)
    assert waiting and waiting[0].status_code == 200, waiting


# --- a host that dies ---------------------------------------------------------------------

def descendants(root: int) -> list[int]:
    """Every descendant process of `root` (a thread's children are listed under its task)."""
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = []
        for task in Path(f"/proc/{pid}/task").glob("*") if alive(pid) else ():
            try:
                children += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
        found += children
        frontier += children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def waiting_tool(server) -> bool:
    """Whether the WAIT_FOREVER tool runs under this host."""
    return any(WAIT_FOREVER["command"] in cmdline(pid)
               for pid in descendants(server.process.pid))


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace").replace("\0", " ")
    except OSError:
        return ""


def is_claude(pid: int) -> bool:
    try:
        return "claude" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return False


def test_a_run_started_on_one_host_is_resumed_and_cancelled_through_the_other(hosts, standin):
    first, other = hosts
    story = " ".join(f"word{i}" for i in range(40))
    standin.script(Text(story))
    with requests.post(first.url + "/api/claude", headers=AUTH, stream=True, timeout=300,
                       json={"prompt": "Tell", "on-disconnect": "continue"}) as response:
        run_id = response.headers["X-Run-Id"]
        seen = []
        for event in numbered_events(response.iter_lines(decode_unicode=True)):
            seen.append(event)
            if len(seen) == 5:
                break  # the client drops; the run goes on
    with requests.get(f"{other.url}/api/claude/runs/{run_id}/events", stream=True, timeout=300,
                      headers={**AUTH, "Last-Event-ID": str(seen[-1][0])}) as resumed:
        rest = list(numbered_events(resumed.iter_lines(decode_unicode=True)))
    assert [seq for seq, _, _ in seen + rest] == list(range(1, len(seen) + len(rest) + 1))
    said = "".join(data["event"]["delta"]["text"] for _, _, data in seen + rest
                   if data["type"] == "stream_event"
                   and data["event"]["type"] == "content_block_delta")
    assert said == story and rest[-1][2]["result"] == story

    standin.script(ToolUse("Bash", WAIT_FOREVER))
    with requests.post(first.url + "/api/claude", headers=AUTH, stream=True, timeout=300,
                       json={"prompt": "Wait", "workspace": "run-cancel",
                             "allowed-tools": ["Bash"]}) as response:
        run_id = response.headers["X-Run-Id"]
        events = numbered_events(response.iter_lines(decode_unicode=True))
        for _, _, data in events:
            if data["type"] == "assistant":
                break  # the tool runs now, on the first host
        cancel = requests.post(f"{other.url}/api/claude/runs/{run_id}/cancel", headers=AUTH,
                               timeout=30)
        assert cancel.status_code == 202, cancel.text
        ending = list(events)[-1][2]
    assert ending["type"] == "result" and ending["subtype"] == "error_during_execution"
    shown = requests.get(f"{other.url}/api/claude/runs/{run_id}", headers=AUTH, timeout=30)
    assert shown.json()["status"] == "cancelled"


def test_a_host_killed_mid_stream_leaves_no_process_and_its_session_answers_503(
        hosts, standin, tmp_path_factory, database_url, redis_server):
    doomed = start_host(standin, tmp_path_factory.mktemp("doomed") / "c", database_url,
                        redis_server.url)
    try:
        assert wait_until(lambda: len(health(hosts[1])["hosts"]) == 3, seconds=30)
        standin.script(ToolUse("Bash", WAIT_FOREVER))
        stream = Stream(doomed, {"prompt": "wait", "workspace": "gone",
                                 "allowed-tools": ["Bash"]})
        assert wait_until(lambda: waiting_tool(doomed) or stream.done.is_set(), 120)
        assert not stream.done.is_set(), stream.events[-1:]  # killed mid-stream
        session = stream.first("system")["session_id"]
        workers = [pid for pid in descendants(doomed.process.pid)
                   if _parent(pid) == doomed.process.pid]
        claudes = [pid for pid in descendants(doomed.process.pid) if is_claude(pid)]
        everything = descendants(doomed.process.pid)
        assert workers and claudes
        for pid in [doomed.process.pid, *workers]:  # the whole host goes at once
            os.kill(pid, signal.SIGKILL)
        doomed.process.wait()
        assert wait_until(lambda: not any(alive(pid) for pid in everything), seconds=60), \
            [cmdline(pid) for pid in everything if alive(pid)]  # the CLI and its tool too
        assert stream.done.wait(60)
        assert wait_until(lambda: turn(hosts[1], prompt="Still there?", **{
            "session-id": session}).status_code == 503, seconds=HOST_GONE_SECONDS)
        answer = turn(hosts[1], prompt="Still there?", **{"session-id": session})
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "session_host_unavailable"
        assert wait_until(lambda: len(health(hosts[1])["hosts"]) == 2, HOST_GONE_SECONDS)
        answer = turn(hosts[1], prompt="Still there?", **{"session-id": session})
        assert (answer.status_code, answer.json()["error"]["code"]) == \
            (503, "session_host_unavailable")  # gone from the registry: still 503, never run
    finally:
        doomed.stop()


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
