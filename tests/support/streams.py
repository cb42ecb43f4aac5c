"""Reading a streamed turn as a client does, event by event."""

import json
from typing import Iterable, Iterator


def data_events(lines: Iterable) -> Iterator[dict]:
    """The `data:` events of a stream being read (bytes or str lines), parsed."""
    for line in lines:
        text = line.decode() if isinstance(line, bytes) else line
        if text.startswith("data: "):
            yield json.loads(text[6:])


def first_cli_event(lines: Iterable) -> dict:
    """The first of the CLI's own events (after the run's `run` event)."""
    return next(event for event in data_events(lines) if event["type"] != "run")


def numbered_events(lines: Iterable) -> Iterator[tuple[int | None, str | None, dict]]:
    """A stream's events as (id, event name, data), as an EventSource reads them."""
    seq, name, data = None, None, []
    for line in lines:
        text = line.decode() if isinstance(line, bytes) else line
        if text.startswith("id: "):
            seq = int(text[4:])
        elif text.startswith("event: "):
            name = text[7:]
        elif text.startswith("data: "):
            data.append(text[6:])
        elif text == "" and data:
            yield seq, name, json.loads("\n".join(data))
            seq, name, data = None, None, []
    if data:
        yield seq, name, json.loads("\n".join(data))


def sse_events(body: str) -> list:
    """Parse an SSE body into its `data:` payloads (JSON where it is JSON)."""
    events = []
    for block in body.split("\n\n"):
        data = "\n".join(line[6:] for line in block.split("\n") if line.startswith("data: "))
        if data:
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def result_json(events: list) -> dict:
    """The JSON the fake CLI's `fake:argv` scenario put in its result."""
    return json.loads(events[-1]["result"])
