"""One /v1/messages answer from a started turn: streamed message events or a whole message."""

import json
from dataclasses import dataclass
from typing import Iterator

from loguru import logger

from app.chat.answer import ChatAnswer
from app.claude.events import KeepAlive
from app.errors import InternalError
from app.surfaces.anthropic import errors
from app.runs.run import Reading
from app.surfaces.anthropic.events import MessageEvents, fold
from app.surfaces.stream import RUNNING, Item, ended, event
from app.web import sse

PING = sse.event("ping", json.dumps({"type": "ping"}))  # its keep-alive


@dataclass
class MessagesReply:
    """A Messages answer: the core's answer and the model name the client asked for."""
    answer: ChatAnswer
    model: str
    surface = "messages"  # its runs' surface
    keepalive = PING
    run_id = None  # its runs get ids of their own
    summary = None

    def events(self) -> Iterator[Item]:
        """Events as the anthropic SDK reads them; a failure ends with an error event."""
        try:
            yield from self._stream()
        except Exception as exc:  # the headers are sent: the failure must travel in-band
            logger.opt(exception=exc).error("stream failed")
            yield self._error(InternalError("The gateway failed while streaming this answer."))

    def _stream(self) -> Iterator[Item]:
        maker = MessageEvents(self.model)
        yield _event(maker.start(), RUNNING)
        for piece in self.answer.pieces():
            if isinstance(piece, KeepAlive):
                yield None
                continue
            yield from map(_event, maker.feed(piece))
        error = self.answer.error()
        if error is not None:
            yield self._error(error)
            return
        *events, last = maker.finish(self.answer.ending(), self.answer.result)
        self.answer.remember()
        yield from map(_event, events)
        yield _event(last, ended(self.answer.result))

    def _error(self, error) -> Item:
        body = errors.body(error)
        return event(json.dumps(body), "error", ended(self.answer.result, body))

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


def _event(data: dict, reading: Reading = None) -> Item:
    return event(json.dumps(data, ensure_ascii=False), data["type"], reading)
