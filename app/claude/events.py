"""The CLI's stream-json events: parsing a stdout line, and results the server makes."""

import json
from dataclasses import dataclass, field

from loguru import logger


@dataclass(frozen=True)
class KeepAlive:
    """Nothing happened for a keep-alive interval: streams send a comment, others look around."""


KEEPALIVE = KeepAlive()


@dataclass(frozen=True)
class Event:
    """One JSON object the CLI printed, with its original line for passthrough."""
    data: dict
    raw: str = field(repr=False, default="")

    @property
    def type(self) -> str:
        return self.data.get("type", "")

    @property
    def session_id(self) -> str | None:
        return self.data.get("session_id")

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
