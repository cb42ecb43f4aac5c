"""One /v1/responses answer from a started turn: streamed response events or the whole
response; either way its id is kept (unless `store` is false) for `previous_response_id`."""

import copy
import json
from dataclasses import dataclass, field
from typing import Iterator

from loguru import logger

from app.chat.answer import ChatAnswer
from app.claude.events import KeepAlive
from app.errors import ApiError
from app.surfaces.responses import stored
from app.surfaces.responses.events import ResponseEvents
from app.runs.run import Reading, Rendered
from app.surfaces.responses.request import ResponsesRequest
from app.surfaces.stream import RUNNING, Item, event
from app.web.sse import KEEPALIVE_COMMENT

# How the events that end a response end its run.
ENDINGS = {"response.completed": "completed", "response.failed": "failed",
           "response.incomplete": "incomplete"}


@dataclass
class ResponsesReply:
    """A Responses answer: the core's answer and the request it answers."""
    answer: ChatAnswer
    asked: ResponsesRequest
    maker: ResponseEvents = field(init=False)
    surface = "responses"  # its runs' surface
    keepalive = KEEPALIVE_COMMENT

    def __post_init__(self):
        self.maker = ResponseEvents(self.asked.model, self.asked.echoed)

    @property
    def response(self) -> dict:
        """The response as it stands."""
        return copy.deepcopy(self.maker.response)

    @property
    def run_id(self) -> str:
        """A streamed or background response is a run with the response's id."""
        return self.maker.response["id"]

    @property
    def summary(self) -> dict:
        return self.response

    def events(self) -> Iterator[Item]:
        """Events as the openai SDK reads them; a failure ends with response.failed."""
        return (None if made is None else _event(made) for made in self._made())

    def _made(self) -> Iterator[dict | None]:
        """The stream's events, None for a keep-alive; a failure ends with response.failed."""
        maker = self.maker
        try:
            yield from maker.start()
            yield from self._grow(maker)
        except Exception as exc:  # the headers are sent: the failure must travel in-band
            logger.opt(exception=exc).error("stream failed")
            yield from maker.fail("server_error", "The gateway failed while streaming this "
                                  "answer.")

    def _grow(self, maker: ResponseEvents) -> Iterator[dict | None]:
        for piece in self.answer.pieces():
            if isinstance(piece, KeepAlive):
                yield None
                continue
            yield from maker.feed(piece)
        error = self.answer.error()
        if error is not None:
            yield from maker.fail(error.code or error.type, error.message)
            return
        finished = maker.finish(self.answer.ending(), self.answer.result)
        self._keep(maker)  # kept before the client hears it is complete
        yield from finished

    def complete(self) -> dict:
        """The whole response; raises the run's error if it failed."""
        maker = self.maker
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


def _event(made: dict) -> Rendered:
    return event(json.dumps(made, ensure_ascii=False), made["type"], _reading(made))


def _reading(made: dict) -> Reading:
    """What a response event means for its run: its end (with the response), or that it runs."""
    ending = ENDINGS.get(made["type"])
    if ending is not None:
        return ending, made["response"]
    return RUNNING if made["type"] == "response.in_progress" else None
