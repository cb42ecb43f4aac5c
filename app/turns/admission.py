"""How a turn gets its process: a parked turn taken over, then idle, warm, a free slot, the queue.

The session's idle process serves it if it missed no turn and has the same launch
options; else a warm one started for these options; else a new one in a free budget
slot; else one that a slot brings after waiting in the host's queue. A request that
cannot stream waits the whole queue timeout before it answers; a stream waits a first
part, then the rest with keep-alives, once its headers are sent.
"""

import time
from dataclasses import replace
from typing import Callable, Generator

from loguru import logger

from app.claude import transcripts
from app.claude.budget import Budget, QueueFull, Slot, Ticket
from app.claude.command import RunSpec
from app.claude.events import KEEPALIVE, Event, KeepAlive, error_result
from app.claude.pool import Kept, Launcher, Parked, ProcessPool
from app.errors import TooManyRequests
from app.settings import Settings
from app.shared.key_folders import KeyFolders
from app.shared.seam import SessionStore

TRANSCRIPT_WAIT_SECONDS = 2.0


def goes_on(parked: Parked, owner: str, answer: Callable[[Parked], bool] | None) -> bool:
    """Whether this request answers the session's parked turn; if not, that turn ends."""
    if parked.owner == owner and answer is not None and answer(parked):
        return True
    parked.abandon("The user sent a new message instead of answering.")
    return False


class Admission:
    """One turn's way to a process; `close()` leaves the queue if it still waits there."""

    def __init__(self, pool: ProcessPool, budget: Budget, sessions: SessionStore,
                 folders: KeyFolders, launch: Launcher, settings: Settings, spec: RunSpec,
                 owner: str, keepalive: float):
        self._pool = pool
        self._budget = budget
        self._sessions = sessions
        self._folders = folders
        self._launch = launch
        self._settings = settings
        self._spec = spec
        self._owner = owner
        self._keepalive = keepalive
        self._ticket: Ticket | None = None
        self._queue_deadline = 0.0

    @property
    def _launch_spec(self) -> RunSpec:
        """What the process is started with, less the session it resumes (or forks)."""
        return replace(self._spec, resume=None, fork_at=None)

    def reuse(self) -> Kept | None:
        """The session's idle process, or a warm one for a new conversation."""
        if self._spec.fork_at:
            return None  # a fork starts from the session's file, as it stood
        if self._spec.resume:
            turns = self._sessions.turns_of(self._spec.resume)
            return self._pool.take_idle(self._spec.resume, self._launch_spec, turns)
        return self._pool.take_warm(self._launch_spec)

    def slot(self, stream: bool) -> Slot | None:
        """A free slot now, or after the wait in the queue (None: a stream waits on)."""
        return self._budget.try_take() or self._queue(stream)

    def _queue(self, stream: bool) -> Slot | None:
        """Wait in the host's queue: all of it here, or a first part if a stream can go on."""
        settings = self._settings
        try:
            self._ticket = self._budget.enqueue()
        except QueueFull:
            raise TooManyRequests(f"All {settings.max_processes} Claude Code processes are busy "
                                  f"and {settings.queue_max} requests already wait; retry "
                                  "later.") from None
        total = settings.queue_timeout_ms / 1000
        first = min(total, self._keepalive) if stream else total
        slot = self._ticket.wait(first)
        if slot is None and first >= total:
            raise self._queue_timeout()
        self._ticket = None if slot is not None else self._ticket
        self._queue_deadline = time.monotonic() + total - first
        return slot

    def _queue_timeout(self) -> TooManyRequests:
        settings = self._settings
        return TooManyRequests(f"All {settings.max_processes} Claude Code processes stayed busy "
                               f"for {settings.queue_timeout_ms / 1000:g} s; retry later.")

    def wait(self, interrupted: Callable[[], bool]) -> Generator[KeepAlive, None, Slot | Event]:
        """Keep a stream alive while it waits for a slot; return the slot, or a result if the
        turn cannot run."""
        ticket, session_id = self._ticket, self._spec.resume
        assert ticket is not None, "only a turn left waiting in the queue waits on"
        while True:
            if interrupted():
                ticket.cancel()
                return error_result("interrupted", "The turn was interrupted before it started.",
                                    session_id)
            remaining = self._queue_deadline - time.monotonic()
            slot = ticket.wait(max(0.0, min(self._keepalive, remaining)))
            if slot is not None:
                self._ticket = None
                return slot
            if remaining <= 0:
                error = self._queue_timeout()
                return error_result(error.code or "error", error.message, session_id)
            yield KEEPALIVE

    def start(self, slot: Slot) -> Kept:
        """Start the turn's process in `slot` (freed if the start fails)."""
        try:
            spec = self._spec
            if spec.resume:
                self._wait_for_transcript(spec.resume)
                spec = self._sessions.launch_spec(spec)  # a fork's first turn
            process = self._launch(spec, slot)
        except BaseException:
            slot.release()
            raise
        return Kept(process, slot, self._launch_spec)

    def _wait_for_transcript(self, session_id: str) -> None:
        """A process that answered the last turn may not have written it yet: wait for it."""
        last = self._sessions.last_message_of(session_id)
        config = self._folders.config(self._owner)
        if last and not transcripts.wait_for_message(session_id, last, TRANSCRIPT_WAIT_SECONDS,
                                                     config):
            logger.warning("session {}: its file lacks the last turn after {} s; resuming "
                           "anyway", session_id, TRANSCRIPT_WAIT_SECONDS)

    def close(self) -> None:
        """Leave the queue, if the turn still waits in it."""
        if self._ticket is not None:
            self._ticket.cancel()
