"""The Server-Sent Events wire format and the streaming response that carries it."""

from typing import Callable, Iterable

from flask import Response

KEEPALIVE_COMMENT = ": keep-alive\n\n"
DONE = "data: [DONE]\n\n"


def message(data: str) -> str:
    """Frame one event; a payload with newlines becomes several `data:` lines."""
    if "\n" not in data:
        return f"data: {data}\n\n"
    return "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def event(name: str, data: str) -> str:
    """Frame one named event (`event:` then `data:`), as the Anthropic API streams."""
    return f"event: {name}\n" + message(data)


def numbered(seq: int, data: str, name: str | None = None) -> str:
    """Frame one event of a run with its `id:`, which a client that reconnects sends back
    as `Last-Event-ID` to get every event after it."""
    return f"id: {seq}\n" + (event(name, data) if name else message(data))


def response(chunks: Iterable[str], on_close: Callable[[], None],
             headers: dict | None = None) -> Response:
    """A streaming response that is never buffered and always releases its resources."""
    result = Response(chunks, mimetype="text/event-stream", headers=headers)
    result.headers["Cache-Control"] = "no-cache"
    result.headers["X-Accel-Buffering"] = "no"
    # A generator that never started never runs its `finally`; this runs regardless.
    result.call_on_close(on_close)
    return result
