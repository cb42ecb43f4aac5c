"""How fast a waiting turn goes on once its client answers, against a bare cold CLI.

Modes, sampled in turn within each round so machine noise hits all alike:

  bare       `claude -p` spawned here, one stream-json message written, stdin closed: spawn
             to its first text_delta line (as bench/live.py does it)
  approval   a streamed `/api/claude` turn with "approvals": true; the model asks to Write a
             file in the turn's workspace, the stream carries a permission_request, and the
             answer {"behavior": "allow"} is POSTed to /api/claude/permissions/<request_id>:
             timed from sending that POST to the first text_delta of the reply after it
  functions  `/v1/chat/completions` (not streamed) with one client function, get_weather; the
             model calls it, the untimed first request returns the call as tool_calls, and the
             turn waits in its process. Timed: the second request, which sends the assistant
             message with its tool_calls and the role "tool" result, from send to the
             complete response
  expired    the same on a second gateway with TOOL_RESULT_TIMEOUT_MS=200: the script waits
             until the gateway logs that the client "did not come back in time" and the
             waiting process has ended, so the results go through a cold resume of the
             session, with the results as context. The same second request is timed

Both gateways run one gthread worker with WARM_POOL_SIZE=0, LIVE_IDLE_MS=300000,
STARTUP_CHECK=false and an API_KEY. Before every sample the machine is let settle (1 s), and
again before the timed part of a sample (the answer, the results). "hits" counts the samples
that verifiably took the intended path: the approved file was written; the results went to
the waiting process (no new `claude` started); after expiry a new `claude` resumed the session.
Everything runs on loopback against the stand-in API; nothing leaves the machine.

    .venv/bin/python bench/interaction.py --rounds 8
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live import (  # noqa: E402
    REQUEST_SECONDS,
    SETTLE_SECONDS,
    Harness,
    alive,
    bare_sample,
    claude_pids,
    percentile,
)
from tests.support.anthropic_standin import AnthropicStandIn, Text, ToolUse  # noqa: E402
from tests.support.real_cli import REAL_CLAUDE, cli_environment  # noqa: E402
from tests.support.server import GatewayServer  # noqa: E402

KEY = "bench-gateway-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
REPLY = "one two three"  # what the model says once the client has answered
DEFAULT_REPLY = "one two three four five"  # the bare CLI's reply, and any unscripted call
WORKSPACE = "bench"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
EXPIRY_MS = 200
SERVERS = {  # name -> settings beyond the common ones
    "main": {"LOG_LEVEL": "WARNING"},
    "expiring": {"TOOL_RESULT_TIMEOUT_MS": str(EXPIRY_MS),
                 "LOG_LEVEL": "INFO"},  # the expiry is logged at INFO
}
MODES = ("bare", "approval", "functions", "expired")
EXPIRY_WAIT_SECONDS = 30


# --- samples --------------------------------------------------------------------------------

def sse_lines(response):
    """Each `data:` payload of an SSE response, decoded, as it arrives."""
    for line in response.iter_lines(chunk_size=None):
        if line.startswith(b"data: ") and line[6:] != b"[DONE]":
            yield json.loads(line[6:])


def is_text_delta(event: dict) -> bool:
    return event.get("type") == "stream_event" and \
        (event["event"].get("delta") or {}).get("type") == "text_delta"


def chat(url: str, messages: list) -> dict:
    """One non-streamed /v1/chat/completions request with the get_weather function."""
    response = requests.post(url + "/v1/chat/completions", headers=AUTH, timeout=REQUEST_SECONDS,
                             json={"model": "claude-code", "messages": messages,
                                   "tools": [WEATHER]})
    if response.status_code != 200:
        raise RuntimeError(f"/v1/chat/completions answered {response.status_code}: "
                           f"{response.text[:300]}")
    return response.json()


def ask_weather(url: str) -> tuple[list, dict]:
    """The untimed first request: (the history to send the results with, its reply)."""
    messages = [{"role": "user", "content": "How warm is it in Paris?"}]
    first = chat(url, messages)
    choice = first["choices"][0]
    calls = choice["message"].get("tool_calls") or []
    if choice["finish_reason"] != "tool_calls" or len(calls) != 1:
        raise RuntimeError(f"expected one tool call, got {choice}")
    assistant = {key: value for key, value in choice["message"].items() if value is not None}
    return [*messages, assistant, {"role": "tool", "tool_call_id": calls[0]["id"],
                                   "content": "21 C, sunny"}], first


def send_results(url: str, messages: list, session_id: str) -> float:
    """The timed second request: seconds from send to the complete final answer."""
    started = time.perf_counter()
    final = chat(url, messages)
    seconds = time.perf_counter() - started
    choice = final["choices"][0]
    if choice["finish_reason"] != "stop" or not (choice["message"]["content"] or "").endswith(
            REPLY):
        raise RuntimeError(f"unexpected final answer: {choice}")
    if final.get("session_id") != session_id:
        raise RuntimeError(f"the answer came in session {final.get('session_id')}, "
                           f"not {session_id}")
    return seconds


# --- the run --------------------------------------------------------------------------------

class Bench(Harness):
    modes = MODES

    def __init__(self, home: Path, standin: AnthropicStandIn, deadline: float):
        self.home = home
        self.standin = standin
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
                        "WORKSPACE_BASE_PATH": str(folder / "ws"), "API_KEY": KEY,
                        "WARM_POOL_SIZE": "0", "LIVE_IDLE_MS": "300000",
                        "STARTUP_CHECK": "false", **extra}
            self.servers[name] = GatewayServer(settings, workdir=folder, env=env)
        self.samples: dict[str, list[float]] = {mode: [] for mode in MODES}
        self.hits: dict[str, int] = {mode: 0 for mode in MODES}
        self.errors: dict[str, list[str]] = {}
        self.seen: set[int] = set()  # every gateway claude pid, to check they all ended
        self.written = 0  # numbers the approved files, so each Write makes a new one

    def settle(self) -> None:
        """Let the last sample's processes finish their work, so none overlaps the next."""
        time.sleep(SETTLE_SECONDS)
        for server in self.servers.values():
            self.seen |= claude_pids(server)

    def script(self, *replies) -> None:
        """A fresh script: nothing a failed sample left queued reaches the next."""
        self.standin.reset()
        self.standin.default_reply = Text(DEFAULT_REPLY)
        self.standin.script(*replies)

    def sample(self, mode: str, keep: bool) -> None:
        self.check_time()
        self.settle()
        if mode == "bare":
            self.script()
            seconds, hit = bare_sample(self.bare_env, self.bare_cwd), False
        elif mode == "approval":
            seconds, hit = self.approval_sample()
        elif mode == "functions":
            seconds, hit = self.functions_sample()
        else:
            seconds, hit = self.expired_sample()
        if keep:
            self.samples[mode].append(seconds)
            self.hits[mode] += hit

    def approval_sample(self) -> tuple[float, bool]:
        server = self.servers["main"]
        base = Path(server.env["WORKSPACE_BASE_PATH"]).resolve()
        self.written += 1
        target = base / "workspace" / WORKSPACE / f"approved-{self.written}.txt"
        self.script(ToolUse("Write", {"file_path": str(target), "content": "x"}), Text(REPLY))
        body = {"prompt": "write the file", "workspace": WORKSPACE, "approvals": True,
                "stream": True}
        answered = first = result = None
        with requests.post(server.url + "/api/claude", json=body, headers=AUTH, stream=True,
                           timeout=REQUEST_SECONDS) as response:
            response.raise_for_status()
            for event in sse_lines(response):
                if event.get("type") == "permission_request":
                    if answered is not None:
                        raise RuntimeError("a second permission_request")
                    time.sleep(SETTLE_SECONDS)  # the CLI waits; let its start-up work end
                    answered = time.perf_counter()
                    reply = requests.post(
                        f"{server.url}/api/claude/permissions/{event['request_id']}",
                        json={"behavior": "allow"}, headers=AUTH, timeout=REQUEST_SECONDS)
                    reply.raise_for_status()
                elif answered is not None and first is None and is_text_delta(event):
                    first = time.perf_counter() - answered
                elif event.get("type") == "result":
                    result = event
        if answered is None:
            raise RuntimeError(f"no permission_request in the stream; result {result}")
        if first is None:
            raise RuntimeError(f"no text_delta after the answer; result {result}")
        if not result or result.get("is_error") or result.get("result") != REPLY:
            raise RuntimeError(f"unexpected result: {result}")
        return first, target.exists() and target.read_text() == "x"

    def functions_sample(self) -> tuple[float, bool]:
        server = self.servers["main"]
        self.script(ToolUse("mcp__client__get_weather", {"city": "Paris"}), Text(REPLY))
        messages, first = ask_weather(server.url)
        time.sleep(SETTLE_SECONDS)  # the turn waits in its process meanwhile
        waiting = claude_pids(server)
        seconds = send_results(server.url, messages, first["session_id"])
        return seconds, not (claude_pids(server) - waiting)  # no new process: the waiting one

    def expired_sample(self) -> tuple[float, bool]:
        server = self.servers["expiring"]
        self.script(ToolUse("mcp__client__get_weather", {"city": "Paris"}))
        before = claude_pids(server)
        messages, first = ask_weather(server.url)
        session_id = first["session_id"]
        started = claude_pids(server) - before
        line = f"session {session_id}: its client did not come back in time"
        limit = time.monotonic() + EXPIRY_WAIT_SECONDS
        while line not in server.log.read_text(errors="replace") or \
                any(alive(pid) for pid in started):  # its process may still be ending
            if time.monotonic() > limit:
                raise RuntimeError(f"the waiting turn of {session_id} did not expire and end "
                                   f"in {EXPIRY_WAIT_SECONDS} s")
            self.check_time()
            time.sleep(0.05)
        time.sleep(SETTLE_SECONDS)
        self.script(Text(REPLY))  # after the expiry, so the ended turn cannot take it
        ready = claude_pids(server)
        seconds = send_results(server.url, messages, session_id)
        return seconds, len(started) == 1 and bool(claude_pids(server) - ready)

    def log_lines(self, server: GatewayServer) -> list[str]:
        """Warnings and errors only: the expiring gateway logs at INFO."""
        return [line for line in server.log.read_text(errors="replace").splitlines()
                if " INFO " not in line and "] [INFO] " not in line]


LABELS = {
    "bare": ("bare cold CLI", "`claude -p`", "spawn to first token"),
    "approval": ("approval", "`/api/claude` (stream)", "answer to first token"),
    "functions": ("function results", "`/v1/chat/completions`", "results to final answer"),
    "expired": (f"function results after expiry ({EXPIRY_MS} ms)", "`/v1/chat/completions`",
                "results to final answer (cold resume)"),
}


def report(bench: Bench, rounds_done: int) -> None:
    for mode, errors in bench.errors.items():
        print(f"{mode}: {len(errors)} failed samples, first: {errors[0]}")
    if not bench.samples["bare"]:
        print("no bare CLI samples: nothing to compare with")
        return
    bare = statistics.median(bench.samples["bare"])
    print(f"\n{rounds_done} rounds\n")
    print("| mode | path | timed | p50 | p90 | p50 / bare cold CLI | hits |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mode in MODES:
        values = bench.samples[mode]
        if not values:
            continue
        label, path, timed = LABELS[mode]
        hits = "-" if mode == "bare" else f"{bench.hits[mode]}/{len(values)}"
        print(f"| {label} | {path} | {timed} | {statistics.median(values) * 1000:.0f} ms | "
              f"{percentile(values, 90) * 1000:.0f} ms | "
              f"{statistics.median(values) / bare:.2f} | {hits} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--max-minutes", type=float, default=6,
                        help="stop sampling after this long and report what was measured")
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_minutes * 60
    with tempfile.TemporaryDirectory() as tmp, AnthropicStandIn() as standin:
        standin.default_reply = Text(DEFAULT_REPLY)
        bench = Bench(Path(tmp), standin, deadline)
        report(bench, bench.run_then_stop(args.rounds))


if __name__ == "__main__":
    main()
