"""A key's sessions as the sessions API lists them: newest first, a page at a time.

Rows come from the `sessions` table (app/shared/sessions.py keeps them); a session is listed
only for the key that owns it. Pages are keyed by a session id (`after`), as OpenAI's lists are.
"""

from dataclasses import dataclass

from sqlalchemy import text

from app.errors import BadRequest
from app.shared.state import StateDB

_COLUMNS = "session_id, workspace, created_at, used_at, turns, cost_usd, title, fork_of, fork_at"


@dataclass(frozen=True)
class SessionInfo:
    """One session's row."""
    id: str
    workspace: str  # '' is the shared workspace
    created_at: float
    used_at: float  # when its newest turn started (a fork that has not run: when it was made)
    turns: int  # turns started on it; a fork starts with its source's count
    cost_usd: float  # what its own turns cost
    title: str | None
    fork_of: str | None  # made by the sessions API: the session whose file it continues
    fork_at: str | None

    def public(self) -> dict:
        """The session as the API shows it."""
        return {"id": self.id, "object": "session", "workspace": self.workspace or None,
                "created_at": int(self.created_at), "last_turn_at": int(self.used_at),
                "turns": self.turns, "total_cost_usd": round(self.cost_usd, 8),
                "title": self.title, "forked_from": self.fork_of}


def find(db: StateDB, session_id: str, owner: str) -> SessionInfo | None:
    """The owner's session, or None (unknown, or another key's)."""
    with db.connect() as conn:
        row = conn.execute(text(f"SELECT {_COLUMNS} FROM sessions WHERE session_id = :id AND "
                                "owner = :owner"), {"id": session_id, "owner": owner}).first()
    return None if row is None else SessionInfo(*row)


def page(db: StateDB, owner: str, limit: int,
         after: str | None = None) -> tuple[list[SessionInfo], bool]:
    """Up to `limit` of the owner's sessions, newest first, after session `after`; and whether
    more follow. An `after` the owner has no session of is a 400."""
    where, args = "owner = :owner", {"owner": owner, "after": after, "limit": limit + 1}
    with db.connect() as conn:
        if after is not None:
            args["used_at"] = conn.execute(text("SELECT used_at FROM sessions WHERE session_id = "
                                                ":after AND owner = :owner"), args).scalar()
            if args["used_at"] is None:
                raise BadRequest(f"'after' names no session of this key: {after}.",
                                 param="after", code="invalid_cursor")
            where += (" AND (used_at < :used_at OR (used_at = :used_at AND session_id < "
                      ":after))")
        rows = conn.execute(text(f"SELECT {_COLUMNS} FROM sessions WHERE {where} "
                                 "ORDER BY used_at DESC, session_id DESC LIMIT :limit"),
                            args).all()
    return [SessionInfo(*row) for row in rows[:limit]], len(rows) > limit
