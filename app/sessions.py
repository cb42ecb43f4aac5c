"""Where each Claude session lives, and one turn at a time per session.

The CLI stores a session by working directory, so a session resumes only in the
workspace it started in. The mapping is kept in SQLite under STATE_DIR, and the
per-session lock is a file lock there, so every gunicorn worker shares both.
"""

import fcntl
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from app.errors import Conflict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    created_at REAL NOT NULL,
    used_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    fingerprint TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    options TEXT NOT NULL,
    used_at REAL NOT NULL
);
"""
_LOCK_POLL_SECONDS = 0.05


class StateDB:
    """The gateway's small SQLite database, one short connection per call."""

    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "locks").mkdir(exist_ok=True)
        self.dir = state_dir
        self.path = state_dir / "gateway.sqlite3"
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """Open, commit on success, and always close."""
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()


class SessionStore:
    """Session id to workspace name ('' is the shared workspace)."""

    def __init__(self, db: StateDB):
        self.db = db

    def workspace_of(self, session_id: str) -> str | None:
        """The workspace the session started in, or None if this server never saw it."""
        with self.db.connect() as db:
            row = db.execute("SELECT workspace FROM sessions WHERE session_id = ?",
                             (session_id,)).fetchone()
        return None if row is None else row[0]

    def remember(self, session_id: str, workspace: str) -> None:
        """Record where a session lives; the first workspace seen for it stays."""
        now = time.time()
        with self.db.connect() as db:
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?) "
                "ON CONFLICT(session_id) DO UPDATE SET used_at = excluded.used_at",
                (session_id, workspace, now, now))

    def lock(self, session_id: str, wait_seconds: float) -> "SessionLock":
        """Hold the session for one turn, waiting a bounded time for a running one."""
        return SessionLock(self.db.dir / "locks" / f"{session_id}.lock", session_id,
                           wait_seconds)


class SessionLock:
    """An exclusive file lock on one session, shared by all workers; release is idempotent."""

    def __init__(self, path: Path, session_id: str, wait_seconds: float):
        self._fd: int | None = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            _acquire(self._fd, session_id, wait_seconds)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Let the next turn of this session run."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _acquire(handle: int, session_id: str, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Conflict(f"Session {session_id} is busy with another request; retry when "
                               "it has finished.", param="session-id",
                               code="session_busy") from None
            time.sleep(_LOCK_POLL_SECONDS)
