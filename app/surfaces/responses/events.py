"""One OpenAI response, built from the chat core's pieces of an answer: its output items
and, for a stream, the events that announce them.

An item opens when the kind of piece changes (text: a message item; Claude's thinking:
a reasoning item; a call of the client's functions: a function_call item) and is done
before the next. The same builder serves the whole response, so streamed and whole
answers never differ.
"""

import copy
import time
import uuid

from app.chat import answer as core
from app.chat.translate import Delta


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def usage(result: dict | None) -> dict:
    """Responses usage from a CLI result; cached input tokens count as input tokens."""
    raw = (result or {}).get("usage") or {}
    cached = raw.get("cache_read_input_tokens") or 0
    given = (raw.get("input_tokens") or 0) + cached + (raw.get("cache_creation_input_tokens") or 0)
    made = raw.get("output_tokens") or 0
    return {"input_tokens": given, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": made, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": given + made}


class ResponseEvents:
    """A response as it grows: `start()`, `feed()` each piece, then `finish()` or `fail()`.
    Each returns the stream events it makes; `response` is the whole object so far."""

    def __init__(self, model: str, echoed: dict):
        self.response = {"id": new_id("resp"), "object": "response",
                         "created_at": int(time.time()), "status": "in_progress",
                         "error": None, "incomplete_details": None, "model": model,
                         "output": [], "usage": None, **echoed}
        self._open: dict | None = None  # the item being written
        self._sequence = 0

    def start(self) -> list[dict]:
        return [self._event("response.created", response=self._snapshot()),
                self._event("response.in_progress", response=self._snapshot())]

    def feed(self, piece: Delta) -> list[dict]:
        if piece.call:
            return self._call(piece.call)
        if piece.content:
            return self._text(piece.content)
        if piece.reasoning:
            return self._reasoning(piece.reasoning)
        return []

    def finish(self, ending: str, result: dict | None) -> list[dict]:
        """Close the last item and say the response is complete (or cut short)."""
        events = self._close()
        self.response["usage"] = usage(result)
        if ending == core.LENGTH:
            self.response.update(status="incomplete",
                                 incomplete_details={"reason": "max_output_tokens"})
            return [*events, self._event("response.incomplete", response=self._snapshot())]
        self.response["status"] = "completed"
        return [*events, self._event("response.completed", response=self._snapshot())]

    def fail(self, code: str, message: str) -> list[dict]:
        events = self._close()
        self.response.update(status="failed", error={"code": code, "message": message})
        return [*events, self._event("response.failed", response=self._snapshot())]

    def _text(self, text: str) -> list[dict]:
        events = self._switch("message", lambda: {
            "type": "message", "id": new_id("msg"), "status": "in_progress",
            "role": "assistant", "content": []}, self._part_added)
        item = self._open
        assert item is not None, "_switch opened it"
        item["content"][0]["text"] += text
        return [*events, self._event("response.output_text.delta", **self._at(item),
                                     content_index=0, delta=text, logprobs=[])]

    def _part_added(self, item: dict) -> list[dict]:
        item["content"].append({"type": "output_text", "text": "", "annotations": [],
                                "logprobs": []})
        return [self._event("response.content_part.added", **self._at(item), content_index=0,
                            part=dict(item["content"][0]))]

    def _reasoning(self, text: str) -> list[dict]:
        events = self._switch("reasoning", lambda: {
            "type": "reasoning", "id": new_id("rs"), "summary": []}, self._summary_added)
        item = self._open
        assert item is not None, "_switch opened it"
        item["summary"][0]["text"] += text
        return [*events, self._event("response.reasoning_summary_text.delta", **self._at(item),
                                     summary_index=0, delta=text)]

    def _summary_added(self, item: dict) -> list[dict]:
        item["summary"].append({"type": "summary_text", "text": ""})
        return [self._event("response.reasoning_summary_part.added", **self._at(item),
                            summary_index=0, part=dict(item["summary"][0]))]

    def _call(self, call: dict) -> list[dict]:
        """A piece of a call: its first names it and opens its item; the rest bring arguments."""
        events = []
        if call.get("id"):
            events = self._switch(None, lambda: {
                "type": "function_call", "id": new_id("fc"), "call_id": call["id"],
                "name": call["function"]["name"], "arguments": "", "status": "in_progress"})
        arguments = (call.get("function") or {}).get("arguments")
        if not arguments or self._open is None or self._open["type"] != "function_call":
            return events
        self._open["arguments"] += arguments
        return [*events, self._event("response.function_call_arguments.delta",
                                     **self._at(self._open), delta=arguments)]

    def _switch(self, kind: str | None, make, then=None) -> list[dict]:
        """Keep writing the open item if it is of this kind (None: always a new one)."""
        if kind is not None and self._open is not None and self._open["type"] == kind:
            return []
        events = self._close()
        self._open = make()
        self.response["output"].append(self._open)
        events.append(self._event("response.output_item.added", output_index=self._index(),
                                  item=copy.deepcopy(self._open)))
        return events + (then(self._open) if then else [])

    def _close(self) -> list[dict]:
        item, self._open = self._open, None
        if item is None:
            return []
        at = self._at(item)
        if item["type"] == "message":
            part = item["content"][0]
            events = [self._event("response.output_text.done", **at, content_index=0,
                                  text=part["text"], logprobs=[]),
                      self._event("response.content_part.done", **at, content_index=0,
                                  part=dict(part))]
        elif item["type"] == "reasoning":
            part = item["summary"][0]
            events = [self._event("response.reasoning_summary_text.done", **at,
                                  summary_index=0, text=part["text"]),
                      self._event("response.reasoning_summary_part.done", **at,
                                  summary_index=0, part=dict(part))]
        else:
            events = [self._event("response.function_call_arguments.done", **at,
                                  name=item["name"], arguments=item["arguments"] or "{}")]
            item["arguments"] = item["arguments"] or "{}"
        if "status" in item:
            item["status"] = "completed"
        return [*events, self._event("response.output_item.done", output_index=at["output_index"],
                                     item=copy.deepcopy(item))]

    def _at(self, item: dict) -> dict:
        return {"item_id": item["id"], "output_index": self.response["output"].index(item)}

    def _index(self) -> int:
        return len(self.response["output"]) - 1

    def _snapshot(self) -> dict:
        return copy.deepcopy(self.response)

    def _event(self, kind: str, **fields) -> dict:
        self._sequence += 1
        return {"type": kind, "sequence_number": self._sequence - 1, **fields}

