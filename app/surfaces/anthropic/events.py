"""The events of one Anthropic message, built from the chat core's pieces of an answer.

However many API calls and tools Claude Code ran inside the turn, the client gets one
message: a block opens when the kind of piece changes (text, thinking, a call of one
of the client's tools) and closes before the next. `fold` turns the same events into
the whole message, so streamed and whole answers never differ.
"""

import json
import uuid

from app.chat import answer as core
from app.chat.translate import Delta

STOP_REASONS = {core.END: "end_turn", core.CALLS: "tool_use", core.QUESTION: "end_turn",
                core.LENGTH: "max_tokens"}
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens",
              "cache_read_input_tokens")


def usage(result: dict | None) -> dict:
    """Anthropic usage from a CLI result: the turn's API calls summed, as the CLI reports."""
    raw = (result or {}).get("usage") or {}
    return {key: raw.get(key) or 0 for key in USAGE_KEYS}


class MessageEvents:
    """Events of one streamed message: `start()`, `feed()` each piece, then `finish()`."""

    def __init__(self, model: str):
        self.id = "msg_" + uuid.uuid4().hex[:24]
        self.model = model
        self._index = -1
        self._open: tuple | None = None  # what the open block holds: ("text",), ("call", n)

    def start(self) -> dict:
        message: dict = {"id": self.id, "type": "message", "role": "assistant",
                         "model": self.model, "content": [], "stop_reason": None,
                         "stop_sequence": None, "usage": usage(None)}
        return {"type": "message_start", "message": message}

    def feed(self, piece: Delta) -> list[dict]:
        if piece.call:
            return self._call(piece.call)
        if piece.content:
            return [*self._switch(("text",), {"type": "text", "text": ""}),
                    self._delta({"type": "text_delta", "text": piece.content})]
        if piece.reasoning:
            return [*self._switch(("thinking",), {"type": "thinking", "thinking": "",
                                                  "signature": ""}),
                    self._delta({"type": "thinking_delta", "thinking": piece.reasoning})]
        return []

    def finish(self, ending: str, result: dict | None) -> list[dict]:
        delta = {"stop_reason": STOP_REASONS[ending], "stop_sequence": None}
        return [*self._close(), {"type": "message_delta", "delta": delta, "usage": usage(result)},
                {"type": "message_stop"}]

    def _call(self, call: dict) -> list[dict]:
        """A piece of a call: its first names it and opens its block; the rest bring input."""
        opened = []
        if call.get("id"):
            block = {"type": "tool_use", "id": call["id"], "name": call["function"]["name"],
                     "input": {}}
            opened = self._switch(("call", call["index"]), block)
        arguments = (call.get("function") or {}).get("arguments")
        if not arguments:
            return opened
        return [*opened, self._delta({"type": "input_json_delta", "partial_json": arguments})]

    def _switch(self, holds: tuple, block: dict) -> list[dict]:
        if self._open == holds:
            return []
        events = self._close()
        self._index += 1
        self._open = holds
        return [*events, {"type": "content_block_start", "index": self._index,
                          "content_block": block}]

    def _close(self) -> list[dict]:
        if self._open is None:
            return []
        self._open = None
        return [{"type": "content_block_stop", "index": self._index}]

    def _delta(self, delta: dict) -> dict:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}


def fold(events: list[dict]) -> dict:
    """The whole message the events describe, as `messages.create` returns it."""
    message: dict = {}
    inputs: dict[int, str] = {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            message = dict(event["message"], content=[])
        elif kind == "content_block_start":
            message["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            _apply(message["content"][event["index"]], event["delta"], inputs, event["index"])
        elif kind == "message_delta":
            message.update(event["delta"], usage=event["usage"])
    for index, text in inputs.items():
        message["content"][index]["input"] = _parsed(text)
    return message


def _parsed(text: str) -> dict:
    """A call's input from its streamed JSON (the CLI checked it before calling)."""
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _apply(block: dict, delta: dict, inputs: dict[int, str], index: int) -> None:
    if delta["type"] == "text_delta":
        block["text"] += delta["text"]
    elif delta["type"] == "thinking_delta":
        block["thinking"] += delta["thinking"]
    elif delta["type"] == "input_json_delta":
        inputs[index] = inputs.get(index, "") + delta["partial_json"]
