"""How a chat conversation finds its Claude session and options again.

In order: an explicit `session-id=` line; the X-Session-Id header; the echo header
in the history; a fingerprint of the history kept in SQLite (so continuity
survives clients that strip the header, other workers and restarts). When none
matches, the earlier turns are handed to Claude as context.
"""

import hashlib
import json
import time
from dataclasses import dataclass

from app.chat import options as opts
from app.chat.message import Message
from app.state import StateDB


def fingerprint(messages: list[Message], scope: str) -> str:
    """A stable hash of a conversation's user and assistant turns, per client key.

    Echo headers and whitespace are left out, so a client that strips or reflows
    them still matches; system messages are left out, as UIs edit them freely. The
    scope (the client's API key) keeps one client's chats from matching another's.
    """
    turns: list = [scope]
    for message in messages:
        if message.role not in ("user", "assistant"):
            continue
        text = opts.strip_header(message.text) if message.role == "assistant" else message.text
        images = [hashlib.sha256(i["source"]["data"].encode()).hexdigest() for i in message.images]
        turns.append([message.role, " ".join(text.split()), images])
    return hashlib.sha256(json.dumps(turns).encode()).hexdigest()


class ConversationStore:
    """Conversation fingerprint to (session id, options), shared by every worker."""

    def __init__(self, db: StateDB):
        self.db = db

    def find(self, key: str) -> tuple[str, dict] | None:
        with self.db.connect() as db:
            row = db.execute("SELECT session_id, options FROM conversations WHERE fingerprint = ?",
                             (key,)).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def save(self, key: str, session_id: str, options: dict) -> None:
        with self.db.connect() as db:
            db.execute("INSERT OR REPLACE INTO conversations VALUES (?, ?, ?, ?)",
                       (key, session_id, json.dumps(options), time.time()))


SOURCES = ("option", "header", "echo", "fingerprint")


@dataclass(frozen=True)
class Continuation:
    """Where this turn continues: its session (None: a new one), options and context."""
    session_id: str | None
    options: dict
    context: list[Message]
    source: str | None = None  # where the session came from: one of SOURCES

    @property
    def explicit(self) -> bool:
        """The client named the session itself, so a missing one is an error."""
        return self.source in ("option", "header")

    def afresh(self, history: list[Message]) -> "Continuation":
        """Start a new session carrying the history, when the inherited one is gone."""
        return Continuation(None, self.options,
                            [m for m in history if m.role in ("user", "assistant")])


def continue_conversation(messages: list[Message], given: dict, header_session: str | None,
                          store: ConversationStore, scope: str) -> Continuation:
    """Find the session and inherited options for the newest user message."""
    history = messages[:-1]
    echoed = _newest_echo(history)
    stored = store.find(fingerprint(history, scope)) if history and echoed is None else None
    inherited = echoed if echoed is not None else (stored[1] if stored else {})
    effective = opts.merge({k: v for k, v in inherited.items() if k != "session-id"},
                           {k: v for k, v in given.items() if k != "session-id"})
    candidates = zip(SOURCES, (given.get("session-id"), header_session,
                               (echoed or {}).get("session-id"), stored[0] if stored else None),
                     strict=True)
    source, session_id = next(((s, c) for s, c in candidates if c), (None, None))
    if session_id == opts.NEW_SESSION:
        return Continuation(None, effective, [], "option")
    found = Continuation(session_id, effective, [], source)
    return found if session_id else found.afresh(history)


def _newest_echo(history: list[Message]) -> dict | None:
    for message in reversed(history):
        if message.role == "assistant":
            echoed = opts.read_header(message.text)
            if echoed is not None:
                return echoed
    return None


def context_text(context: list[Message]) -> str:
    """Earlier turns no session remembers, written out so Claude still sees them."""
    lines = ["Earlier in this conversation (you have no other record of it):", ""]
    for message in context:
        speaker = "User" if message.role == "user" else "Assistant"
        text = opts.strip_header(message.text) if message.role == "assistant" else message.text
        lines += [f"{speaker}: {text}", ""]
    lines.append("The user's new message follows.")
    return "\n".join(lines)
