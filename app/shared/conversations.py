"""Where each chat conversation stands: a fingerprint of its history to the point it reached
(session, options, turn count, last message), shared by every worker. The matching itself
is the conversation core's (app/chat/conversations.py)."""

import json
import time
from dataclasses import dataclass

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
            row = db.execute("SELECT session_id, options, turns, message FROM conversations "
                             "WHERE fingerprint = ?", (key,)).fetchone()
        return None if row is None else Point(row[0], json.loads(row[1]), row[2], row[3])

    def save(self, key: str, point: Point) -> None:
        with self.db.connect() as db:
            db.execute("INSERT OR REPLACE INTO conversations (fingerprint, session_id, options, "
                       "used_at, turns, message) VALUES (?, ?, ?, ?, ?, ?)",
                       (key, point.session_id, json.dumps(point.options), time.time(),
                        point.turns, point.message))
