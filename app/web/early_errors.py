"""Errors gunicorn answers itself, before the app sees a request, in our JSON shape.

gunicorn writes them with `gunicorn.util.write_error` (HTML) and has no setting for
it; gunicorn.conf.py puts this function in its place (checked with gunicorn 27.0.1,
pinned in requirements.txt).
"""

import json

from gunicorn import util


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Answer a malformed request (400, 414, 431, ...) with `{"error": {...}}`."""
    error = {"message": f"{reason}: {mesg}" if mesg else reason,
             "type": "invalid_request_error" if status_int < 500 else "server_error",
             "param": None, "code": reason.lower().replace(" ", "_")}
    body = json.dumps({"error": error})
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n\r\n")
    util.write_nonblock(sock, (head + body).encode("latin-1", errors="replace"))


def install() -> None:
    """Make gunicorn's own error answers JSON."""
    util.write_error = write_json_error
