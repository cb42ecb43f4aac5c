"""Debug captures, for keys that have them on (`flask keys capture NAME on`): the request,
the CLI's events and every chunk sent go to STATE_DIR/captures/<request-id>.jsonl, one JSON
line each, readable by the server's user alone (0600), with the caller's key redacted.
"""

import json
import os
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator

from flask import Request, Response, g

from app.claude.events import Event
from app.web.auth import presented_key

REDACTED = "[redacted]"
SECRET_HEADERS = {"authorization", "x-api-key", "cookie"}


class Capture:
    """One request's capture file; safe to write from the stream's thread."""

    def __init__(self, folder: Path, request_id: str, secret: str | None):
        self.path = folder / f"{request_id}.jsonl"
        self.secret = secret
        self._lock = threading.Lock()

    def write(self, kind: str, **fields) -> None:
        line = json.dumps({"at": time.time(), "kind": kind, **fields}, ensure_ascii=False,
                          default=str)
        if self.secret:
            line = line.replace(self.secret, REDACTED)
        with self._lock:
            handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(handle, (line + "\n").encode())
            finally:
                os.close(handle)

    def request(self, request: Request) -> None:
        headers = {k: REDACTED if k.lower() in SECRET_HEADERS else v
                   for k, v in request.headers.items()}
        self.write("request", method=request.method, path=request.full_path,
                   headers=headers, body=request.get_data(as_text=True))

    def event(self, event: Event) -> None:
        self.write("cli_event", event=event.data)

    def sent(self, chunks: Iterable) -> Iterator:
        """Pass the response's chunks on, writing each down."""
        for chunk in chunks:
            self.write("sent", chunk=chunk.decode(errors="replace")
                       if isinstance(chunk, bytes) else chunk)
            yield chunk


def start(folder: Path, request: Request, request_id: str) -> None:
    """Begin this request's capture (its caller has capture on)."""
    g.capture = Capture(folder, request_id, presented_key(request.headers))
    g.capture.request(request)


def current() -> Capture | None:
    """This request's capture, if its caller has one on."""
    return g.get("capture")


def finish(response: Response) -> Response:
    """Write down what goes back, streamed chunk by chunk as it is sent."""
    capture = current()
    if capture is None:
        return response
    capture.write("response", status=response.status_code, headers=dict(response.headers))
    response.response = capture.sent(response.response)
    return response
