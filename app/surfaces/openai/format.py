"""OpenAI response shapes: completion, stream chunks, usage, and errors from results."""

import json
import time
import uuid
from typing import Any

from app.chat.message import ToolCall

SYSTEM_FINGERPRINT = "fp_claude_code_gateway"


def usage(result: dict | None) -> dict:
    """OpenAI usage from a CLI result; cached prompt tokens count as prompt tokens."""
    raw = (result or {}).get("usage") or {}
    cached = raw.get("cache_read_input_tokens") or 0
    prompt = (raw.get("input_tokens") or 0) + cached + (raw.get("cache_creation_input_tokens") or 0)
    completion = raw.get("output_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


class ChunkMaker:
    """Chunks of one streamed completion: same id, created, model and fingerprint."""

    def __init__(self, model: str, include_usage: bool):
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        # A content chunk's JSON around its delta: only the delta is encoded per chunk. The
        # key cannot occur inside a string value, where a quote is always escaped.
        key = '"delta": '
        self._around = json.dumps(self.chunk({}), ensure_ascii=False).split(key + "{}")
        self._around[0] += key

    def chunk(self, delta: dict, finish: str | None = None) -> dict:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._envelope([choice], None)

    def encoded(self, delta: dict) -> str:
        """json.dumps(self.chunk(delta), ensure_ascii=False), at a fraction of its cost."""
        return json.dumps(delta, ensure_ascii=False).join(self._around)

    def usage_chunk(self, result: dict | None) -> dict:
        return self._envelope([], usage(result))

    def _envelope(self, choices: list, usage_value: dict | None) -> dict:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": choices}
        if self.include_usage:
            body["usage"] = usage_value
        return body


def completion(model: str, content: str, reasoning: str, result: dict | None,
               session_id: str | None, tool_calls: list[dict], finish: str) -> dict:
    """A whole `chat.completion` answer."""
    message: dict[str, Any] = {
        "role": "assistant", "content": content or None if tool_calls else content,
        "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion",
        "created": int(time.time()), "model": model, "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish}],
        "usage": usage(result), "session_id": session_id,
    }


def call_entries(calls: list[ToolCall]) -> list[dict]:
    """A message's `tool_calls` entries."""
    return [{"id": call.id, "type": "function",
             "function": {"name": call.name, "arguments": call.arguments}} for call in calls]
