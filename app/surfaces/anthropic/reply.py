"""One /v1/messages answer from a started turn: streamed message events or a whole message."""

import json
from dataclasses import dataclass
from typing import Iterator

from loguru import logger

from app.chat.answer import ChatAnswer
from app.claude.events import KeepAlive
from app.errors import InternalError
from app.surfaces.anthropic import errors
from app.surfaces.anthropic.events import MessageEvents, fold
from app.web import sse

PING = sse.event("ping", json.dumps({"type": "ping"}))


@dataclass
class MessagesReply:
    """A Messages answer: the core's answer and the model name the client asked for."""
    answer: ChatAnswer
    model: str

    def stream(self) -> Iterator[str]:
        """SSE events as the anthropic SDK reads them; a failure ends with an error event."""
        try:
            yield from self._stream()
        except Exception as exc:  # the headers are sent: the failure must travel in-band
            logger.opt(exception=exc).error("stream failed")
            yield _error(InternalError("The gateway failed while streaming this answer."))

    def _stream(self) -> Iterator[str]:
        maker = MessageEvents(self.model)
        yield _event(maker.start())
        for piece in self.answer.pieces():
            if isinstance(piece, KeepAlive):
                yield PING
                continue
            yield from map(_event, maker.feed(piece))
        error = self.answer.error()
        if error is not None:
            yield _error(error)
            return
        yield from map(_event, maker.finish(self.answer.ending(), self.answer.result))
        self.answer.remember()

    def complete(self) -> dict:
        """The whole answer as one message; raises the run's error if it failed."""
        pieces = [piece for piece in self.answer.pieces() if not isinstance(piece, KeepAlive)]
        error = self.answer.error()
        if error is not None:
            raise error
        maker = MessageEvents(self.model)
        events = [maker.start(), *(event for piece in pieces for event in maker.feed(piece)),
                  *maker.finish(self.answer.ending(), self.answer.result)]
        self.answer.remember()
        return fold(events)


def _event(event: dict) -> str:
    return sse.event(event["type"], json.dumps(event, ensure_ascii=False))


def _error(error) -> str:
    return sse.event("error", json.dumps(errors.body(error)))
