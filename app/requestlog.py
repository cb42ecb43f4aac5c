"""Request ids, and one log line per request, written when its response has closed."""

import re
import time
import uuid

from flask import Flask, Response, g, request
from loguru import logger

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def annotate(**fields) -> None:
    """Add fields (workspace, session id) to this request's log line."""
    g.log_fields.update({k: v for k, v in fields.items() if v is not None})


def register(app: Flask) -> None:
    """Accept or make an X-Request-Id, echo it, and log the request when it ends."""

    @app.before_request
    def start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.started = time.monotonic()
        g.log_fields = {}

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.request_id
        line = {"method": request.method, "path": request.path, "status": response.status_code,
                "request_id": g.request_id, "key": g.principal.name if "principal" in g else "-"}
        fields, started = g.log_fields, g.started
        response.call_on_close(lambda: _log(line, fields, started))
        return response


def _log(line: dict, fields: dict, started: float) -> None:
    line.update(fields, duration_ms=round((time.monotonic() - started) * 1000))
    text = " ".join(f"{k}={v}" for k, v in line.items())
    logger.bind(**line).info("{}", text)
