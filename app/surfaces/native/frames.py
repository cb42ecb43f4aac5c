"""A native turn as the frames of its run: a first `run` event naming it, then every CLI
event as the CLI printed it, ending with a result; and what each frame means for the run."""

import json
from typing import Callable, Iterator

from loguru import logger

from app.claude.events import Event, KeepAlive, error_result
from app.runs.run import Reading, Rendered
from app.surfaces.stream import public_result


def frames(turn, run_id: str, first_content: Callable[[], None]) -> Iterator[Rendered]:
    """The run's frames: its id first, then the turn's events (keep-alives are the
    reader's own), a failure of the gateway as a result of its own."""
    yield None, json.dumps({"type": "run", "run_id": run_id}), None
    told = False
    try:
        for event in turn.events():
            if isinstance(event, KeepAlive):
                continue
            if not told and _is_content(event):  # looked for until found: it parses the event
                told = True
                first_content()
            yield None, event.raw, reading(event)
    except Exception as exc:  # the headers are sent: the failure must travel in-band
        logger.opt(exception=exc).error("stream failed")
        failed = error_result("gateway_error", "The gateway failed while streaming this run.",
                              turn.session_id)
        yield None, failed.raw, reading(failed)


def reading(event: Event) -> Reading:
    """What an event means for its run: its end, a wait for the client, or that it runs."""
    if event.type == "result":
        return ("failed" if event.data.get("is_error") else "completed",
                public_result(event.data))
    if event.type == "permission_request":
        data = event.data
        return "waiting", {"kind": "approval", "request_id": data.get("request_id"),
                           "tool_name": data.get("tool_name"), "input": data.get("input")}
    return "running", None


def _is_content(event: Event) -> bool:
    """Whether an event carries Claude's answer (a streamed delta, or a whole message)."""
    streamed = event.data.get("event") if event.type == "stream_event" else None
    return event.type == "assistant" or (isinstance(streamed, dict)
                                         and streamed.get("type") == "content_block_delta")
