"""The deep health check: one tiny real turn, whose verdict `/health?deep=1`, the start-up
check and `doctor` read.

The turn runs in the background and a request waits for it a bounded time, so a load
balancer always gets an answer within seconds, whatever the API does; its verdict is
kept a minute, and while it says Claude cannot work plain `/health` says so too. It
takes a process slot as a request would: from the free ones, making room by giving up
an idle or warm process, never ahead of a request that waits for one.
"""

import threading
import time
from dataclasses import replace
from typing import Callable

from app.claude.events import Event
from app.claude.run import ClaudeRun

FRESH_SECONDS = 60.0  # how long a verdict stands
TURN_SECONDS = 30.0  # the most a test turn may take, in the background
PROMPT = "Reply with the single word OK."
# What the turn's failure says, and the cause a person should read first.
CAUSES = (("cannot reach the Anthropic API", "cannot reach the Anthropic API"),
          ("no Anthropic credential", "not logged in"),
          ("Not logged in", "not logged in"),
          ("Invalid API key", "the Anthropic credential was refused"),
          ("hit the total timeout", "the Anthropic API did not answer in time"))


class DeepCheck:
    """One worker's test turn and its latest verdict."""

    def __init__(self, run_turn: Callable[[], dict]):
        self._run_turn = run_turn
        self._lock = threading.Lock()
        self._verdict: dict | None = None
        self._at = 0.0
        self._done: threading.Event | None = None  # set when the running turn has its verdict

    def verdict(self, wait: float) -> dict:
        """The latest verdict if it still stands, else a new one, waited for up to `wait`
        seconds (then: a warning that the turn is still running)."""
        with self._lock:
            if self._verdict is not None and time.monotonic() - self._at < FRESH_SECONDS:
                return self._verdict
            done = self._start()
        if done.wait(wait):
            with self._lock:
                if self._verdict is not None:  # set before `done` is
                    return self._verdict
        return {"status": "warn", "detail": f"a test turn has not answered within {wait:g} s: "
                "the Anthropic API is slow or unreachable (the turn goes on in the background)"}

    def failure(self) -> dict | None:
        """The latest verdict, while it stands, if it says Claude cannot work."""
        with self._lock:
            verdict = self._verdict
            if verdict is None or time.monotonic() - self._at >= FRESH_SECONDS:
                return None
            return verdict if verdict["status"] in ("warn", "fail") else None

    def _start(self) -> threading.Event:
        """Start a test turn unless one runs; its event (called, with the lock held, when no
        verdict stands)."""
        if self._done is None or self._done.is_set():
            self._done = threading.Event()
            threading.Thread(target=self._run, args=(self._done,), daemon=True,
                             name="deep-check").start()
        return self._done

    def _run(self, done: threading.Event) -> None:
        try:
            verdict = self._run_turn()
        except Exception as exc:  # a check that crashes is a failed check
            verdict = {"status": "fail", "detail": f"the test turn failed: {exc}"}
        with self._lock:
            self._verdict, self._at = verdict, time.monotonic()
        done.set()


def test_turn(gateway, spec, caller) -> dict:
    """Run the tiny turn `spec` for `caller` (the gateway's own key); say what it showed."""
    if spec is None:
        return {"status": "warn", "detail": "not checked: the workspace base is not usable"}
    slot = _make_room(gateway)
    if slot is None:
        return {"status": "skip", "detail": "not checked: every Claude Code process runs a turn "
                "or requests wait for one"}
    started = time.monotonic()
    try:
        process = gateway.launch(replace(spec, persist_session=False, max_turns=1), slot)
    except Exception as exc:  # a CLI that cannot start is what this check reports
        return {"status": "fail", "detail": str(exc)}
    process.bill_to(caller)
    try:
        limits = replace(gateway.limits, total=TURN_SECONDS, inactivity=TURN_SECONDS)
        run = ClaudeRun(process, [{"type": "text", "text": PROMPT}], limits, None)
        result = next((e.data for e in run.events() if isinstance(e, Event)
                       and e.type == "result"), {})
    finally:
        process.stop()
    if result.get("is_error"):
        message = result.get("result") or "; ".join(result.get("errors") or []) or "failed"
        return {"status": "warn", "detail": f"{_cause(message)}: a test turn failed: "
                                            f"{message}"[:500]}
    return {"status": "pass",
            "detail": f"a test turn answered in {round((time.monotonic() - started) * 1000)} ms"}


def _make_room(gateway):
    """A free slot, or one an idle or warm process gives up; never one a request waits for."""
    slot = gateway.budget.try_take()
    if slot is None and not gateway.budget.queued() and gateway.pool.evict_one():
        slot = gateway.budget.try_take()
    return slot


def _cause(message: str) -> str:
    return next((cause for needle, cause in CAUSES if needle in message), "Claude cannot work")
