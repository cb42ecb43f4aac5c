"""What every chat surface does with a started turn, whatever its wire format.

The answer starts with the echo header (unless the operator or the request turned it
off); Claude's events become deltas (text, reasoning, pieces of calls of the client's
functions); the turn ends for a reason; and a complete answer is remembered, so the
conversation's next turn finds its session even without the header. Surfaces only
render these in their own shapes.
"""

from dataclasses import dataclass, field
from typing import Callable, Iterator

from app.chat import options as opts
from app.chat.conversations import fingerprint
from app.chat.converse import ChatAsk, start_chat_turn
from app.chat.message import Message, ToolCall
from app.chat.results import result_error
from app.chat.translate import Delta, Translator
from app.claude.events import KeepAlive
from app.errors import ApiError
from app.services import Gateway
from app.shared.conversations import Point
from app.shared.seam import ConversationStore
from app.turns.turn import Turn

# Why an answer ended, in the core's words; each surface names them its own way.
END, CALLS, QUESTION, LENGTH = "end", "calls", "question", "length"


@dataclass
class ChatAnswer:
    """A started chat turn and how to answer it."""
    turn: Turn
    messages: list[Message]  # the conversation as the client sent it
    options: dict  # the effective options, for the echo header and the next turn
    display: str  # how Claude's own tools and thinking show
    echo: bool
    store: ConversationStore
    scope: str  # the client's key: fingerprints never match across clients
    json_schema: str | None = None
    on_first_content: Callable[[], None] | None = None  # told once, as the content starts
    translator: Translator = field(init=False)

    def __post_init__(self) -> None:
        answered = frozenset(m.tool_call_id for m in self.messages
                             if m.role == "tool" and m.tool_call_id is not None)
        self.translator = Translator(self.display, answered)
        self._said: list[str] = []  # the content given so far, echo header aside
        self._calls: list[dict] = []  # pieces of the client's function calls

    @property
    def result(self) -> dict | None:
        """The CLI's result, once the turn has ended (None while it waits for the client)."""
        return self.translator.result

    def header(self) -> str:
        """The echo of the effective options and the session id, plus a blank line."""
        if not self.echo:
            return ""
        return opts.render_header({**self.options, "session-id": self.turn.session_id}) + "\n\n"

    def pieces(self) -> Iterator[Delta | KeepAlive]:
        """The echo header as the answer's first text, then its deltas."""
        header = self.header()
        if header:
            yield Delta(content=header)
        yield from self.deltas()

    def deltas(self) -> Iterator[Delta | KeepAlive]:
        """The answer's pieces as the turn runs (and KeepAlive while it is quiet)."""
        for piece in self._deltas():
            if not isinstance(piece, KeepAlive):
                self._first_content(piece)
                self._said.append(piece.content)
                self._calls += [piece.call] if piece.call else []
            yield piece

    def _first_content(self, piece: Delta) -> None:
        """Tell `on_first_content` (once) that Claude's answer has begun."""
        if self.on_first_content is not None and (piece.content or piece.reasoning
                                                  or piece.call):
            told, self.on_first_content = self.on_first_content, None
            told()

    def _deltas(self) -> Iterator[Delta | KeepAlive]:
        structured = self.json_schema is not None
        for event in self.turn.events():
            if isinstance(event, KeepAlive):
                yield event
                continue
            for piece in self.translator.feed(event):
                if structured:  # only the structured output is the answer
                    piece = Delta(reasoning=piece.reasoning)
                if piece.content or piece.reasoning or piece.call:
                    yield piece
        if structured and self.error() is None and self.result is not None:
            yield Delta(content=self.result.get("result") or "")

    def calls(self) -> list[ToolCall]:
        """The client's functions Claude called in this answer, whole."""
        return gather_calls(self._calls)

    def error(self) -> ApiError | None:
        """What the turn's end amounts to as an error; None for an answer (or a pause)."""
        return None if self.turn.paused else result_error(self.result)

    def ending(self) -> str:
        """Why the answer ended: END, CALLS (the client's functions), QUESTION or LENGTH."""
        if self.turn.paused:
            return CALLS if "calls" in self.turn.paused else QUESTION
        if (self.result or {}).get("subtype") == "error_max_turns" \
                or self.translator.api_stop == "max_tokens":
            return LENGTH
        return END

    def remember(self) -> None:
        """Map this conversation, the answer as given included, to its session for the next
        turn."""
        point = self.point()
        if point is not None:
            said = Message("assistant", self.header() + "".join(self._said),
                           tool_calls=tuple(self.calls()))
            self.store.save(fingerprint([*self.messages, said], self.scope), point)

    def point(self) -> Point | None:
        """Where the conversation stands now in its session (for surfaces that name it)."""
        if not self.turn.session_id:
            return None
        return Point(self.turn.session_id, self.options, self.turn.turns, self.turn.last_message)


def open_answer(gateway: Gateway, ask: ChatAsk, display: str | None, echo: bool = True
                ) -> ChatAnswer:
    """Start the turn and wait for its first event, which brings the session id that
    response headers carry; `display` is the request's choice, if it made one."""
    started = start_chat_turn(gateway, ask)
    turn = started.turn
    try:
        chosen = started.options.get("tool-display") or display or gateway.settings.tool_display
        turn.first_event()
        return ChatAnswer(turn, ask.messages, started.options, chosen,
                          echo and gateway.settings.options_echo, gateway.conversations,
                          ask.owner, ask.json_schema)
    except BaseException:
        turn.close()
        raise


def gather_calls(pieces: list[dict]) -> list[ToolCall]:
    """Whole function calls from their streamed pieces (id and name first, then arguments)."""
    calls: dict[int, dict] = {}
    for piece in pieces:
        call = calls.setdefault(piece["index"], {"id": None, "name": None, "arguments": ""})
        function = piece.get("function") or {}
        call["id"] = piece.get("id") or call["id"]
        call["name"] = function.get("name") or call["name"]
        call["arguments"] += function.get("arguments") or ""
    return [ToolCall(c["id"], c["name"], c["arguments"] or "{}")
            for _, c in sorted(calls.items())]
