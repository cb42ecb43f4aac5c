"""Where each Claude session lives, whose it is, how many turns it has had, and its lock.

The CLI stores a session by working directory, so a session resumes only in the
workspace it started in. The mapping is kept in SQLite under STATE_DIR, and the
per-session lock is a file lock there, so every gunicorn worker shares both. The
turn counter tells a worker whether a process it kept alive still knows the whole
session, or another turn ran elsewhere since.
"""

import time
from pathlib import Path

from app.errors import Conflict
from app.state import FileLock, StateDB


class SessionStore:
    """Session id to workspace name ('' is the shared workspace), owner and turn count."""

    def __init__(self, db: StateDB):
        self.db = db
        self._locks = db.folder("locks")

    def workspace_of(self, session_id: str) -> str | None:
        """The workspace the session started in, or None if this server never saw it."""
        row = self._row(session_id, "workspace")
        return None if row is None else row[0]

    def owner_of(self, session_id: str) -> str | None:
        """The hash of the key that started the session, or None if unknown."""
        row = self._row(session_id, "owner")
        return None if row is None else row[0]

    def claim(self, session_id: str, owner: str) -> bool:
        """Tell whether `owner` may use the session; one recorded before owners were (owner
        '') becomes the first caller's."""
        with self.db.connect() as db:
            db.execute("UPDATE sessions SET owner = ? WHERE session_id = ? AND owner = ''",
                       (owner, session_id))
            row = db.execute("SELECT owner FROM sessions WHERE session_id = ?",
                             (session_id,)).fetchone()
        return row is None or row[0] == owner

    def turns_of(self, session_id: str) -> int:
        """How many turns have started on the session, on any worker."""
        row = self._row(session_id, "turns")
        return 0 if row is None else row[0]

    def _row(self, session_id: str, column: str):
        with self.db.connect() as db:
            return db.execute(f"SELECT {column} FROM sessions WHERE session_id = ?",
                              (session_id,)).fetchone()

    def begin_turn(self, session_id: str, workspace: str, owner: str) -> int:
        """Count a turn that starts now; the first workspace and owner seen stay. Returns it."""
        now = time.time()
        with self.db.connect() as db:
            db.execute(
                "INSERT INTO sessions (session_id, workspace, created_at, used_at, turns, owner) "
                "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT(session_id) DO UPDATE SET "
                "used_at = excluded.used_at, turns = turns + 1",
                (session_id, workspace, now, now, owner))
            return db.execute("SELECT turns FROM sessions WHERE session_id = ?",
                              (session_id,)).fetchone()[0]

    def last_message_of(self, session_id: str) -> str | None:
        """The newest message a live process printed for the session, which its file must
        hold before another process resumes it."""
        row = self._row(session_id, "last_message")
        return row[0] if row else None

    def note_message(self, session_id: str, message_uuid: str | None) -> None:
        with self.db.connect() as db:
            db.execute("UPDATE sessions SET last_message = ? WHERE session_id = ?",
                       (message_uuid, session_id))

    def lock_path(self, session_id: str) -> Path:
        return self._locks / f"{session_id}.lock"

    def lock(self, session_id: str, wait_seconds: float) -> FileLock:
        """Hold the session for one turn, waiting a bounded time for a running one."""
        def busy() -> Conflict:
            return Conflict(f"Session {session_id} is busy with another request; retry when it "
                            "has finished.", param="session-id", code="session_busy")
        return FileLock.acquire(self.lock_path(session_id), wait_seconds, busy)

    def is_running(self, session_id: str) -> bool:
        """Tell whether a turn of the session runs now, in any worker."""
        return FileLock.is_held(self.lock_path(session_id))
