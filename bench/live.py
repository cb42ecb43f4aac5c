"""First-token latency of warm and live `claude` processes, against a bare cold CLI.

Modes, sampled in turn within each round so machine noise hits all alike:

  bare   `claude -p` spawned here, one stream-json message written, stdin closed
  cold   a gateway with WARM_POOL_SIZE=0, LIVE_IDLE_MS=0: every turn spawns the CLI
  warm   a gateway with WARM_POOL_SIZE=1 (LIVE_IDLE_MS=0): a new conversation takes the
         process started in advance; each sample waits until /health says warm >= 1, then 1 s
  live   a gateway with LIVE_IDLE_MS=300000 (WARM_POOL_SIZE=0): one untimed turn creates a
         session, then its next turn (same options and session) is timed

cold, warm and live are measured on /api/claude and /v1/chat/completions (stream). Each
gateway runs one gthread worker. Before every sample the machine is let settle (the warm
pool full, then 1 s), so a refill spawn never overlaps a sample. Also reported: the RSS of
an idle process (after its session's turn) and of a warm one, with their descendants.
Everything runs on loopback against the stand-in API; nothing leaves the machine.

    .venv/bin/python bench/live.py --rounds 15
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.anthropic_standin import AnthropicStandIn, Text  # noqa: E402
from tests.support.real_cli import REAL_CLAUDE, cli_environment  # noqa: E402
from tests.support.server import GatewayServer  # noqa: E402

PATHS = ("/api/claude", "/v1/chat/completions")
BARE_ARGV = [str(REAL_CLAUDE), "-p", "--verbose", "--output-format=stream-json",
             "--input-format=stream-json", "--include-partial-messages"]
BARE_MESSAGE = {"type": "user", "message": {"role": "user",
                                            "content": [{"type": "text", "text": "Say hello"}]}}
FIRST_WORD = "one"  # of the stand-in's reply, "one two three four five"
SERVERS = {  # name -> settings beyond the common ones
    "cold": {"WARM_POOL_SIZE": "0", "LIVE_IDLE_MS": "0"},
    "warm": {"WARM_POOL_SIZE": "1", "LIVE_IDLE_MS": "0"},
    "live": {"WARM_POOL_SIZE": "0", "LIVE_IDLE_MS": "300000"},
}
MODES = [("bare", None)] + [(server, path) for server in SERVERS for path in PATHS]
REQUEST_SECONDS = 60
SETTLE_SECONDS = 1.0
WARM_WAIT_SECONDS = 30


class Deadline(Exception):
    """The run's time budget is spent."""


# --- processes ------------------------------------------------------------------------------

def process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, argv[0]) of every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), fields[0], argv0)
    return table


def descendants(root: int, table: dict) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def is_claude(argv0: str) -> bool:
    return Path(argv0).name in ("claude", "claude.exe")


def claude_pids(server: GatewayServer) -> set[int]:
    """The top `claude` processes under a gateway (not the CLI's own children)."""
    table = process_table()
    return {pid for pid in descendants(server.process.pid, table)
            if is_claude(table[pid][2]) and table[pid][1] not in "ZX"
            and not is_claude(table.get(table[pid][0], (0, "", ""))[2])}


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in "ZX"


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB of a process and its descendants."""
    rss = pss = 0
    for each in [pid, *descendants(pid, process_table())]:
        try:
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("Rss", "Pss"):
                    kb = int(value.split()[0])
                    rss, pss = (rss + kb, pss) if name == "Rss" else (rss, pss + kb)
        except (OSError, ValueError):
            continue
    return rss / 1024, pss / 1024


# --- samples --------------------------------------------------------------------------------

def bare_sample(env: dict, cwd: Path) -> float:
    """Seconds from spawning `claude -p` to its first text_delta line."""
    started = time.perf_counter()
    process = subprocess.Popen(BARE_ARGV, cwd=cwd, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    timer = threading.Timer(REQUEST_SECONDS, process.kill)
    timer.start()
    first = None
    try:
        process.stdin.write((json.dumps(BARE_MESSAGE) + "\n").encode())
        process.stdin.close()
        for line in process.stdout:
            if first is None and b'"text_delta"' in line:
                event = json.loads(line)
                if event.get("type") == "stream_event" and \
                        (event["event"].get("delta") or {}).get("type") == "text_delta":
                    first = time.perf_counter() - started
        process.wait(timeout=REQUEST_SECONDS)
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    if first is None:
        raise RuntimeError(f"bare CLI printed no text_delta (exit {process.returncode})")
    return first


def sse_data(response):
    """Each `data:` payload of an SSE response, decoded, as it arrives."""
    buffer = b""
    for chunk in response.iter_content(chunk_size=None):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data: ") and line[6:] != b"[DONE]":
                yield json.loads(line[6:])


def body_for(path: str, prompt: str, session: dict | None) -> dict:
    """A turn's JSON body; `session` is what the previous turn left. /v1 continues the way
    OpenAI clients do: the previous reply (with its echo header) is in the history."""
    if path == "/api/claude":
        return {"prompt": prompt, **({"session-id": session["id"]} if session else {})}
    history = session["messages"] if session else []
    return {"model": "claude-code", "stream": True,
            "messages": [*history, {"role": "user", "content": prompt}]}


def turn(url: str, path: str, prompt: str, session: dict | None = None) -> tuple[float, dict]:
    """One streamed turn: (seconds to its first text token, what the next turn needs, with
    the request's id to find its log line)."""
    body = body_for(path, prompt, session)
    started = time.perf_counter()
    first, session_id, content = None, None, []
    with requests.post(url + path, json=body, stream=True,
                       timeout=REQUEST_SECONDS) as response:
        response.raise_for_status()
        session_id = response.headers.get("X-Session-Id")
        request_id = response.headers.get("X-Request-Id")
        for data in sse_data(response):
            if path == "/api/claude":
                session_id = session_id or data.get("session_id")
                if data.get("type") == "result" and data.get("is_error"):
                    raise RuntimeError(f"{path} failed: {data}")
                token = data.get("type") == "stream_event" and \
                    (data["event"].get("delta") or {}).get("type") == "text_delta"
            else:
                if "error" in data:
                    raise RuntimeError(f"{path} failed: {data}")
                delta = (data.get("choices") or [{}])[0].get("delta") or {}
                content.append(delta.get("content") or "")
                token = FIRST_WORD in (delta.get("content") or "")
            if first is None and token:
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError(f"{path} streamed no text token")
    messages = [*body.get("messages", []), {"role": "assistant", "content": "".join(content)}]
    return first, {"id": session_id, "messages": messages, "request_id": request_id}


# --- the run --------------------------------------------------------------------------------

class Harness:
    """What every bench here shares: sampling its modes in turn each round within a time
    budget, counting failed samples, and stopping its gateways and their processes."""
    modes: list = []
    deadline: float
    servers: dict
    errors: dict
    seen: set

    def sample(self, mode, keep: bool) -> None:
        raise NotImplementedError

    def log_lines(self, server: GatewayServer) -> list[str]:
        """The lines of a gateway's log worth showing at the end (at WARNING: all)."""
        return server.log.read_text(errors="replace").splitlines()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise Deadline()

    def attempt(self, mode, keep: bool) -> None:
        """One sample; a failure is counted and shown, and the run goes on."""
        try:
            self.sample(mode, keep)
        except (Deadline, KeyboardInterrupt):
            raise
        except Exception as exc:
            self.errors.setdefault(mode, []).append(f"{type(exc).__name__}: {exc}")
            print(f"{mode}: {type(exc).__name__}: {exc}", file=sys.stderr)

    def run(self, rounds: int) -> int:
        for server in self.servers.values():
            server.start()
        done = 0
        try:
            for mode in self.modes:
                self.attempt(mode, keep=False)  # page cache, first-run CLI set-up, SQLite
            for _ in range(rounds):
                for mode in self.modes:
                    self.attempt(mode, keep=True)
                done += 1
        except Deadline:
            print(f"time budget spent after {done} of {rounds} rounds", file=sys.stderr)
        return done

    def run_then_stop(self, rounds: int, then: Callable[[], None] = lambda: None) -> int:
        """Sample `rounds` rounds (then `then`), stop every gateway whatever happened, and
        say which claude processes outlived theirs; return the rounds done."""
        try:
            done = self.run(rounds)
            then()
        finally:
            left = self.stop()
        if left:
            print(f"claude processes outlived their gateway and were killed: {left}",
                  file=sys.stderr)
        return done

    def stop(self) -> list[int]:
        """Stop every gateway; end any claude process that outlived it. Return those pids."""
        for server in self.servers.values():
            try:
                self.seen |= claude_pids(server) if server.process else set()
            except OSError:
                pass
        for name, server in self.servers.items():
            server.stop()
            lines = self.log_lines(server) if server.log.exists() else []
            if lines:
                print(f"{name} gateway log, {len(lines)} lines, last ones:", *lines[-5:],
                      sep="\n  ", file=sys.stderr)
        limit = time.monotonic() + 10
        while any(alive(pid) for pid in self.seen) and time.monotonic() < limit:
            time.sleep(0.1)
        left = [pid for pid in self.seen if alive(pid)]
        for pid in left:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        return left


class Bench(Harness):
    modes = MODES

    def __init__(self, home: Path, standin: AnthropicStandIn, deadline: float):
        self.home = home
        self.deadline = deadline
        self.bare_env = {**os.environ, **cli_environment(standin, home / "bare")}
        self.bare_cwd = home / "bare" / "ws"
        self.bare_cwd.mkdir(parents=True)
        self.servers: dict[str, GatewayServer] = {}
        for name, extra in SERVERS.items():
            folder = home / name
            folder.mkdir(exist_ok=True)
            env = {**cli_environment(standin, folder), "GUNICORN_WORKER_CLASS": "gthread",
                   "WEB_CONCURRENCY": "1"}
            settings = {"STATE_DIR": str(folder / "state"), "CLAUDE_PATH": str(REAL_CLAUDE),
                        "WORKSPACE_BASE_PATH": str(folder / "ws"), "LOG_LEVEL": "WARNING",
                        "STARTUP_CHECK": "false", **extra}
            self.servers[name] = GatewayServer(settings, workdir=folder, env=env)
        self.samples: dict[tuple, list[float]] = {mode: [] for mode in MODES}
        self.hits: dict[tuple, int] = {mode: 0 for mode in MODES}
        self.memory: dict[str, list[tuple[float, float]]] = {"idle": [], "warm": []}
        self.errors: dict[tuple, list[str]] = {}
        self.seen: set[int] = set()  # every gateway claude pid, to check they all ended

    def health(self, name: str) -> dict:
        server = self.servers[name]
        response = requests.get(server.url + "/health", timeout=10)
        return response.json()["processes"]

    def settle(self) -> None:
        """Wait for the warm pool to be full, then 1 s, so no spawn overlaps the next sample."""
        limit = time.monotonic() + WARM_WAIT_SECONDS
        while self.health("warm")["warm"] < 1:
            if time.monotonic() > limit:
                raise RuntimeError(f"warm pool not refilled in {WARM_WAIT_SECONDS} s: "
                                   f"{self.health('warm')}")
            self.check_time()
            time.sleep(0.05)
        time.sleep(SETTLE_SECONDS)
        for server in self.servers.values():
            self.seen |= claude_pids(server)

    def sample(self, mode: tuple, keep: bool) -> None:
        name, path = mode
        self.check_time()
        self.settle()
        if name == "bare":
            seconds = bare_sample(self.bare_env, self.bare_cwd)
        elif name == "cold":
            seconds, _ = turn(self.servers[name].url, path, "Say hello")
        elif name == "warm":
            seconds = self.warm_sample(path, keep)
        else:
            seconds = self.live_sample(path, keep)
        if keep:
            self.samples[mode].append(seconds)

    def warm_sample(self, path: str, keep: bool) -> float:
        server = self.servers["warm"]
        waiting = claude_pids(server)  # the warm process, alone (LIVE_IDLE_MS=0 here)
        if keep:
            self.memory["warm"] += [memory_mb(pid) for pid in waiting]
        seconds, _ = turn(server.url, path, "Say hello")
        # A hit ends the warm process with its turn; a miss would leave it waiting.
        limit = time.monotonic() + 5
        while any(alive(pid) for pid in waiting) and time.monotonic() < limit:
            time.sleep(0.05)
        if keep and len(waiting) == 1 and not any(alive(pid) for pid in waiting):
            self.hits[("warm", path)] += 1
        return seconds

    def live_sample(self, path: str, keep: bool) -> float:
        server = self.servers["live"]
        before = claude_pids(server)
        _, session = turn(server.url, path, "Say hello")  # creates the session, untimed
        if not session["id"]:
            raise RuntimeError(f"{path} answered with no session id")
        time.sleep(SETTLE_SECONDS)
        kept = claude_pids(server) - before
        ready = claude_pids(server)
        seconds, _ = turn(server.url, path, "Say hello again", session)
        time.sleep(SETTLE_SECONDS)
        after = claude_pids(server)
        if keep and len(kept) == 1 and not (after - ready) and kept <= after:
            self.hits[("live", path)] += 1  # answered by the same process, which stays idle
            self.memory["idle"].append(memory_mb(next(iter(kept))))
        return seconds

def percentile(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def report(bench: Bench, rounds_done: int) -> None:
    for mode, errors in bench.errors.items():
        print(f"{mode}: {len(errors)} failed samples, first: {errors[0]}")
    if not bench.samples[("bare", None)]:
        print("no bare CLI samples: nothing to compare with")
        return
    bare = statistics.median(bench.samples[("bare", None)])
    print(f"\n{rounds_done} rounds\n")
    print("| mode | path | first token p50 | first token p90 | p50 / bare cold CLI | hits |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mode in MODES:
        name, path = mode
        values = bench.samples[mode]
        if not values:
            continue
        label = {"bare": "bare cold CLI", "cold": "cold (gateway)", "warm": "warm pool hit",
                 "live": "live second turn"}[name]
        shown = "`claude -p`" if path is None else f"`{path}`" + (
            " (stream)" if path.startswith("/v1") else "")
        hits = f"{bench.hits[mode]}/{len(values)}" if name in ("warm", "live") else "-"
        print(f"| {label} | {shown} | {statistics.median(values) * 1000:.0f} ms | "
              f"{percentile(values, 90) * 1000:.0f} ms | "
              f"{statistics.median(values) / bare:.2f} | {hits} |")
    print()
    for kind, label in (("idle", "idle process after its session's turn"),
                        ("warm", "warm process waiting for its first message")):
        figures = bench.memory[kind]
        if figures:
            rss = statistics.median(f[0] for f in figures)
            pss = statistics.median(f[1] for f in figures)
            print(f"memory, {label}: RSS {rss:.0f} MB (PSS {pss:.0f} MB), "
                  f"median of {len(figures)}, with descendants")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--max-minutes", type=float, default=25,
                        help="stop sampling after this long and report what was measured")
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_minutes * 60
    with tempfile.TemporaryDirectory() as tmp, AnthropicStandIn() as standin:
        standin.default_reply = Text("one two three four five")
        bench = Bench(Path(tmp), standin, deadline)
        report(bench, bench.run_then_stop(args.rounds))


if __name__ == "__main__":
    main()
