"""This worker's processes between turns: warm ones for new conversations, idle ones per session.

A warm process was started in advance for a launch the server sees often and
waits for its first message (it counts as warm once the CLI has answered its
handshake, i.e. has started up); an idle one has just answered a turn and keeps its
session loaded for the next. Each holds a budget slot, so it is given up (oldest
idle first, then warm) when a request anywhere on the host waits for one. One
housekeeping thread expires idle processes, answers other workers' eviction asks,
passes on interrupt requests and refills the warm pool.
"""

import threading
import time
import weakref
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable, Protocol

from loguru import logger

from app.claude import transcripts
from app.claude.budget import IDLE, RUNNING, WARM, Budget, Slot
from app.claude.control import Pause
from app.claude.command import RunSpec
from app.claude.interrupts import Signals
from app.claude.process import LiveProcess
from app.claude.run import ClaudeRun

TICK_SECONDS = 0.1
RECENT_LAUNCHES = 64  # how many new-conversation launches the warm pool learns from
RETRY_SECONDS = (1, 2, 5, 15, 60)  # pauses after warm starts that failed in a row
FAILURE_LOG_SECONDS = 60.0  # the same housekeeping failure is logged once a minute
READY_SECONDS = 30.0  # a warm process that has not reported ready by then is given up
# A warm process taken for a turn is replaced only after this pause: a start-up costs about a
# CPU-second, which would otherwise compete with the first answer of the process just taken.
TAKEN_PAUSE_SECONDS = 0.5
_pools: "weakref.WeakSet[ProcessPool]" = weakref.WeakSet()

Launcher = Callable[[RunSpec, Slot], LiveProcess]


@dataclass
class Kept:
    """A process held between turns, with what it was started for."""
    process: LiveProcess
    slot: Slot
    spec: RunSpec  # its launch options, without --resume
    session_id: str | None = None
    turns: int = 0  # the session's turn count when this process last answered
    expires: float = float("inf")
    cost: float = 0.0  # the total_cost_usd it last reported: it adds up over its turns
    started: float = 0.0  # monotonic time of a warm process's launch

    def stop(self) -> None:
        self.process.stop()


class Lock(Protocol):
    """A session's lock as a parked turn holds it (the seam's, app/shared/seam.py, which
    builds on this library and is not imported by it)."""

    def release(self) -> None: ...


@dataclass
class Parked:
    """A turn that waits, between two requests, for its client: an answer to a permission
    question or the results of its functions. Its process keeps running the turn."""
    kept: Kept
    run: ClaudeRun  # to go on reading
    session_id: str
    owner: str
    turns: int
    waits_for: Pause  # what the client must answer: a permission question, or its calls
    expires: float  # monotonic
    withdraw: Callable[[str], None]  # answers what is held with a refusal
    lock: Lock | None = None  # the session's: a waiting turn keeps it, so no resume runs beside

    def take_lock(self) -> Lock | None:
        """Hand the session's lock to the request that goes on with the turn."""
        lock, self.lock = self.lock, None
        return lock

    def abandon(self, why: str) -> None:
        """End the waiting turn: refuse what it holds, stop its process, free the session."""
        try:
            self.withdraw(why)
        finally:
            self.run.close()
            self.kept.stop()
            lock = self.take_lock()
            if lock is not None:
                lock.release()


class ProcessPool:
    """Warm and idle processes of one worker, and the running turns interrupts reach."""

    def __init__(self, budget: Budget, inbox: Signals, launcher: Launcher, warm_size: int,
                 idle_seconds: float, default_spec: Callable[[], RunSpec | None],
                 handovers: Signals | None = None, forgotten: Signals | None = None):
        self.budget = budget
        self.inbox = inbox
        self.handovers = handovers  # sessions another worker goes on with: end their waiting turn
        self.forgotten = forgotten  # sessions being deleted: stop their idle processes
        self.warm_size = warm_size
        self.idle_seconds = idle_seconds
        self.running: dict[str, Callable[[], None]] = {}  # session id -> interrupt its turn
        self.chores: list[Callable[[], None]] = []  # run first on every tick
        self._launcher = launcher
        self._default_spec = default_spec
        self._warm: list[Kept] = []
        self._idle: dict[str, Kept] = {}
        self._parked: dict[str, Parked] = {}  # session id -> its turn waiting for the client
        self._recent: deque[RunSpec] = deque(maxlen=RECENT_LAUNCHES)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0  # warm starts that failed in a row
        self._next_refill = 0.0
        budget.evict_local = self.evict_one
        _pools.add(self)

    def start(self) -> None:
        """Start housekeeping (in the worker, after the fork)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._housekeep, daemon=True,
                                            name="claude-pool")
            self._thread.start()

    # -- taking and keeping -----------------------------------------------------------------

    def take_warm(self, spec: RunSpec) -> Kept | None:
        """A warm process started for exactly these launch options, if there is one."""
        with self._lock:
            self._recent.append(spec)
            for kept in self._warm:
                if kept.spec == spec and kept.process.alive:
                    self._warm.remove(kept)
                    kept.slot.mark(RUNNING)
                    self._failures = 0  # it started well enough to be used
                    self._next_refill = max(self._next_refill,
                                            time.monotonic() + TAKEN_PAUSE_SECONDS)
                    return kept
        return None

    def take_idle(self, session_id: str, spec: RunSpec, turns: int) -> Kept | None:
        """The session's idle process, if it has the same options and missed no turn."""
        with self._lock:
            kept = self._idle.pop(session_id, None)
        if kept is None:
            return None
        if kept.spec == spec and kept.turns == turns and kept.process.alive:
            kept.slot.mark(RUNNING)
            return kept
        why = "options changed" if kept.spec != spec else "another turn ran elsewhere"
        logger.info("closing the live process of session {}: {}", session_id, why)
        kept.stop()
        return None

    def keep(self, kept: Kept, session_id: str, turns: int) -> None:
        """Hold a process that has answered a turn, for the session's next one."""
        if not self.idle_seconds or self._closed.is_set() or not kept.process.alive:
            kept.stop()
            return
        kept.session_id, kept.turns = session_id, turns
        kept.expires = time.monotonic() + self.idle_seconds
        if kept.process.api_pass is not None:
            kept.process.api_pass.unbind()  # no turn runs on it: its calls are refused
        kept.slot.mark(IDLE)
        with self._lock:
            closed = self._closed.is_set()  # checked again: close() may have run meanwhile
            previous = self._idle.pop(session_id, None)
            if not closed:
                self._idle[session_id] = kept
        for stale in (previous, kept if closed else None):
            if stale is not None:
                stale.stop()
        if self.budget.queued():
            self.evict_one()  # someone waits for a slot: a running turn beats an idle one

    def park(self, parked: Parked) -> None:
        """Hold a turn that waits for its client until the next request or its expiry."""
        with self._lock:
            closed = self._closed.is_set()
            previous = self._parked.pop(parked.session_id, None)
            if not closed:
                self._parked[parked.session_id] = parked
        for stale in (previous, parked if closed else None):
            if stale is not None:
                stale.abandon("The gateway is shutting down." if closed else
                              "A newer request of this conversation replaced it.")

    def take_parked(self, session_id: str) -> Parked | None:
        """The session's waiting turn, if it still runs."""
        with self._lock:
            parked = self._parked.pop(session_id, None)
        if parked is not None and not parked.kept.process.alive:
            parked.abandon("Its process ended.")
            return None
        return parked

    def parked_session(self, tool_use_id: str) -> str | None:
        """The session whose waiting turn holds this function call."""
        with self._lock:
            return next((p.session_id for p in self._parked.values()
                         if tool_use_id in p.waits_for.get("calls", ())), None)

    def forget(self, session_id: str) -> None:
        """Stop the session's idle process here, and ask every other worker to (a session
        being deleted: a process writes its file again as it exits)."""
        if self.forgotten is not None:
            self.forgotten.request(session_id)  # void after a few seconds, not cleared
        self._drop_idle(session_id)

    def _drop_idle(self, session_id: str) -> None:
        """Stop the session's idle process, if this worker holds one, then delete its file."""
        with self._lock:
            kept = self._idle.pop(session_id, None)
        if kept is not None:
            kept.stop()
            if kept.spec.home is not None:  # what it wrote as it exited
                transcripts.delete(session_id, kept.spec.home / ".claude")

    def evict_one(self) -> bool:
        """Give up the oldest idle process, else a warm one; tell whether one was."""
        with self._lock:
            if self._idle:
                session_id = min(self._idle, key=lambda sid: self._idle[sid].expires)
                victim = self._idle.pop(session_id)
            elif self._warm:
                victim = self._warm.pop(0)
            else:
                return False
        victim.stop()
        return True

    def close(self) -> None:
        """Stop housekeeping and every process held here."""
        with self._lock:
            self._closed.set()
            kept = [*self._warm, *self._idle.values()]
            parked = list(self._parked.values())
            self._warm.clear()
            self._idle.clear()
            self._parked.clear()
        for item in kept:
            item.stop()
        for waiting in parked:
            waiting.abandon("The gateway is shutting down.")
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- housekeeping -----------------------------------------------------------------------

    def _housekeep(self) -> None:
        last_failure, logged_at = "", 0.0
        while not self._closed.wait(TICK_SECONDS):
            try:
                self._tick()
            except Exception as exc:  # housekeeping must outlive one bad tick
                now = time.monotonic()
                if str(exc) != last_failure or now - logged_at > FAILURE_LOG_SECONDS:
                    logger.opt(exception=exc).error("process pool housekeeping failed")
                    last_failure, logged_at = str(exc), now

    def _tick(self) -> None:
        for chore in self.chores:
            chore()
        self._expire_idle()
        if self.budget.eviction_requested():
            self.evict_one()
        for session_id in self.inbox.pending():
            interrupt = self.running.get(session_id)
            if interrupt is not None:
                self.inbox.clear(session_id)
                interrupt()
            elif self._end_parked(session_id, "The turn was interrupted."):
                self.inbox.clear(session_id)
        if self.handovers is not None:
            for session_id in self.handovers.pending():
                if self._end_parked(session_id, "The conversation went on in another worker."):
                    self.handovers.clear(session_id)
        if self.forgotten is not None:
            for session_id in self.forgotten.pending():
                self._drop_idle(session_id)
        self._promote_ready()
        self._refill()

    def _end_parked(self, session_id: str, why: str) -> bool:
        """End the session's waiting turn if this worker holds one; tell whether it did."""
        with self._lock:
            parked = self._parked.pop(session_id, None)
        if parked is not None:
            logger.info("session {}: ending its waiting turn: {}", session_id, why)
            parked.abandon(why)
        return parked is not None

    def _expire_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            ended = [session_id for session_id, kept in self._idle.items()
                     if kept.expires <= now or not kept.process.alive]
            expired = [self._idle.pop(session_id) for session_id in ended]
            dead = [k for k in self._warm if not k.process.alive]
            for kept in dead:
                self._warm.remove(kept)
            overdue = [p for p in self._parked.values()
                       if p.expires <= now or not p.kept.process.alive]
            for parked in overdue:
                del self._parked[parked.session_id]
        for kept in [*expired, *dead]:
            kept.stop()
        for parked in overdue:
            logger.info("session {}: its client did not come back in time; ending the turn",
                        parked.session_id)
            parked.abandon("The client did not answer in time, so the turn was ended.")
        if dead:
            self._failed(f"a warm claude process exited unused: {dead[0].process.stderr_tail}")

    def _promote_ready(self) -> None:
        """Count a warm process as warm once it has reported ready; give up one that never does."""
        now = time.monotonic()
        with self._lock:  # take_warm marks a taken one running under this lock too
            starting = [kept for kept in self._warm if kept.slot.state != WARM]
            for kept in starting:
                if kept.process.ready:
                    kept.slot.mark(WARM)
                    logger.debug("warm claude pid {} ready after {:.0f} ms", kept.process.pid,
                                 (now - kept.started) * 1000)
            stuck = [kept for kept in starting if kept.slot.state != WARM
                     and now - kept.started > READY_SECONDS]
            for kept in stuck:
                self._warm.remove(kept)
        for kept in stuck:
            kept.stop()
        if stuck:
            self._failed(f"a warm claude process did not report ready within {READY_SECONDS:g} s: "
                         f"{stuck[0].process.stderr_tail}")

    def wanted(self) -> list[RunSpec]:
        """Launch options worth a warm process, most wanted first: the most used recent ones,
        the default (the operator's key, with no options) counting as used once more, and
        first among equals."""
        default = self._default_spec()
        with self._lock:
            counts = Counter(self._recent)
        if default is not None:
            counts[default] += 1
        ranked = sorted(counts, key=lambda spec: (-counts[spec], spec != default))
        return ranked

    def _refill(self) -> None:
        """Start one missing warm process, only with a slot nobody waits for."""
        if not self.warm_size or self._closed.is_set() or time.monotonic() < self._next_refill:
            return
        with self._lock:
            have = [kept.spec for kept in self._warm]
        missing = [spec for spec in self.wanted()[:self.warm_size] if spec not in have]
        if not missing or len(have) >= self.warm_size and not self._drop_unwanted():
            return
        slot = self.budget.try_take() or self._room_from_idle()
        if slot is None:
            return
        try:
            process = self._launcher(missing[0], slot)
        except Exception as exc:
            slot.release()
            self._failed(f"could not start a warm claude process: {exc}")
            return
        slot.mark(RUNNING, process.pid)  # starting up: warm once it has reported ready
        process.handshake()
        with self._lock:
            closed = self._closed.is_set()  # close() may have run while it started
            if not closed:
                self._warm.append(Kept(process, slot, missing[0], started=time.monotonic()))
        if closed:
            process.stop()

    def _room_from_idle(self) -> Slot | None:
        """With the cap full of this worker's idle conversations and nobody waiting, give up
        the least recently used one for the warm process: a new conversation then starts
        warm, and that conversation's next turn resumes cold, as it would after expiry."""
        if self.budget.queued():
            return None
        with self._lock:
            if not self._idle:
                return None
            session_id = min(self._idle, key=lambda sid: self._idle[sid].expires)
            victim = self._idle.pop(session_id)
        logger.info("giving up the idle process of session {} (least recently used) for a warm "
                    "one", victim.session_id)
        victim.stop()
        return self.budget.try_take()

    def _failed(self, why: str) -> None:
        """Pause warm starts, longer each time in a row: a broken CLI is not restarted in a loop."""
        pause = RETRY_SECONDS[min(self._failures, len(RETRY_SECONDS) - 1)]
        if self._failures == 0:
            logger.warning("{}; retrying in {} s, then less often", why, pause)
        self._failures += 1
        self._next_refill = time.monotonic() + pause

    def _drop_unwanted(self) -> bool:
        """Make room for a more wanted warm process; tell whether room was made."""
        wanted = self.wanted()[:self.warm_size]
        with self._lock:
            unwanted = [kept for kept in self._warm if kept.spec not in wanted]
            if not unwanted:
                return False
            self._warm.remove(unwanted[0])
        unwanted[0].stop()
        return True


def close_all() -> None:
    """Stop the warm and idle processes of every pool in this worker (running turns go on)."""
    for pool in list(_pools):
        pool.close()
