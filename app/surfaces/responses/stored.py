"""Response ids and the conversation points they stand for, so `previous_response_id`
continues the right session at the right turn on any worker, after restarts too.

They live beside the conversation fingerprints (the same key-to-point table), under a
key that also holds the client's key hash: one client never finds another's response.
"""

import hashlib
import json

from app.errors import NotFound
from app.shared.conversations import Point
from app.shared.seam import ConversationStore


def _key(response_id: str, scope: str) -> str:
    return hashlib.sha256(json.dumps(["response", scope, response_id]).encode()).hexdigest()


def keep(store: ConversationStore, response_id: str, scope: str, point: Point) -> None:
    """Remember where the conversation stood once this response was made."""
    store.save(_key(response_id, scope), point)


def find(store: ConversationStore, response_id: str | None, scope: str) -> Point | None:
    """The point a previous response reached; 404 for one never stored for this client."""
    if response_id is None:
        return None
    point = store.find(_key(response_id, scope))
    if point is None:
        raise NotFound(f"Previous response with id {response_id!r} not found.",
                       param="previous_response_id", code="previous_response_not_found")
    return point
