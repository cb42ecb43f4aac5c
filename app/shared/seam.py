"""The seam for everything workers and hosts share: one small interface per mechanism.

Code above this seam names these Protocols, never an implementation, so it cannot tell
which one runs. Embedded (the default, one host): SQLite and files under STATE_DIR.
Many hosts: the stores in PostgreSQL (DATABASE_URL), session locks, signals between
workers and the host registry in Redis (REDIS_URL). Each store has one implementation,
which runs on either database (app/shared/state.py; app/wiring.py chooses). The process
budget and its queue are each host's own (app/claude/budget.py) and stay out of it.
"""

from pathlib import Path
from typing import Protocol

from app.claude.approvals import ANSWERED, Approval
from app.claude.command import RunSpec
from app.claude.control import Decision
from app.claude.interrupts import Signals  # noqa: F401 (a mechanism of the seam, kept low)
from app.proxy.guard import Hold
from app.proxy.prices import CallUsage
from app.shared.conversations import Point
from app.shared.keys import DEFAULT_SCOPES, Principal


class KeyStore(Protocol):
    """Managed API keys: made, rotated, revoked, and found by the key a client sends."""

    def create(self, name: str, scopes=DEFAULT_SCOPES, rpm: int | None = None,
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


class SessionStore(SessionLocks, Protocol):
    """Where each session lives (its workspace and config folder), whose it is, its turns,
    title, cost and last message, and the forks the sessions API made of it."""

    def config_of(self, session_id: str) -> Path: ...

    def workspace_of(self, session_id: str) -> str | None: ...

    def owner_of(self, session_id: str) -> str | None: ...

    def claim(self, session_id: str, owner: str) -> bool: ...

    def turns_of(self, session_id: str) -> int: ...

    def begin_turn(self, session_id: str, workspace: str, owner: str, title: str | None = None,
                   source: str | None = None) -> int: ...

    def add_cost(self, session_id: str, cost_usd: float) -> None: ...

    def add_fork(self, session_id: str, source: str, fork_of: str,
                 fork_at: str | None) -> None: ...

    def pending_fork(self, session_id: str) -> tuple[str, str | None] | None: ...

    def launch_spec(self, spec: RunSpec) -> RunSpec: ...

    def pending_forks_of(self, session_id: str) -> list[str]: ...

    def forget(self, session_id: str) -> None: ...

    def last_message_of(self, session_id: str) -> str | None: ...

    def note_message(self, session_id: str, message_uuid: str | None) -> None: ...


class UsageLedger(Protocol):
    """Each key's turns, tokens and dollars by UTC day, its spend held per call, and its
    requests per minute: exact across workers and hosts."""

    def count_turn(self, owner: str) -> None: ...

    def count_request(self, caller: Principal, now: float | None = None) -> None: ...

    def check_budget(self, caller: Principal) -> None: ...

    def report(self, caller: Principal) -> dict: ...

    def reserve(self, holder: Principal, model: str | None, body_bytes: int) -> Hold | None:
        """Hold a call's likely cost against the key's day (the proxy's SpendGuard)."""

    def settle(self, hold: Hold | None, holder: Principal, model: str | None,
               usage: CallUsage) -> None: ...


class ApprovalBook(Protocol):
    """The permission questions of every worker and host, and their answers."""

    def add(self, approval: Approval) -> None: ...

    def answer(self, approval_id: str, decision: Decision, owner: str | None = None,
               status: str = ANSWERED) -> bool: ...

    def answer_for(self, approval_id: str, owner: str, decision: Decision) -> None: ...

    def pending(self, owner: str) -> list[dict]: ...

    def decisions(self, approval_ids: list[str]) -> dict[str, dict]: ...
