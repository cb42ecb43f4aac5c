"""The seam for everything workers and hosts share: one small interface per mechanism.

Code above this seam names these Protocols, never an implementation, so it cannot tell
which one runs. Embedded (the default, one host): SQLite and files under STATE_DIR.
Many hosts: the stores in PostgreSQL (DATABASE_URL), session locks, signals between
workers and the host registry in Redis (REDIS_URL). The process budget and its queue are
each host's own (app/claude/budget.py) and stay out of it.
"""

from typing import Protocol

from app.claude.interrupts import Signals  # noqa: F401 (a mechanism of the seam, kept low)
from app.shared.conversations import Point
from app.shared.keys import Principal


class KeyStore(Protocol):
    """Managed API keys: made, rotated, revoked, and found by the key a client sends."""

    def create(self, name: str, scopes=..., rpm: int | None = None,
               daily_tokens: int | None = None, daily_usd: float | None = None,
               capture: bool = False) -> str: ...

    def rotate(self, name: str) -> str: ...

    def set_capture(self, name: str, on: bool) -> None: ...

    def revoke(self, name: str) -> None: ...

    def any_active(self) -> bool: ...

    def rows(self) -> list[dict]: ...

    def find(self, key: str) -> Principal | None: ...


class ConversationStore(Protocol):
    """A conversation's fingerprint (or a response id) to the point it reached."""

    def find(self, key: str) -> Point | None: ...

    def save(self, key: str, point: Point) -> None: ...


class Lock(Protocol):
    """A held session: one turn at a time runs on it."""

    def release(self) -> None: ...


class SessionLocks(Protocol):
    """One turn per session at a time, on every worker and host."""

    def lock(self, session_id: str, wait_seconds: float) -> Lock:
        """Hold the session, waiting up to `wait_seconds`; 409 session_busy past that."""

    def is_running(self, session_id: str) -> bool: ...


class UsageLedger(Protocol):
    """Each key's turns, tokens and dollars by UTC day, its spend held per call, and its
    requests per minute: exact across workers and hosts."""

    def count_turn(self, owner: str) -> None: ...

    def count_request(self, caller: Principal, now: float | None = None) -> None: ...

    def check_budget(self, caller: Principal) -> None: ...

    def report(self, caller: Principal) -> dict: ...

