"""A chat turn from a whole conversation, as chat surfaces receive it.

The newest user message's leading option lines steer the turn; the conversation
finds its session (and inherited options) again; earlier turns no session knows
go to Claude as context. Surfaces parse their wire format into a `ChatAsk` and
render what the returned `ChatTurn` streams.
"""

from dataclasses import dataclass, replace

from app.chat.conversations import Continuation, context_text, continue_conversation
from app.chat.message import Message
from app.chat.models import resolve_model
from app.chat.options import split_options
from app.chat.turn import Turn
from app.errors import BadRequest, NotFound
from app.gateway import Gateway
from app.chat.turn_options import TurnOptions


@dataclass(frozen=True)
class ChatAsk:
    """What a chat request asks, in plain values."""
    messages: list[Message]
    model: str | None  # the CLI model of the request's model name (None: the default)
    effort: str | None
    header_session: str | None  # a session named outside the messages (a header)
    owner: str  # the client key's hash: conversations never match across clients
    stream: bool
    json_schema: str | None = None  # the reply must be JSON of this schema


@dataclass(frozen=True)
class ChatTurn:
    """A started chat turn and the options it runs with (for the echo header)."""
    turn: Turn
    options: dict


def start_chat_turn(gateway: Gateway, ask: ChatAsk) -> ChatTurn:
    """Find the conversation's session and options, and start the turn."""
    given, prompt = split_options(ask.messages[-1].text)
    if not prompt.strip() and not ask.messages[-1].images:
        problem = "holds only options: add the request for Claude after them" if given \
            else "is empty: there is nothing to ask"
        raise BadRequest(f"The last message {problem}.",
                         param=f"messages[{len(ask.messages) - 1}].content")
    found = continue_conversation(ask.messages, given, ask.header_session,
                                  gateway.conversations, ask.owner)
    try:
        turn = _start(gateway, ask, found, prompt)
    except NotFound:
        if found.explicit:
            raise
        found = found.afresh(ask.messages[:-1])  # the inherited session is gone: start over
        turn = _start(gateway, ask, found, prompt)
    return ChatTurn(turn, found.options)


def _start(gateway: Gateway, ask: ChatAsk, found: Continuation, prompt: str) -> Turn:
    """Start the CLI with the user's message, earlier turns as context if no session has them."""
    texts = [context_text(found.context)] if found.context else []
    if prompt.strip():
        texts.append(prompt)
    content = [*({"type": "text", "text": text} for text in texts), *ask.messages[-1].images]
    options = _turn_options(gateway, ask, found)
    if found.session_id:
        options = replace(options,
                          fork_at=found.fork_at(gateway.sessions.turns_of(found.session_id)))
    return Turn(gateway, options, content, owner=ask.owner, stream=ask.stream)


def _turn_options(gateway: Gateway, ask: ChatAsk, found: Continuation) -> TurnOptions:
    """The conversation's options, with the messages' system prompts and the request's model."""
    options = found.options
    systems = [m.text for m in ask.messages if m.role == "system" and m.text.strip()]
    if options.get("system-prompt"):
        systems.append(options["system-prompt"])
    model = options.get("model")
    return TurnOptions.from_keys(
        options, session_id=found.session_id, system_prompt="\n\n".join(systems) or None,
        model=resolve_model(model, gateway.settings.model_aliases) if model else ask.model,
        effort=options.get("effort") or ask.effort, json_schema=ask.json_schema,
        names={"session-id": "X-Session-Id"} if found.source == "header" else {})
