"""OpenAI response shapes: completion, stream chunks, usage, and errors from results."""

import time
import uuid

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


def finish_reason(result: dict | None) -> str:
    """`length` when Claude Code's turn limit ended the run, else `stop`."""
    return "length" if (result or {}).get("subtype") == "error_max_turns" else "stop"


class ChunkMaker:
    """Chunks of one streamed completion: same id, created, model and fingerprint."""

    def __init__(self, model: str, include_usage: bool):
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage

    def chunk(self, delta: dict, finish: str | None = None) -> dict:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._envelope([choice], None)

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
               session_id: str | None, tool_calls: list[dict] | None = None,
               finish: str | None = None) -> dict:
    """A whole `chat.completion` answer."""
    message = {"role": "assistant", "content": content or None if tool_calls else content,
               "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion",
        "created": int(time.time()), "model": model, "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish or finish_reason(result)}],
        "usage": usage(result), "session_id": session_id,
    }


def gather_calls(pieces: list[dict]) -> list[dict]:
    """Whole `tool_calls` entries from their streamed pieces (arguments in parts)."""
    calls: dict[int, dict] = {}
    for piece in pieces:
        call = calls.setdefault(piece["index"], {"id": None, "type": "function",
                                                 "function": {"name": None, "arguments": ""}})
        call["id"] = piece.get("id") or call["id"]
        function = piece.get("function") or {}
        call["function"]["name"] = function.get("name") or call["function"]["name"]
        call["function"]["arguments"] += function.get("arguments") or ""
    return [calls[index] for index in sorted(calls)]
