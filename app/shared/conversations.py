"""Where each chat conversation stands: a fingerprint of its history to the point it reached
(session, options, turn count, last message), shared by every worker. The matching itself
is the conversation core's (app/chat/conversations.py)."""

import json
import time
from dataclasses import dataclass

from sqlalchemy import text

from app.shared.state import StateDB


@dataclass(frozen=True)
class Point:
    """A conversation as it stood after one turn: its session, options, and where in it."""
    session_id: str
    options: dict
    turns: int = 0  # the session's turn count after that turn
    message: str | None = None  # uuid of that turn's last assistant message


class ConversationStore:
    """Conversation fingerprint to the point it reached, shared by every worker."""

    def __init__(self, db: StateDB):
        self.db = db

    def find(self, key: str) -> Point | None:
        with self.db.connect() as db:
            row = db.execute(text("SELECT session_id, options, turns, message FROM conversations "
                                  "WHERE fingerprint = :key"), {"key": key}).first()
        return None if row is None else Point(row[0], json.loads(row[1]), row[2], row[3])

    def save(self, key: str, point: Point) -> None:
        """Record where the conversation stands now, replacing where it stood."""
        with self.db.connect() as db:
            db.execute(_SAVE, {"key": key, "session_id": point.session_id, "used_at": time.time(),
                               "options": json.dumps(point.options), "turns": point.turns,
                               "message": point.message})


_SAVE = text("INSERT INTO conversations (fingerprint, session_id, options, used_at, turns, "
             "message) VALUES (:key, :session_id, :options, :used_at, :turns, :message) "
             "ON CONFLICT (fingerprint) DO UPDATE SET session_id = excluded.session_id, "
             "options = excluded.options, used_at = excluded.used_at, turns = excluded.turns, "
             "message = excluded.message")
