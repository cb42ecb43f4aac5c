"""The CLI's stream-json events: parsing a stdout line, and results the server makes."""

import json
from dataclasses import dataclass

from loguru import logger


@dataclass(frozen=True)
class KeepAlive:
    """Nothing happened for a keep-alive interval: streams send a comment, others look around."""


KEEPALIVE = KeepAlive()


STREAM = "stream_event"
_STREAM_LINE = '{"type":"stream_event",'  # how the CLI begins a stream event's line


class Event:
    """One JSON object the CLI printed, with its original line for passthrough.

    A stream event's line (nearly all of what a turn prints) is parsed only once its data
    is read: passing it through, as /api/claude does, needs only its type. Its session is
    the one its turn's `init` named, so readers that know it need not look.
    """
    __slots__ = ("raw", "type", "_data")

    def __init__(self, data: dict | None, raw: str = "", kind: str | None = None):
        self.raw = raw
        self._data = data
        self.type = kind if kind is not None else (data or {}).get("type", "")

    @property
    def data(self) -> dict:
        if self._data is None:
            self._data = json.loads(self.raw)
        return self._data

    @property
    def session_id(self) -> str | None:
        return self.data.get("session_id")

    def __repr__(self) -> str:
        return f"Event({self.data!r})"

    @classmethod
    def made(cls, data: dict) -> "Event":
        """Wrap an event the server itself produced."""
        return cls(data, json.dumps(data, ensure_ascii=False))


def parse_line(line: bytes) -> Event | None:
    """Parse one stdout line; anything but a JSON object is logged and skipped."""
    stripped = line.strip()
    if not stripped:
        return None
    try:
        raw = stripped.decode("utf-8")
        if raw.startswith(_STREAM_LINE) and raw.endswith("}"):
            return Event(None, raw, STREAM)  # parsed when its data is read
        data = json.loads(raw)  # from str: bytes would have their encoding guessed first
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        logger.warning("skipped a CLI output line that is not a JSON object: {!r}",
                       stripped[:200])
        return None
    return Event(data, raw)


def error_result(subtype: str, message: str, session_id: str | None, **extra) -> Event:
    """A `result` event for a run that ended without one of its own."""
    return Event.made({
        "type": "result", "subtype": subtype, "is_error": True, "result": message,
        "session_id": session_id, "num_turns": 0, "total_cost_usd": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0}, "synthetic": True, **extra,
    })
