"""First-token latency in and out of the sandbox: cold, warm, warm in steady state and live,
against a bare CLI cold and started in advance.

Modes, sampled in turn within each round so machine noise hits all alike:

  bare        `claude -p` with the gateway's own flags, spawned here, one stream-json message
              written, stdin closed: spawn to its first text_delta line
  floor       the same CLI started here in advance: once it has answered `initialize` (and
              1 s more), its first message is timed, write to first text_delta. What a warm
              process can at best give; the gateway's warm hits are compared with it
  bare live   the second message to that process: what a live turn can at best give
  cold        a gateway with WARM_POOL_SIZE=0, LIVE_IDLE_MS=0: every turn spawns the CLI
  warm        WARM_POOL_SIZE=1, LIVE_IDLE_MS=0: a new conversation takes the warm process
  steady      WARM_POOL_SIZE=1, LIVE_IDLE_MS=300000, MAX_CLAUDE_PROCESSES=STEADY_CAP, after
              2 x STEADY_CAP earlier conversations: idle processes fill the cap, and the pool
              gives up the least recently used one for each warm process; a new conversation
              is timed
  evicted     the second turn of one of those earlier conversations whose process was given
              up: it must resume cold, with the first turn in what Claude is sent
  live        WARM_POOL_SIZE=0, LIVE_IDLE_MS=300000: one untimed turn creates a session, then
              its next turn is timed

Every gateway mode runs with SANDBOX=bwrap (the default: bubblewrap, the API through the
proxy's socket and a socat bridge) and with SANDBOX=off (unconfined, still through the
proxy), on /api/claude and /v1/chat/completions (stream); `evicted` on /api/claude only.
Each gateway runs one gthread worker at LOG_LEVEL=INFO: its request log line says whether a
running process served the turn (`live=True`), which is how "hits" are counted. Before every
sample every warm pool is full and the machine has had 1 s to settle. Ratios are to the bare
cold CLI's median in the same run; "- floor" is the difference of medians from `floor`.
Everything runs on loopback against the stand-in API; nothing leaves the machine.

    .venv/bin/python bench/sandbox.py --rounds 8
"""

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.claude.command import BASE_ARGS, cli_settings  # noqa: E402
from bench.live import (BARE_MESSAGE, PATHS, REQUEST_SECONDS, SETTLE_SECONDS,  # noqa: E402
                        WARM_WAIT_SECONDS, Harness, bare_sample, claude_pids, percentile, turn)
from tests.cli.conftest import REAL_CLAUDE, cli_environment  # noqa: E402
from tests.support.anthropic_standin import AnthropicStandIn, Text  # noqa: E402
from tests.support.server import GatewayServer  # noqa: E402

BARE_ARGV = [str(REAL_CLAUDE), *BASE_ARGS, f"--settings={cli_settings({})}"]
SANDBOXES = ("bwrap", "off")
STEADY_CAP = 4
KINDS = {  # gateway kind -> settings beyond the common ones
    "cold": {"WARM_POOL_SIZE": "0", "LIVE_IDLE_MS": "0"},
    "warm": {"WARM_POOL_SIZE": "1", "LIVE_IDLE_MS": "0"},
    "steady": {"WARM_POOL_SIZE": "1", "LIVE_IDLE_MS": "300000",
               "MAX_CLAUDE_PROCESSES": str(STEADY_CAP)},
    "live": {"WARM_POOL_SIZE": "0", "LIVE_IDLE_MS": "300000", "MAX_CLAUDE_PROCESSES": "4"},
}
SERVED_LIVE = {"cold": False, "warm": True, "steady": True, "evicted": False, "live": True}
LOG_WAIT_SECONDS = 10


def modes(sandboxes, paths) -> list[tuple]:
    """Every (kind, sandbox, path) sampled each round, the bare CLI first."""
    found = [("bare", None, None), ("floor", None, None)]
    for sandbox in sandboxes:
        for kind in KINDS:
            found += [(kind, sandbox, path) for path in paths]
        found.append(("evicted", sandbox, "/api/claude"))
    return found


# --- the bare CLI started in advance ---------------------------------------------------------

class BareProcess:
    """A bare CLI with the gateway's flags, started here: messages in on stdin, ended by
    closing it (killed if it does not end)."""

    def __init__(self, env: dict, cwd: Path):
        self.process = subprocess.Popen(BARE_ARGV, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def send(self, frame: dict) -> float:
        self.process.stdin.write((json.dumps(frame) + "\n").encode())
        self.process.stdin.flush()
        return time.perf_counter()

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Prestarted(BareProcess):
    """A bare CLI started here, with a reader thread that timestamps its stdout lines."""

    def __init__(self, env: dict, cwd: Path):
        super().__init__(env, cwd)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put((time.perf_counter(), json.loads(line)))
        self.lines.put((time.perf_counter(), None))

    def until(self, done) -> float:
        """Read lines until `done(event)` holds; return when that line came."""
        limit = time.monotonic() + REQUEST_SECONDS
        while True:
            at, event = self.lines.get(timeout=max(0.0, limit - time.monotonic()))
            if event is None:
                raise RuntimeError(f"the bare CLI exited ({self.process.wait()})")
            if done(event):
                return at

    def message(self) -> float:
        """Seconds from writing a message to its first text_delta; reads to its result."""
        sent = self.send(BARE_MESSAGE)
        first = self.until(lambda event: event.get("type") == "stream_event" and (
            event["event"].get("delta") or {}).get("type") == "text_delta")
        self.until(lambda event: event.get("type") == "result")
        return first - sent


def prestarted_sample(env: dict, cwd: Path) -> tuple[float, float]:
    """(first message, second message) of a CLI that answered `initialize` 1 s before."""
    cli = Prestarted(env, cwd)
    try:
        cli.send({"type": "control_request", "request_id": "bench-init",
                  "request": {"subtype": "initialize", "hooks": None}})
        cli.until(lambda event: event.get("type") == "control_response" and
                  event["response"].get("request_id") == "bench-init")
        time.sleep(SETTLE_SECONDS)
        first = cli.message()
        time.sleep(SETTLE_SECONDS)
        return first, cli.message()
    finally:
        cli.close()


# --- the run --------------------------------------------------------------------------------

class Bench(Harness):

    def __init__(self, home: Path, standin: AnthropicStandIn, deadline: float,
                 sandboxes: tuple, paths: tuple):
        self.home = home
        self.standin = standin
        self.deadline = deadline
        self.modes = modes(sandboxes, paths)
        self.bare_env = {**os.environ, **cli_environment(standin, home / "bare")}
        self.bare_cwd = home / "bare" / "ws"
        self.bare_cwd.mkdir(parents=True)
        self.servers: dict[tuple, GatewayServer] = {}
        for sandbox in sandboxes:
            for kind, extra in KINDS.items():
                folder = home / f"{kind}-{sandbox}"
                folder.mkdir()
                env = {**cli_environment(standin, folder), "GUNICORN_WORKER_CLASS": "gthread",
                       "WEB_CONCURRENCY": "1"}
                settings = {"STATE_DIR": str(folder / "state"),
                            "CLAUDE_PATH": str(REAL_CLAUDE), "SANDBOX": sandbox,
                            "WORKSPACE_BASE_PATH": str(folder / "ws"), "LOG_LEVEL": "INFO",
                            "STARTUP_CHECK": "false", **extra}
                self.servers[(kind, sandbox)] = GatewayServer(settings, folder, env)
        keys = [*self.modes, ("bare live", None, None)]
        self.samples: dict[tuple, list[float]] = {mode: [] for mode in keys}
        self.hits: dict[tuple, int] = {mode: 0 for mode in keys}
        self.errors: dict[tuple, list[str]] = {}
        self.seen: set[int] = set()
        self.earlier: dict[str, list[tuple[str, int]]] = {s: [] for s in sandboxes}
        self.resumed: set[str] = set()
        self.numbered = 0
        self.primed = False

    def log_lines(self, server: GatewayServer) -> list[str]:
        return [line for line in server.log.read_text(errors="replace").splitlines()
                if " INFO " not in line and "] [INFO] " not in line]

    def prime(self) -> None:
        """Before the first sample: 2 x the cap of earlier conversations on each steady
        gateway, untimed."""
        self.primed = True
        for sandbox in self.earlier:
            for _ in range(2 * STEADY_CAP):
                self.settle()
                self.conversation(sandbox)

    def settle(self) -> None:
        """Wait until every warm pool is full, then 1 s, so no spawn overlaps the next sample."""
        limit = time.monotonic() + WARM_WAIT_SECONDS
        for (kind, _), server in self.servers.items():
            while kind in ("warm", "steady") and self.warm_count(server) < 1:
                if time.monotonic() > limit:
                    raise RuntimeError(f"warm pool not refilled in {WARM_WAIT_SECONDS} s")
                self.check_time()
                time.sleep(0.05)
        time.sleep(SETTLE_SECONDS)
        for server in self.servers.values():
            self.seen |= claude_pids(server)

    @staticmethod
    def warm_count(server: GatewayServer) -> int:
        return requests.get(server.url + "/health", timeout=10).json()["processes"]["warm"]

    def conversation(self, sandbox: str, path: str = "/api/claude") -> tuple[float, dict]:
        """A new conversation on the steady gateway, numbered so its resume can be checked."""
        self.numbered += 1
        seconds, session = turn(self.servers[("steady", sandbox)].url, path,
                                f"Say hello, conversation {self.numbered}")
        if path == "/api/claude":
            self.earlier[sandbox].append((session["id"], self.numbered))
        return seconds, session

    def sample(self, mode: tuple, keep: bool) -> None:
        kind, sandbox, path = mode
        self.check_time()
        if not self.primed:
            self.prime()
        self.settle()
        if kind == "bare":
            seconds = bare_sample(self.bare_env, self.bare_cwd)
        elif kind == "floor":
            seconds, second = prestarted_sample(self.bare_env, self.bare_cwd)
            if keep:
                self.samples[("bare live", None, None)].append(second)
        elif kind in ("cold", "warm"):
            seconds, session = turn(self.servers[(kind, sandbox)].url, path, "Say hello")
            self.count_hit(mode, session, keep)
        elif kind == "steady":
            seconds, session = self.conversation(sandbox, path)
            self.count_hit(mode, session, keep)
        elif kind == "evicted":
            seconds = self.evicted_sample(sandbox, keep)
        else:
            seconds = self.live_sample(sandbox, path, keep)
        if keep:
            self.samples[mode].append(seconds)

    def served_live(self, server: GatewayServer, request_id: str) -> bool:
        """Whether the request's log line says a running process served it."""
        limit = time.monotonic() + LOG_WAIT_SECONDS
        while time.monotonic() < limit:
            for line in server.log.read_text(errors="replace").splitlines():
                if f"request_id={request_id}" in line and " duration_ms=" in line:
                    return "live=True" in line
            time.sleep(0.05)
        raise RuntimeError(f"no log line for request {request_id}")

    def count_hit(self, mode: tuple, session: dict, keep: bool) -> None:
        kind, sandbox, _ = mode
        server = self.servers[("steady" if kind == "evicted" else kind, sandbox)]
        if keep and self.served_live(server, session["request_id"]) == SERVED_LIVE[kind]:
            self.hits[mode] += 1

    def live_sample(self, sandbox: str, path: str, keep: bool) -> float:
        url = self.servers[("live", sandbox)].url
        _, session = turn(url, path, "Say hello")  # creates the session, untimed
        if not session["id"]:
            raise RuntimeError(f"{path} answered with no session id")
        self.settle()
        seconds, second = turn(url, path, "Say hello again", session)
        self.count_hit(("live", sandbox, path), second, keep)
        return seconds

    def evicted_sample(self, sandbox: str, keep: bool) -> float:
        """Turn 2 of the oldest earlier conversation whose process was given up: it resumes
        cold, and Claude is sent its first turn."""
        server = self.servers[("steady", sandbox)]
        log = server.log.read_text(errors="replace")
        evicted = [(session_id, number) for session_id, number in self.earlier[sandbox]
                   if f"giving up the idle process of session {session_id}" in log
                   and session_id not in self.resumed]
        if not evicted:
            raise RuntimeError("no earlier conversation was given up for a warm process")
        session_id, number = evicted[0]
        self.resumed.add(session_id)
        seconds, session = turn(server.url, "/api/claude", "Which conversation is this?",
                                {"id": session_id})
        sent = json.dumps(self.standin.requests[-1]["messages"])
        if f"conversation {number}" not in sent or session["id"] != session_id:
            raise RuntimeError(f"the resume of {session_id} lost its first turn")
        self.count_hit(("evicted", sandbox, "/api/claude"), session, keep)
        return seconds


LABELS = {"bare": "bare cold CLI", "floor": "bare CLI started in advance, first message",
          "bare live": "bare CLI started in advance, second message",
          "cold": "cold", "warm": "warm hit, fresh", "steady": "warm hit, steady state",
          "evicted": "turn 2 after eviction (cold resume)", "live": "live second turn"}


def report(bench: Bench, rounds_done: int) -> None:
    for mode, errors in bench.errors.items():
        print(f"{mode}: {len(errors)} failed samples, first: {errors[0]}")
    bare = bench.samples[("bare", None, None)]
    floor = bench.samples[("floor", None, None)]
    if not bare or not floor:
        print("no bare CLI samples: nothing to compare with")
        return
    bare, floor = statistics.median(bare), statistics.median(floor)
    print(f"\n{rounds_done} rounds\n")
    print("| mode | sandbox | path | first token p50 | p90 | p50 / bare cold CLI | "
          "p50 - floor | hits |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    order = [bench.modes[0], bench.modes[1], ("bare live", None, None), *bench.modes[2:]]
    for mode in order:
        values = bench.samples[mode]
        if not values:
            continue
        kind, sandbox, path = mode
        shown = "`claude -p`" if path is None else f"`{path}`" + (
            " (stream)" if path.startswith("/v1") else "")
        hits = f"{bench.hits[mode]}/{len(values)}" if kind in SERVED_LIVE else "-"
        p50 = statistics.median(values)
        print(f"| {LABELS[kind]} | {sandbox or '-'} | {shown} | {p50 * 1000:.0f} ms | "
              f"{percentile(values, 90) * 1000:.0f} ms | {p50 / bare:.2f} | "
              f"{(p50 - floor) * 1000:+.0f} ms | {hits} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--sandbox", choices=SANDBOXES, action="append",
                        help="only this sandbox setting (repeatable; default both)")
    parser.add_argument("--path", choices=PATHS, action="append",
                        help="only this path (repeatable; default both)")
    parser.add_argument("--max-minutes", type=float, default=25,
                        help="stop sampling after this long and report what was measured")
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_minutes * 60
    with tempfile.TemporaryDirectory() as tmp, AnthropicStandIn() as standin:
        standin.default_reply = Text("one two three four five")
        bench = Bench(Path(tmp), standin, deadline, tuple(args.sandbox or SANDBOXES),
                      tuple(args.path or PATHS))
        report(bench, bench.run_then_stop(args.rounds))


if __name__ == "__main__":
    main()
