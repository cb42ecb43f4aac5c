"""A chat turn from a whole conversation, as chat surfaces receive it.

The newest user message's leading option lines steer the turn; the conversation
finds its session (and inherited options) again; earlier turns no session knows
go to Claude as context. Surfaces parse their wire format into a `ChatAsk` and
render what the returned `ChatTurn` streams.
"""

import re
from dataclasses import dataclass, replace

from app.chat.conversations import (
    Continuation,
    Point,
    context_text,
    continue_conversation,
    results_text,
)
from app.chat.message import Message
from app.chat.models import resolve_model
from app.chat.options import split_options
from app.claude import approvals
from app.claude.client_tools import ClientTool
from app.claude.control import Decision
from app.claude.pool import Parked
from app.errors import BadRequest, NotFound
from app.services import Gateway
from app.shared.keys import Principal
from app.turns.options import TurnOptions
from app.turns.turn import Turn

ANSWERS = ("yes", "no", "always")
SPELLINGS = {"header": "X-Session-Id", "previous": "previous_response_id"}  # for errors


@dataclass(frozen=True)
class ChatAsk:
    """What a chat request asks, in plain values."""
    messages: list[Message]
    model: str | None  # the CLI model of the request's model name (None: the default)
    effort: str | None
    header_session: str | None  # a session named outside the messages (a header)
    caller: Principal  # who asks: conversations never match across keys
    stream: bool
    json_schema: str | None = None  # the reply must be JSON of this schema
    tools: tuple[ClientTool, ...] = ()  # the client's functions, offered to Claude
    tool_guidance: str | None = None  # how Claude should use them (tool_choice)
    previous: Point | None = None  # where the conversation stands, if the surface knows it

    @property
    def owner(self) -> str:
        return self.caller.owner

    @property
    def results(self) -> list[Message]:
        """The function results that end the conversation, if it ends with some."""
        start = len(self.messages)
        while start and self.messages[start - 1].role == "tool":
            start -= 1
        return self.messages[start:]


@dataclass(frozen=True)
class ChatTurn:
    """A started chat turn and the options it runs with (for the echo header)."""
    turn: Turn
    options: dict


def start_chat_turn(gateway: Gateway, ask: ChatAsk) -> ChatTurn:
    """Find the conversation's session and options, and start the turn."""
    results = ask.results
    if results:
        given: dict = {}
        prompt = ""
        history = ask.messages[:len(ask.messages) - len(results)]
        held_by = next(filter(None, (gateway.pool.parked_session(m.tool_call_id)
                                     for m in results if m.tool_call_id)), None)
    else:
        given, prompt = split_options(ask.messages[-1].text)
        if not prompt.strip() and not ask.messages[-1].images:
            problem = "holds only options: add the request for Claude after them" if given \
                else "is empty: there is nothing to ask"
            raise BadRequest(f"The last message {problem}.",
                             param=f"messages[{len(ask.messages) - 1}].content")
        history, held_by = ask.messages[:-1], None
    found = continue_conversation(history, given, ask.header_session, gateway.conversations,
                                  ask.owner, held_by, ask.previous)
    answer = ParkedAnswer(gateway, results, prompt)
    try:
        turn = _start(gateway, ask, found, prompt, answer)
    except NotFound:
        if found.explicit:
            raise
        found = found.afresh(history)  # the inherited session is gone: start over
        turn = _start(gateway, ask, found, prompt, answer)
    options = found.options
    if answer.rule:  # "always": the conversation's next turns allow the tool too
        rules = options.get("allowed-tools", [])
        options = {**options, "allowed-tools": [*rules, answer.rule]} \
            if answer.rule not in rules else options
    return ChatTurn(turn, options)


class ParkedAnswer:
    """How a chat request answers its session's waiting turn: function results for held
    calls, or yes / no / always for a permission question."""

    def __init__(self, gateway: Gateway, results: list[Message], prompt: str):
        self.gateway = gateway
        self.results = {m.tool_call_id: m.text for m in results}
        self.word = _yes_no(prompt)
        self.rule: str | None = None  # the rule "always" added

    def __call__(self, parked: Parked) -> bool:
        """Answer what the turn waits on; False if this request does not answer it."""
        calls = parked.waits_for.get("calls")
        if calls:
            return self._give_results(parked, calls)
        question = parked.waits_for.get("approval")
        if question is None or self.word is None or self.results:
            return False
        decision: Decision
        if self.word == "no":
            decision = approvals.deny("The user said no.")
        else:
            decision = approvals.allow(always=self.word == "always")
        if not self.gateway.desk.decide(question["request_id"], decision):
            return False  # answered meanwhile (a POST), or expired
        if self.word == "always":
            self.rule = question.get("rule") or question["tool_name"]
        return True

    def _give_results(self, parked: Parked, calls: list[str]) -> bool:
        server = parked.kept.process.tool_server
        if server is None or not self.results.keys() & set(calls):
            return False
        for call_id in calls:
            if call_id in self.results:
                server.answer(call_id, self.results[call_id])
            else:
                server.answer(call_id, "The client returned no result for this call.",
                              is_error=True)
        return True


def _yes_no(prompt: str) -> str | None:
    """yes, no or always, when that is all the message says (case and punctuation aside)."""
    word = re.sub(r"[\W_]+", "", prompt.lower())
    return word if word in ANSWERS else None


def _start(gateway: Gateway, ask: ChatAsk, found: Continuation, prompt: str,
           answer: ParkedAnswer) -> Turn:
    """Start the CLI with the user's message, earlier turns as context if no session has them."""
    texts = [context_text(found.context)] if found.context else []
    if prompt.strip():
        texts.append(prompt)
    elif ask.results and not found.context:
        texts.append(results_text(ask.results, _calls_before(ask)))
    content = [*({"type": "text", "text": text} for text in texts), *ask.messages[-1].images]
    options = _turn_options(gateway, ask, found)
    if found.session_id:
        options = replace(options,
                          fork_at=found.fork_at(gateway.sessions.turns_of(found.session_id)))
    return Turn(gateway, options, content, caller=ask.caller, stream=ask.stream, answer=answer)


def _calls_before(ask: ChatAsk) -> dict:
    """The calls the trailing function results answer, by id (none sent: a response the
    surface knows made them)."""
    at = len(ask.messages) - len(ask.results) - 1
    return {call.id: call for call in ask.messages[at].tool_calls} if at >= 0 else {}


def _turn_options(gateway: Gateway, ask: ChatAsk, found: Continuation) -> TurnOptions:
    """The conversation's options, with the messages' system prompts and the request's model."""
    options = found.options
    systems = [m.text for m in ask.messages if m.role == "system" and m.text.strip()]
    if options.get("system-prompt"):
        systems.append(options["system-prompt"])
    if ask.tool_guidance:
        systems.append(ask.tool_guidance)
    model = options.get("model")
    return TurnOptions.from_keys(
        options, session_id=found.session_id, system_prompt="\n\n".join(systems) or None,
        model=resolve_model(model, gateway.settings.model_aliases) if model else ask.model,
        effort=options.get("effort") or ask.effort, json_schema=ask.json_schema,
        client_tools=ask.tools,
        names={"session-id": SPELLINGS[found.source]} if found.source in SPELLINGS else {})
