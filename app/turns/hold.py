"""The session a turn runs in, held so no other turn runs beside it, and reachable by interrupts.

A session's lock comes from its turn parked in this worker (the request answers that
turn), or else once the session is free: a turn parked in another worker is asked to
end, so this request can resume the session. While held, interrupts for the session,
from this worker or another, reach the turn.
"""

from typing import Callable

from app.claude.interrupts import Signals
from app.claude.pool import Parked, ProcessPool
from app.errors import Conflict
from app.shared.seam import Lock, SessionLocks


class SessionHold:
    """One turn's hold on its session: the lock, a parked turn handed over, its interrupt."""

    def __init__(self, locks: SessionLocks, pool: ProcessPool, inbox: Signals,
                 wait_seconds: float, interrupt: Callable[[], None]):
        self.lock: Lock | None = None
        self.parked: Parked | None = None  # the session's turn that waited here for this request
        self._locks = locks
        self._pool = pool
        self._inbox = inbox
        self._wait_seconds = wait_seconds
        self._interrupt = interrupt

    def take(self, session_id: str) -> None:
        """Hold a session the turn resumes, waiting for it if need be (409 past the wait)."""
        self.lock = self._acquire(session_id)
        self.reach(session_id)

    def _acquire(self, session_id: str) -> Lock | None:
        """The session's lock: from its turn waiting in this worker, else once free (a turn
        waiting in another worker is asked to end, so this request can resume the session)."""
        self.parked = self._pool.take_parked(session_id)
        if self.parked is not None:
            return self.parked.take_lock()
        handovers = self._pool.handovers
        if handovers is not None and self._locks.is_running(session_id):
            handovers.request(session_id)  # ignored unless a worker holds it waiting
        lock = self._locks.lock(session_id, self._wait_seconds)
        if handovers is not None:
            handovers.clear(session_id)
        return lock

    def take_parked(self) -> Parked | None:
        """Hand the parked turn of the session, if any, to whoever goes on with it."""
        parked, self.parked = self.parked, None
        return parked

    def remember(self, session_id: str) -> None:
        """Hold a new session if it is free (a resume that already waits goes after), and let
        interrupts reach the turn under its id."""
        if self.lock is None:
            try:
                self.lock = self._locks.lock(session_id, 0)
            except Conflict:
                pass  # a request resuming it already waits its turn
        self.reach(session_id)

    def reach(self, session_id: str) -> None:
        """Let interrupts reach this turn from now on, from this worker or another."""
        self._inbox.clear(session_id)  # a request older than this turn
        self._pool.running[session_id] = self._interrupt

    def give_lock(self) -> Lock | None:
        """Hand the lock on (to a parked turn, which keeps the session between requests)."""
        lock, self.lock = self.lock, None
        return lock

    def drop_parked(self, why: str) -> None:
        """End a parked turn taken over by a request that failed before it went on."""
        if self.parked is not None:
            self.parked.abandon(why)

    def release(self) -> None:
        """Stop interrupts reaching the turn and free the session."""
        running = self._pool.running
        for session_id in [s for s, stop in list(running.items()) if stop == self._interrupt]:
            del running[session_id]
        if self.lock is not None:
            self.lock.release()
