"""Where each Claude session lives, whose it is, how many turns it has had, and its lock.

The CLI stores a session by working directory, so a session resumes only in the
workspace it started in. The mapping is kept in the state database, and the per-session
lock is a file lock in STATE_DIR, so every gunicorn worker shares both. The
turn counter tells a worker whether a process it kept alive still knows the whole
session, or another turn ran elsewhere since. The listing's title and cost are kept
here too, and the forks the sessions API made, which start on their first turn.
"""

import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import text

from app.claude import transcripts
from app.claude.command import RunSpec
from app.errors import Conflict
from app.shared.key_folders import KeyFolders
from app.shared.state import FileLock, StateDB

TITLE_CHARS = 80


def title_of(content: list[dict]) -> str | None:
    """A session's title: the first non-empty line of the prompt (its last text block, after
    any context), cut to TITLE_CHARS."""
    texts = [block["text"] for block in content
             if block.get("type") == "text" and isinstance(block.get("text"), str)]
    text = (texts[-1] if texts else "").encode("utf-8", "replace").decode()  # lone surrogates
    line = next((line.strip() for line in text.splitlines() if line.strip()), None)
    if line is None or len(line) <= TITLE_CHARS:
        return line
    return line[:TITLE_CHARS - 1].rstrip() + "…"


class SessionStore:
    """Session id to workspace name ('' is the shared workspace), owner and turn count."""

    def __init__(self, db: StateDB, folders: KeyFolders):
        self.db = db
        self.folders = folders
        self._locks = db.folder("locks")

    def config_of(self, session_id: str) -> Path:
        """The config folder where the CLI keeps the session: its owner's."""
        return self.folders.config(self.owner_of(session_id) or "unowned")

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
        ids = {"owner": owner, "session_id": session_id}
        with self.db.connect() as db:
            db.execute(text("UPDATE sessions SET owner = :owner WHERE session_id = :session_id "
                            "AND owner = ''"), ids)
            row = db.execute(text("SELECT owner FROM sessions WHERE session_id = :session_id"),
                             ids).first()
        return row is None or row[0] == owner

    def turns_of(self, session_id: str) -> int:
        """How many turns have started on the session, on any worker."""
        row = self._row(session_id, "turns")
        return 0 if row is None else row[0]

    def _row(self, session_id: str, column: str):
        with self.db.connect() as db:
            return db.execute(text(f"SELECT {column} FROM sessions WHERE session_id = :id"),
                              {"id": session_id}).first()

    def begin_turn(self, session_id: str, workspace: str, owner: str, title: str | None = None,
                   source: str | None = None) -> int:
        """Count a turn that starts now; the first workspace, owner and title seen stay (a
        fork's title is its `source`'s). Returns the count."""
        with self.db.connect() as db:
            db.execute(text(
                "INSERT INTO sessions (session_id, workspace, created_at, used_at, turns, owner, "
                "title) VALUES (:id, :workspace, :now, :now, 1, :owner, COALESCE((SELECT title "
                "FROM sessions WHERE session_id = :source), :title)) ON CONFLICT (session_id) "
                "DO UPDATE SET used_at = excluded.used_at, turns = sessions.turns + 1, "
                "title = COALESCE(sessions.title, excluded.title)"),
                {"id": session_id, "workspace": workspace, "now": time.time(), "owner": owner,
                 "source": source, "title": title})
            return db.execute(text("SELECT turns FROM sessions WHERE session_id = :id"),
                              {"id": session_id}).scalar_one()

    def add_cost(self, session_id: str, cost_usd: float) -> None:
        """Add what a turn cost to the session's total."""
        with self.db.connect() as db:
            db.execute(text("UPDATE sessions SET cost_usd = cost_usd + :cost WHERE session_id = "
                            ":id"), {"cost": cost_usd, "id": session_id})

    def add_fork(self, session_id: str, source: str, fork_of: str, fork_at: str | None) -> None:
        """Record a new session that continues `fork_of` after message `fork_at`; workspace,
        owner, title and turn count come from `source` (a pending fork passes its own)."""
        with self.db.connect() as db:
            db.execute(text(
                "INSERT INTO sessions (session_id, workspace, created_at, used_at, turns, owner, "
                "title, fork_of, fork_at) SELECT :id, workspace, :now, :now, turns, owner, title, "
                ":fork_of, :fork_at FROM sessions WHERE session_id = :source"),
                {"id": session_id, "now": time.time(), "fork_of": fork_of, "fork_at": fork_at,
                 "source": source})

    def pending_fork(self, session_id: str) -> tuple[str, str | None] | None:
        """Where a fork the sessions API made starts, (session, message), until its first turn
        has written the fork's own file; None for any other session."""
        row = self._row(session_id, "fork_of, fork_at")
        if row is None or row[0] is None or \
                transcripts.find(session_id, self.config_of(session_id)) is not None:
            return None
        return row[0], row[1]

    def launch_spec(self, spec: RunSpec) -> RunSpec:
        """What a resumed turn starts: a pending fork resumes its source as it stood when
        forked, with the CLI told to keep the fork's id."""
        start = self.pending_fork(spec.resume) if spec.resume and not spec.fork_at else None
        if start is None:
            return spec
        return replace(spec, resume=start[0], fork_at=start[1], fork_as=spec.resume)

    def pending_forks_of(self, session_id: str) -> list[str]:
        """The forks that still start from this session's file."""
        with self.db.connect() as db:
            forks = db.execute(text("SELECT session_id FROM sessions WHERE fork_of = :id"),
                               {"id": session_id}).scalars().all()
        return [fork for fork in forks if self.pending_fork(fork) is not None]

    def forget(self, session_id: str) -> None:
        """Drop the session and the conversations that lead to it."""
        with self.db.connect() as db:
            db.execute(text("DELETE FROM sessions WHERE session_id = :id"), {"id": session_id})
            db.execute(text("DELETE FROM conversations WHERE session_id = :id"),
                       {"id": session_id})

    def last_message_of(self, session_id: str) -> str | None:
        """The newest message a live process printed for the session, which its file must
        hold before another process resumes it."""
        row = self._row(session_id, "last_message")
        return row[0] if row else None

    def note_message(self, session_id: str, message_uuid: str | None) -> None:
        with self.db.connect() as db:
            db.execute(text("UPDATE sessions SET last_message = :message WHERE session_id = "
                            ":id"), {"message": message_uuid, "id": session_id})

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
