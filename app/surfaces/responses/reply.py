"""One /v1/responses answer from a started turn: streamed response events or the whole
response; either way its id is kept (unless `store` is false) for `previous_response_id`."""

import json
from dataclasses import dataclass
from typing import Iterator

from loguru import logger

from app.chat.answer import ChatAnswer
from app.claude.events import KeepAlive
from app.errors import ApiError
from app.surfaces.responses import stored
from app.surfaces.responses.events import ResponseEvents
from app.surfaces.responses.request import ResponsesRequest
from app.web import sse


@dataclass
class ResponsesReply:
    """A Responses answer: the core's answer and the request it answers."""
    answer: ChatAnswer
    asked: ResponsesRequest

    def stream(self) -> Iterator[str]:
        """SSE events as the openai SDK reads them; a failure ends with response.failed."""
        maker = ResponseEvents(self.asked.model, self.asked.echoed)
        try:
            yield from map(_event, maker.start())
            yield from self._stream(maker)
        except Exception as exc:  # the headers are sent: the failure must travel in-band
            logger.opt(exception=exc).error("stream failed")
            yield from map(_event, maker.fail("server_error", "The gateway failed while "
                                              "streaming this answer."))

    def _stream(self, maker: ResponseEvents) -> Iterator[str]:
        for piece in self.answer.pieces():
            if isinstance(piece, KeepAlive):
                yield sse.KEEPALIVE_COMMENT
                continue
            yield from map(_event, maker.feed(piece))
        error = self.answer.error()
        if error is not None:
            yield from map(_event, maker.fail(error.code or error.type, error.message))
            return
        yield from map(_event, maker.finish(self.answer.ending(), self.answer.result))
        self._keep(maker)

    def complete(self) -> dict:
        """The whole response; raises the run's error if it failed."""
        maker = ResponseEvents(self.asked.model, self.asked.echoed)
        pieces = [piece for piece in self.answer.pieces() if not isinstance(piece, KeepAlive)]
        error: ApiError | None = self.answer.error()
        if error is not None:
            raise error
        for piece in pieces:
            maker.feed(piece)
        maker.finish(self.answer.ending(), self.answer.result)
        self._keep(maker)
        return maker.response

    def _keep(self, maker: ResponseEvents) -> None:
        """Remember the conversation by its fingerprint, and by the response id if stored."""
        self.answer.remember()
        point = self.answer.point()
        if self.asked.store and point is not None:
            stored.keep(self.answer.store, maker.response["id"], self.answer.scope, point)


def _event(event: dict) -> str:
    return sse.event(event["type"], json.dumps(event, ensure_ascii=False))
