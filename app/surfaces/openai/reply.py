"""One /v1/chat/completions answer from a started turn: streamed chunks or a whole completion."""

import json
from dataclasses import dataclass
from typing import Iterator

from loguru import logger

from app.chat import answer as core
from app.chat.answer import ChatAnswer
from app.chat.translate import Delta
from app.claude.events import KeepAlive
from app.errors import InternalError
from app.surfaces.openai import format as fmt
from app.surfaces.openai.request import ChatRequest
from app.surfaces.stream import RUNNING, Item, ended, event
from app.web.sse import KEEPALIVE_COMMENT

DONE = "[DONE]"  # the data of the last event of every stream

FINISH = {core.END: "stop", core.CALLS: "tool_calls", core.QUESTION: "stop",
          core.LENGTH: "length"}


@dataclass
class ChatReply:
    """A chat completion answer: the core's answer and the request it answers."""
    answer: ChatAnswer
    chat: ChatRequest
    surface = "chat"  # its runs' surface
    keepalive = KEEPALIVE_COMMENT
    run_id = None  # its runs get ids of their own
    summary = None

    @property
    def turn(self):
        return self.answer.turn

    def events(self) -> Iterator[Item]:
        """Chunks as the OpenAI SDK expects them, ending in [DONE], whatever fails."""
        try:
            yield from self._chunks()
        except Exception as exc:  # the headers are sent: the failure must travel in-band
            logger.opt(exception=exc).error("stream failed")
            error = InternalError("The gateway failed while streaming this answer.")
            yield event(json.dumps(error.body()))
            yield event(DONE, reading=ended(self.answer.result, error.body()))

    def _chunks(self) -> Iterator[Item]:
        answer = self.answer
        maker = fmt.ChunkMaker(self.chat.model, self.chat.include_usage)
        yield event(json.dumps(maker.chunk({"role": "assistant", "content": answer.header(),
                                            "refusal": None})), reading=RUNNING)
        for item in answer.deltas():
            if isinstance(item, KeepAlive):
                yield None
                continue
            yield event(maker.encoded(_delta(item)))
        error = answer.error()
        if error is not None:
            yield event(json.dumps(error.body()))
            yield event(DONE, reading=ended(answer.result, error.body()))
            return
        yield event(json.dumps(maker.chunk({}, FINISH[answer.ending()])))
        if self.chat.include_usage:
            yield event(json.dumps(maker.usage_chunk(answer.result)))
        answer.remember()
        yield event(DONE, reading=ended(answer.result))

    def complete(self) -> dict:
        """The whole answer as one `chat.completion`; raises the run's error if it failed."""
        answer = self.answer
        pieces = [item for item in answer.deltas() if not isinstance(item, KeepAlive)]
        error = answer.error()
        if error is not None:
            raise error
        answer.remember()
        return fmt.completion(self.chat.model,
                              answer.header() + "".join(piece.content for piece in pieces),
                              "".join(piece.reasoning for piece in pieces), answer.result,
                              self.turn.session_id, fmt.call_entries(answer.calls()),
                              FINISH[answer.ending()])


def _delta(item: Delta) -> dict:
    if item.call:
        return {"tool_calls": [item.call]}
    return {"content": item.content} if item.content else {"reasoning_content": item.reasoning}
