"""A local stand-in for the Anthropic Messages API, for tests that run the real `claude` CLI.

Tests have no network, so the CLI is pointed here with ANTHROPIC_BASE_URL. A test
scripts the model's replies in order; the CLI runs its real agent loop (tools
included) against them, and the test reads back what the CLI sent. Stdlib only.
Observed against CLI 2.1.197 and 2.1.332; see is_side_call() for what is not the agent loop.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Text:
    """A text block, streamed one word per delta so token-level streaming is visible."""
    text: str


@dataclass(frozen=True)
class Thinking:
    """A thinking block. The CLI sends the signature back on later turns; "" sends no
    signature_delta."""
    text: str
    signature: str = "standin-signature"


@dataclass(frozen=True)
class ToolUse:
    """A tool_use block; the CLI runs the tool for real when it is permitted."""
    name: str
    input: dict
    id: str | None = None  # "toolu_standin_N" when not given


# A Bash command that runs until it is stopped (the CLI refuses a bare long `sleep` at once).
WAIT_FOREVER = {"command": "tail -f /dev/null", "description": "wait", "timeout": 600000}


@dataclass(frozen=True)
class ApiError:
    """An HTTP error with Anthropic's error JSON. The CLI retries 5xx/529/429, each retry is a
    new call.

    2.1.332 also sends a request the API refused with 400 again, up to five times, with
    features turned off (a beta header, thinking.display, deferred tools). The real API
    refuses the same request every time: make a 400 `default_reply` to refuse the turn.
    """
    status: int
    message: str
    error_type: str | None = None  # derived from the status when not given


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                529: "overloaded_error"}
# System prompts of the CLI's own tool-less side queries (session title, ...).
_SIDE_CALL_MARKERS = ("Generate a concise, sentence-case title",)
SIDE_CALL_REPLY = '{"title": "Stand-in session"}'  # fits the title query's JSON schema


def is_side_call(body) -> bool:
    """True for a /v1/messages request that is not a turn of the agent loop.

    The agent loop sends its tool list. Side queries send none and either ask for
    structured output (output_config.format) or carry a known side prompt. A
    tool-less request without those marks is still the loop (`claude --tools ""`).
    """
    if not isinstance(body, dict) or "messages" not in body:
        return True
    if body.get("tools"):
        return False
    if (body.get("output_config") or {}).get("format"):
        return True
    system = body.get("system") or []
    text = system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)
    return any(marker in text for marker in _SIDE_CALL_MARKERS)


class AnthropicStandIn:
    """The server. script() queues replies; only agent-loop calls take them off the queue."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, delta_delay: float = 0.0):
        self.default_reply = Text("ok")  # answers loop calls once the queue is empty
        self.delta_delay = delta_delay  # seconds between SSE events (for a slow stream)
        self.requests: list[dict] = []  # agent-loop request bodies, in order
        self.all_requests: list[tuple[str, str, object]] = []  # (method, path, body) of each
        self.headers: list[dict[str, str]] = []  # each request's headers, names lowercased
        self._queue: list = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "AnthropicStandIn":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "AnthropicStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def script(self, *replies) -> None:
        """Queue replies, one per agent-loop call. A list is one reply made of several blocks."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget queued replies and recorded requests, and restore the default reply."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.all_requests.clear()
            self.headers.clear()
            self.default_reply = Text("ok")

    def last_user_text(self) -> str:
        """Text of the last user message of the last loop call, joined with newlines.

        Includes tool_result text; leaves out the <system-reminder> blocks the CLI
        adds itself, so a test can compare with the prompt it sent.
        """
        with self._lock:
            messages = self.requests[-1].get("messages", []) if self.requests else []
        user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        return "\n".join(_texts(user["content"])) if user else ""

    def _record(self, method: str, path: str, body, messages_call: bool = False):
        """Log a request. For a /v1/messages call, return the blocks (or ApiError) to answer
        with."""
        with self._lock:
            self.all_requests.append((method, path, body))
            if not messages_call:
                return None
            if is_side_call(body):
                return [Text(SIDE_CALL_REPLY)]
            self.requests.append(body)
            reply = self._queue.pop(0) if self._queue else self.default_reply
        return reply if isinstance(reply, (list, ApiError)) else [reply]

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_standin_{next(self._ids)}"


def _texts(content) -> list[str]:
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    out = []
    for block in content or []:
        if block.get("type") == "tool_result":
            out += _texts(block.get("content") or [])
        elif block.get("type") == "text" and not block["text"].startswith("<system-reminder>"):
            out.append(block["text"])
    return out


def _pieces(text: str) -> list[str]:
    """Split text after each run of whitespace; the pieces join back to exactly the text."""
    parts, start = [], 0
    for i in range(1, len(text)):
        if text[i - 1].isspace() and not text[i].isspace():
            parts.append(text[start:i])
            start = i
    return parts + [text[start:]]


def _block(standin: AnthropicStandIn, block) -> tuple[dict, dict, list[dict], int]:
    """One reply block as (final content, content_block_start, deltas, word count)."""
    if isinstance(block, Text):
        deltas = [{"type": "text_delta", "text": p} for p in _pieces(block.text)]
        return ({"type": "text", "text": block.text}, {"type": "text", "text": ""}, deltas,
                len(block.text.split()))
    if isinstance(block, Thinking):
        deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(block.text)]
        if block.signature:
            deltas.append({"type": "signature_delta", "signature": block.signature})
        final = {"type": "thinking", "thinking": block.text, "signature": block.signature}
        return (final, {"type": "thinking", "thinking": "", "signature": ""}, deltas,
                len(block.text.split()))
    if isinstance(block, ToolUse):
        tool_id, raw = block.id or standin._next_id("toolu"), json.dumps(block.input)
        cut = len(raw) // 2  # partial JSON in two pieces, as the real API splits it
        deltas = [{"type": "input_json_delta", "partial_json": p}
                  for p in (raw[:cut], raw[cut:]) if p]
        final = {"type": "tool_use", "id": tool_id, "name": block.name, "input": block.input}
        return final, dict(final, input={}), deltas, len(raw.split())
    raise TypeError(f"not a reply block: {block!r}")


def _message(standin: AnthropicStandIn, model: str, blocks: list) -> tuple[dict, list[dict]]:
    """The whole message (non-streamed answer) and its SSE events (streamed answer)."""
    content, events, words = [], [], 0
    for index, block in enumerate(blocks):
        final, start, deltas, count = _block(standin, block)
        content.append(final)
        words += count
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
    usage = {"input_tokens": 10, "output_tokens": max(words, 1),
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    message = {"id": standin._next_id("msg"), "type": "message", "role": "assistant",
               "model": model, "content": content, "stop_reason": stop, "stop_sequence": None,
               "usage": usage}
    opening = dict(message, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
    ending = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
              "usage": {"output_tokens": usage["output_tokens"]}}
    return message, [{"type": "message_start", "message": opening}, *events, ending,
                     {"type": "message_stop"}]


def _handler_for(standin: AnthropicStandIn):
    class Handler(BaseHTTPRequestHandler):
        """HTTP/1.0: each response closes its connection, which is what ends an SSE stream."""

        def log_message(self, *args):  # keep test output quiet
            pass

        def _send_json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _not_found(self) -> None:
            self._send_json(404, {"type": "error", "error": {
                "type": "not_found_error", "message": f"no route {self.path}"}})

        def parse_request(self):
            parsed = super().parse_request()
            if parsed:
                with standin._lock:
                    standin.headers.append({k.lower(): v for k, v in self.headers.items()})
            return parsed

        def do_HEAD(self):  # the CLI probes HEAD / before its first call
            standin._record("HEAD", self.path, None)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            standin._record("GET", self.path, None)
            self._not_found()

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            path = self.path.split("?")[0]  # the CLI posts to /v1/messages?beta=true
            reply = standin._record("POST", self.path, body,
                                    messages_call=path == "/v1/messages")
            if path == "/v1/messages/count_tokens":  # rough but deterministic
                return self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
            if reply is None:
                return self._not_found()
            if isinstance(reply, ApiError):
                kind = reply.error_type or _ERROR_TYPES.get(reply.status, "api_error")
                return self._send_json(reply.status, {"type": "error", "error": {
                    "type": kind, "message": reply.message}})
            model = body.get("model", "claude-standin") if isinstance(body, dict) \
                else "claude-standin"
            message, events = _message(standin, model, reply)
            if not (isinstance(body, dict) and body.get("stream")):
                return self._send_json(200, message)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for event in events:
                    frame = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
                    self.wfile.write(frame.encode())
                    self.wfile.flush()
                    if standin.delta_delay:
                        time.sleep(standin.delta_delay)
            except (BrokenPipeError, ConnectionResetError):  # the CLI was killed mid-stream
                pass

    return Handler
