"""How a chat conversation finds its Claude session and options again.

In order: an explicit `session-id=` line; the X-Session-Id header; the echo header
in the history; a fingerprint of the history kept in SQLite (so continuity
survives clients that strip the header, other workers and restarts). When none
matches, the earlier turns are handed to Claude as context.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass

from app.chat import options as opts
from app.chat.message import Message, ToolCall
from app.shared.conversations import Point
from app.shared.seam import ConversationStore


def fingerprint(messages: list[Message], scope: str) -> str:
    """A stable hash of a conversation's user and assistant turns, per client key.

    Echo headers and whitespace are left out, so a client that strips or reflows
    them still matches; system messages are left out, as UIs edit them freely. The
    scope (the client's API key) keeps one client's chats from matching another's.
    """
    turns: list = [scope]
    for message in messages:
        if message.role not in ("user", "assistant", "tool"):
            continue
        text = opts.strip_header(message.text) if message.role == "assistant" else message.text
        images = [hashlib.sha256(i["source"]["data"].encode()).hexdigest() for i in message.images]
        turn = [message.role, " ".join(text.split()), images]
        if message.tool_calls:  # ids only: clients re-serialise the arguments as they like
            turn.append([call.id for call in message.tool_calls])
        if message.tool_call_id:
            turn.append(message.tool_call_id)
        turns.append(turn)
    return hashlib.sha256(json.dumps(turns).encode()).hexdigest()


SOURCES = ("option", "header", "previous", "echo", "fingerprint")


@dataclass(frozen=True)
class Continuation:
    """Where this turn continues: its session (None: a new one), options and context."""
    session_id: str | None
    options: dict
    context: list[Message]
    source: str | None = None  # where the session came from: one of SOURCES
    point: Point | None = None  # where the history sent stands in that session, if known

    def fork_at(self, turns_now: int) -> str | None:
        """The message to fork the session at when the history sent stops before the session's
        newest turn (a chat UI regenerated or edited a message), else None."""
        point = self.point
        if self.source in ("option", "header") or point is None \
                or point.session_id != self.session_id:
            return None
        if point.turns >= turns_now or not point.message:
            return None
        try:
            return str(uuid.UUID(point.message))
        except ValueError:
            return None

    @property
    def explicit(self) -> bool:
        """The client named the session (or a response of it), so a missing one is an error."""
        return self.source in ("option", "header", "previous")

    def afresh(self, history: list[Message]) -> "Continuation":
        """Start a new session carrying the history, when the inherited one is gone."""
        return Continuation(None, self.options,
                            [m for m in history if m.role in ("user", "assistant", "tool")])


def continue_conversation(history: list[Message], given: dict, header_session: str | None,
                          store: ConversationStore, scope: str, held_by: str | None = None,
                          previous: Point | None = None) -> Continuation:
    """Find the session and inherited options for what follows `history` (a user message, or
    function results); `held_by` is the session whose waiting turn holds those calls, and
    `previous` the point a surface already knows the conversation reached (a response id)."""
    echoed = None if previous else _newest_echo(history)
    stored = previous or (store.find(fingerprint(history, scope)) if history else None)
    inherited = echoed if echoed is not None else (stored.options if stored else {})
    effective = opts.merge({k: v for k, v in inherited.items() if k != "session-id"},
                           {k: v for k, v in given.items() if k != "session-id"})
    candidates = zip(SOURCES, (given.get("session-id"), header_session,
                               previous.session_id if previous else None,
                               (echoed or {}).get("session-id"),
                               stored.session_id if stored else held_by),
                     strict=True)
    source, session_id = next(((s, c) for s, c in candidates if c), (None, None))
    if session_id == opts.NEW_SESSION:
        return Continuation(None, effective, [], "option")
    found = Continuation(session_id, effective, [], source, stored)
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
        lines += [*_context_lines(message), ""]
    lines.append("The user's new message follows.")
    return "\n".join(lines)


def _context_lines(message: Message) -> list[str]:
    if message.role == "tool":
        return [f"Result of function call {message.tool_call_id}: {message.text}"]
    if message.role == "user":
        return [f"User: {message.text}"]
    lines = [f"Assistant: {opts.strip_header(message.text)}"]
    return lines + [f"Assistant called function {call.name} (call {call.id}) with arguments "
                    f"{call.arguments}" for call in message.tool_calls]


def results_text(results: list[Message], calls: dict[str, ToolCall]) -> str:
    """Function results whose calls no running turn holds any more (expired, another host),
    written out so Claude still gets them."""
    lines = ["The user's application ran the functions you called; their results follow "
             "(the earlier call could not take them any more):", ""]
    for result in results:
        call = calls.get(result.tool_call_id or "")
        what = f"{call.name}({call.arguments})" if call else "a function"
        lines += [f"{what}, call {result.tool_call_id}, returned:", result.text, ""]
    return "\n".join(lines).rstrip()
