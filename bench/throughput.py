"""Streaming throughput of a long answer through the gateway, and the CPU it costs there,
against the CLI's own raw delta rate.

The stand-in API (in a process of its own, so its work competes with nobody's reading)
answers "Tell me a long story" with LONG words, one text delta each, as fast as it can
write them, and anything else with five words. Modes, sampled in turn within each round:

  bare      a `claude -p` with the gateway's flags, started here: after `initialize` and one
            short message, its second message gets the long answer; its stdout is read here
  gateway   a gateway of one worker per worker class (gthread, gevent), LIVE_IDLE_MS=300000,
            WARM_POOL_SIZE=0: an untimed short turn creates a session, then its next turn (on
            the same live process) gets the long answer, on /api/claude and on
            /v1/chat/completions (stream)

Both readers do the same little: raw socket or pipe reads, counting the deltas' marks in the
bytes. Reported per mode: the delta rate (deltas a second between the first and the last
one the reader saw) and its ratio to the bare CLI's median; the CPU of the CLI's process
tree for that answer (utime + stime from /proc/<pid>/stat, reaped children included: the
sandbox's socat bridge is the CLI's child) and the gateway worker's own CPU over the same
request (from just before it is sent to 0.3 s after its end; the sum of its threads'
/proc/<pid>/task/*/schedstat, in nanoseconds: a thread that ended meanwhile is missed),
absolute and as a share of that CLI's. The worker's housekeeping runs meanwhile: its idle
CPU rate is measured and shown. Everything runs on loopback; nothing leaves the machine.

    .venv/bin/python bench/throughput.py --rounds 5
"""

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live import (SETTLE_SECONDS, Harness, claude_pids, descendants,  # noqa: E402
                        process_table, turn)
from bench.sandbox import BareProcess  # noqa: E402
from tests.cli.conftest import REAL_CLAUDE, cli_environment  # noqa: E402
from tests.support.anthropic_standin import AnthropicStandIn, Text, is_side_call  # noqa: E402
from tests.support.server import GatewayServer  # noqa: E402

LONG_PROMPT = "Tell me a long story"
WORKER_CLASSES = ("gthread", "gevent")
PATHS = ("/api/claude", "/v1/chat/completions")
MARKS = {None: b'"text_delta"', "/api/claude": b'"text_delta"',
         "/v1/chat/completions": b'"content": "'}
ENDS = {None: b'"type":"result"', "/api/claude": b'"type":"result"',
        "/v1/chat/completions": b"data: [DONE]"}
TICK = os.sysconf("SC_CLK_TCK")
AFTER_SECONDS = 0.3  # CPU read this long after the stream ended: the CLI's bookkeeping
IDLE_SECONDS = 5.0
READ_SECONDS = 120


# --- the stand-in, in a process of its own ---------------------------------------------------

def serve_standin(words: int, port_out) -> None:
    """Run the stand-in until killed: the long answer for LONG_PROMPT, else five words."""
    long_text = " ".join(f"w{n}" for n in range(1, words + 1))

    class Routed(AnthropicStandIn):
        def _record(self, method, path, body, messages_call=False):
            reply = super()._record(method, path, body, messages_call)
            if reply is None or not messages_call or is_side_call(body):
                return reply
            last = json.dumps(body["messages"][-1])
            return [Text(long_text if LONG_PROMPT in last else "one two three four five")]

    with Routed() as standin:
        port_out.send(standin.url)
        while True:
            time.sleep(3600)


def start_standin(words: int):
    """The stand-in's process and URL."""
    context = multiprocessing.get_context("fork")  # before this process starts any thread
    parent, child = context.Pipe()
    process = context.Process(target=serve_standin, args=(words, child), daemon=True)
    process.start()
    return process, parent.recv()


# --- CPU --------------------------------------------------------------------------------------

def cpu(pid: int) -> float:
    """CPU seconds of a process (its threads) and its reaped children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / TICK


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each live thread of a process, to the nanosecond (/proc/.../schedstat);
    /proc/<pid>/stat counts in clock ticks, too coarse for a worker's few milliseconds."""
    seconds = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return seconds
    for task in tasks:
        try:
            seconds[task.name] = int((task / "schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue
    return seconds


def used_since(before: dict[str, float], after: dict[str, float]) -> float:
    """CPU seconds the threads used between two readings (new threads from nothing)."""
    return sum(seconds - before.get(task, 0.0) for task, seconds in after.items())


def tree_cpu(root: int) -> float:
    """CPU seconds of a process tree, reaped descendants included."""
    return sum(cpu(pid) for pid in [root, *descendants(root, process_table())])


def worker_pid(server: GatewayServer) -> int:
    """The one gunicorn worker of a gateway."""
    table = process_table()
    workers = [pid for pid, (ppid, _, _) in table.items() if ppid == server.process.pid]
    if len(workers) != 1:
        raise RuntimeError(f"expected one worker, found {workers}")
    return workers[0]


# --- readers ----------------------------------------------------------------------------------

class Counter:
    """Counts a mark in a byte stream read in pieces, noting when the first and last came."""

    def __init__(self, mark: bytes, end: bytes):
        self.mark, self.end = mark, end
        self.count, self.first, self.last, self.ended = 0, None, None, False
        self._tail = b""

    def feed(self, data: bytes) -> None:
        now = time.perf_counter()
        joined = self._tail + data
        found = joined.count(self.mark) - self._tail.count(self.mark)  # those not counted yet
        if found:
            self.count += found
            self.first = self.first or now
            self.last = now
        self.ended = self.ended or self.end in joined
        self._tail = joined[-max(len(self.mark), len(self.end)):]

    def rate(self) -> float:
        if self.count < 2 or self.last <= self.first:
            raise RuntimeError(f"only {self.count} deltas seen")
        return (self.count - 1) / (self.last - self.first)


class BareCli(BareProcess):
    """A bare CLI started here, its stdout read raw (as the gateway's reader gets it)."""

    def read(self, counter: "Counter") -> "Counter":
        """Feed stdout to `counter` until it has seen its end mark."""
        limit = time.monotonic() + READ_SECONDS
        while not counter.ended and time.monotonic() < limit:
            data = os.read(self.process.stdout.fileno(), 65536)
            if not data:
                raise RuntimeError(f"the bare CLI exited ({self.process.wait()})")
            counter.feed(data)
        return counter

    def ask(self, text: str) -> "Counter":
        self.send({"type": "user", "message": {"role": "user",
                                               "content": [{"type": "text", "text": text}]}})
        return self.read(Counter(MARKS[None], ENDS[None]))


def read_gateway(url: str, path: str, body: dict) -> Counter:
    """POST a streamed request on a raw socket and count the answer's deltas in its bytes."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
    counter = Counter(MARKS[path], ENDS[path])
    with socket.create_connection((host, int(port)), timeout=READ_SECONDS) as sock:
        sock.sendall(head + payload)
        first = sock.recv(65536)
        if not first.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{path} answered {first[:300]!r}")
        counter.feed(first.split(b"\r\n\r\n", 1)[-1])
        while data := sock.recv(65536):
            counter.feed(data)
    return counter


# --- the run ----------------------------------------------------------------------------------

class Bench(Harness):

    def __init__(self, home: Path, standin_url: str, deadline: float, words: int,
                 sandbox: str, profile: Path | None):
        self.home = home
        self.deadline = deadline
        self.words = words
        self.profile = profile
        fake = type("StandIn", (), {"url": standin_url})
        self.bare_env = {**os.environ, **cli_environment(fake, home / "bare")}
        self.bare_cwd = home / "bare" / "ws"
        self.bare_cwd.mkdir(parents=True)
        self.servers: dict[str, GatewayServer] = {}
        for worker_class in WORKER_CLASSES:
            folder = home / worker_class
            folder.mkdir()
            env = {**cli_environment(fake, folder), "GUNICORN_WORKER_CLASS": worker_class,
                   "WEB_CONCURRENCY": "1"}
            settings = {"STATE_DIR": str(folder / "state"), "CLAUDE_PATH": str(REAL_CLAUDE),
                        "WORKSPACE_BASE_PATH": str(folder / "ws"), "LOG_LEVEL": "WARNING",
                        "STARTUP_CHECK": "false", "SANDBOX": sandbox, "WARM_POOL_SIZE": "0",
                        "LIVE_IDLE_MS": "300000"}
            self.servers[worker_class] = GatewayServer(settings, folder, env)
        self.modes = [("bare", None)] + [(c, p) for c in WORKER_CLASSES for p in PATHS]
        self.results: dict[tuple, list[dict]] = {mode: [] for mode in self.modes}
        self.idle: dict[str, list[float]] = {c: [] for c in WORKER_CLASSES}
        self.errors: dict[tuple, list[str]] = {}
        self.seen: set[int] = set()

    def sample(self, mode: tuple, keep: bool) -> None:
        self.check_time()
        time.sleep(SETTLE_SECONDS)
        name, path = mode
        result = self.bare_sample() if name == "bare" else self.gateway_sample(name, path)
        if result["deltas"] != self.words:
            raise RuntimeError(f"{result['deltas']} deltas, not {self.words}")
        if keep:
            self.results[mode].append(result)

    def bare_sample(self) -> dict:
        cli = BareCli(self.bare_env, self.bare_cwd)
        try:
            cli.send({"type": "control_request", "request_id": "bench-init",
                      "request": {"subtype": "initialize", "hooks": None}})
            cli.read(Counter(b"bench-init", b"bench-init"))
            cli.ask("Say hello")  # the short first turn
            time.sleep(SETTLE_SECONDS)
            before = tree_cpu(cli.process.pid)
            counter = cli.ask(LONG_PROMPT)
            time.sleep(AFTER_SECONDS)
            used = tree_cpu(cli.process.pid) - before
        finally:
            cli.close()
        return {"rate": counter.rate(), "deltas": counter.count, "cli": used, "worker": None}

    def gateway_sample(self, worker_class: str, path: str) -> dict:
        server = self.servers[worker_class]
        before = claude_pids(server)
        _, session = turn(server.url, path, "Say hello")  # untimed; it answers "ok"
        time.sleep(SETTLE_SECONDS)
        kept = claude_pids(server) - before
        self.seen |= kept
        if len(kept) != 1:
            raise RuntimeError(f"expected one new claude process, found {kept}")
        (cli,) = kept
        worker = worker_pid(server)
        body = ({"prompt": LONG_PROMPT, "session-id": session["id"]} if path == "/api/claude"
                else {"model": "claude-code", "stream": True, "messages": [
                    *session["messages"], {"role": "user", "content": LONG_PROMPT}]})
        spy = self.start_profile(worker, worker_class, path)
        cli_before, worker_before = tree_cpu(cli), threads_cpu(worker)
        counter = read_gateway(server.url, path, body)
        time.sleep(AFTER_SECONDS)
        cli_used = tree_cpu(cli) - cli_before
        worker_used = used_since(worker_before, threads_cpu(worker))
        if spy is not None:
            spy.send_signal(2)
            spy.wait()
        if not counter.ended:
            raise RuntimeError(f"{path}: the stream did not end properly")
        return {"rate": counter.rate(), "deltas": counter.count - (path != "/api/claude"),
                "cli": cli_used, "worker": worker_used}

    def start_profile(self, worker: int, worker_class: str, path: str):
        """py-spy recording the worker during this request, if asked (--profile)."""
        if self.profile is None:
            return None
        out = self.profile / f"{worker_class}{path.replace('/', '_')}-{time.time_ns()}.txt"
        spy = subprocess.Popen([os.environ.get("PY_SPY", "py-spy"), "record", "--pid",
                                str(worker), "--rate", "1000", "--gil", "--format", "raw",
                                "--output", str(out), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches
        return spy

    def measure_idle(self) -> None:
        """The worker's CPU rate with nothing to do: its housekeeping."""
        for worker_class, server in self.servers.items():
            worker = worker_pid(server)
            before = threads_cpu(worker)
            time.sleep(IDLE_SECONDS)
            self.idle[worker_class].append(used_since(before, threads_cpu(worker)) / IDLE_SECONDS)


def report(bench: Bench, rounds_done: int) -> None:
    for mode, errors in bench.errors.items():
        print(f"{mode}: {len(errors)} failed samples, first: {errors[0]}")
    bare = bench.results[("bare", None)]
    if not bare:
        print("no bare CLI samples: nothing to compare with")
        return
    bare_rate = statistics.median(r["rate"] for r in bare)
    print(f"\n{rounds_done} rounds, {bench.words} deltas an answer\n")
    print("| mode | path | deltas/s p50 | min | / bare CLI | CLI CPU p50 | worker CPU p50 | "
          "worker / CLI CPU p50 | max |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode in bench.modes:
        results = bench.results[mode]
        if not results:
            continue
        name, path = mode
        rates = [r["rate"] for r in results]
        cli = statistics.median(r["cli"] for r in results)
        cells = [f"{statistics.median(rates):.0f}", f"{min(rates):.0f}",
                 f"{statistics.median(rates) / bare_rate:.2f}", f"{cli * 1000:.0f} ms"]
        if name == "bare":
            cells += ["-", "-", "-"]
        else:
            shares = [r["worker"] / r["cli"] for r in results]
            cells += [f"{statistics.median(r['worker'] for r in results) * 1000:.0f} ms",
                      f"{statistics.median(shares) * 100:.1f} %",
                      f"{max(shares) * 100:.1f} %"]
        label = "bare CLI (stdout)" if name == "bare" else f"gateway, {name}"
        shown = "`claude -p`" if path is None else f"`{path}`"
        print(f"| {label} | {shown} | " + " | ".join(cells) + " |")
    for worker_class, rates in bench.idle.items():
        if rates:
            print(f"\n{worker_class} worker idle: {statistics.median(rates) * 1000:.1f} ms of CPU "
                  "a second (housekeeping)", end="")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--sandbox", choices=("bwrap", "off"), default="bwrap")
    parser.add_argument("--profile", type=Path,
                        help="record each gateway request's worker with py-spy (GIL holders "
                             "only: its Python CPU) into this folder (PY_SPY names the py-spy "
                             "executable)")
    parser.add_argument("--max-minutes", type=float, default=20,
                        help="stop sampling after this long and report what was measured")
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_minutes * 60
    standin, url = start_standin(args.words)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(Path(tmp), url, deadline, args.words, args.sandbox, args.profile)
            report(bench, bench.run_then_stop(args.rounds, then=bench.measure_idle))
    finally:
        standin.kill()


if __name__ == "__main__":
    main()
