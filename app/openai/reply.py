"""One /v1 answer from a started turn: streamed chunks or a whole completion.

Either way the reply starts with the echo header (unless the operator turned it
off), and when it is complete the conversation's fingerprint is saved so the next
turn finds this session even without the header.
"""

import json
from dataclasses import dataclass
from typing import Iterator

from loguru import logger

from app import sse
from app.chat import options as opts
from app.chat.conversations import ConversationStore, Point, fingerprint
from app.chat.results import result_error
from app.claude.events import KeepAlive
from app.errors import InternalError
from app.openai import format as fmt
from app.chat.message import Message, ToolCall
from app.openai.request import ChatRequest
from app.openai.translate import Delta, Translator
from app.chat.turn import Turn


@dataclass
class ChatReply:
    """Everything one answer needs, in plain values."""
    turn: Turn
    chat: ChatRequest
    options: dict
    display: str
    echo: bool
    store: ConversationStore
    scope: str  # the client's key: fingerprints never match across clients

    def header(self) -> str:
        """The echo of the effective options and the session id, plus a blank line."""
        if not self.echo:
            return ""
        return opts.render_header({**self.options, "session-id": self.turn.session_id}) + "\n\n"

    def stream(self) -> Iterator[str]:
        """SSE chunks as the OpenAI SDK expects them, ending in [DONE], whatever fails."""
        try:
            yield from self._chunks()
        except Exception as exc:  # the headers are sent: the failure must travel in-band
            logger.opt(exception=exc).error("stream failed")
            error = InternalError("The gateway failed while streaming this answer.")
            yield sse.message(json.dumps(error.body()))
            yield sse.DONE

    def _chunks(self) -> Iterator[str]:
        maker = fmt.ChunkMaker(self.chat.model, self.chat.include_usage)
        content = [self.header()]
        yield sse.message(json.dumps(maker.chunk({"role": "assistant", "content": content[0],
                                                  "refusal": None})))
        translator = self._translator()
        calls = []
        for item in self._deltas(translator):
            if isinstance(item, KeepAlive):
                yield sse.KEEPALIVE_COMMENT
                continue
            content.append(item.content)
            if item.call:
                calls.append(item.call)
            yield sse.message(json.dumps(maker.chunk(_delta(item)), ensure_ascii=False))
        error = None if self.turn.paused else result_error(translator.result)
        if error is not None:
            yield sse.message(json.dumps(error.body()))
        else:
            yield sse.message(json.dumps(maker.chunk({}, self._finish(translator))))
            if self.chat.include_usage:
                yield sse.message(json.dumps(maker.usage_chunk(translator.result)))
            self._remember("".join(content), fmt.gather_calls(calls))
        yield sse.DONE

    def _finish(self, translator: Translator) -> str:
        """tool_calls when Claude called the client's functions, stop when it waits for an
        answer to its question, else what the result says."""
        if self.turn.paused:
            return "tool_calls" if "calls" in self.turn.paused else "stop"
        return fmt.finish_reason(translator.result)

    def complete(self) -> dict:
        """The whole answer as one `chat.completion`; raises the run's error if it failed."""
        translator = self._translator()
        pieces = [item for item in self._deltas(translator) if not isinstance(item, KeepAlive)]
        error = None if self.turn.paused else result_error(translator.result)
        if error is not None:
            raise error
        content = self.header() + "".join(piece.content for piece in pieces)
        calls = fmt.gather_calls([piece.call for piece in pieces if piece.call])
        self._remember(content, calls)
        return fmt.completion(self.chat.model, content,
                              "".join(piece.reasoning for piece in pieces),
                              translator.result, self.turn.session_id, calls,
                              self._finish(translator))

    def _translator(self) -> Translator:
        """A translator that leaves out the results of the client's own functions."""
        return Translator(self.display, frozenset(m.tool_call_id for m in self.chat.messages
                                                  if m.role == "tool"))

    def _deltas(self, translator: Translator) -> Iterator[Delta | KeepAlive]:
        structured = self.chat.json_schema is not None
        for event in self.turn.events():
            if isinstance(event, KeepAlive):
                yield event
            else:
                for piece in translator.feed(event):
                    if structured:  # only the structured output is the answer
                        piece = Delta(reasoning=piece.reasoning)
                    if piece.content or piece.reasoning or piece.call:
                        yield piece
        if structured and result_error(translator.result) is None:
            yield Delta(content=(translator.result or {}).get("result") or "")

    def _remember(self, content: str, calls: list[dict]) -> None:
        """Map this conversation, reply included, to its session for the next turn."""
        if self.turn.session_id:
            made = tuple(ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                         for c in calls)
            history = [*self.chat.messages, Message("assistant", content, tool_calls=made)]
            point = Point(self.turn.session_id, self.options, self.turn.turns,
                          self.turn.last_message)
            self.store.save(fingerprint(history, self.scope), point)


def _delta(item: Delta) -> dict:
    if item.call:
        return {"tool_calls": [item.call]}
    return {"content": item.content} if item.content else {"reasoning_content": item.reasoning}
