"""Request ids, and one log line per request (and its metrics), written when its response
has closed."""

import re
import time
import uuid
from typing import Callable

from flask import Flask, Response, g, request
from loguru import logger

from app import metrics

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def annotate(**fields) -> None:
    """Add fields (workspace, session id) to this request's log line."""
    g.log_fields.update({k: v for k, v in fields.items() if v is not None})


def register(app: Flask) -> None:
    """Accept or make an X-Request-Id, echo it, and log and count the request when it ends."""

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
        route = (endpoint(), request.method, response.status_code)
        response.call_on_close(lambda: _log(line, fields, started, route))
        return response


def endpoint() -> str:
    """The route that served this request, as metrics name it (its rule, not its path)."""
    return request.url_rule.rule if request.url_rule is not None else "(unmatched)"


def first_output() -> Callable[[], None]:
    """What to call when the client gets the answer's first content: it records, once, the
    time to first token since this request began."""
    route, started = endpoint(), g.started
    done: list[bool] = []  # holds one entry once the first content has arrived

    def arrived() -> None:
        if not done:
            done.append(True)
            metrics.first_token(route, time.monotonic() - started)
    return arrived


def _log(line: dict, fields: dict, started: float, route: tuple[str, str, int]) -> None:
    seconds = time.monotonic() - started
    metrics.request_done(*route, seconds)
    line.update(fields, duration_ms=round(seconds * 1000))
    text = " ".join(f"{k}={v}" for k, v in line.items())
    logger.bind(**line).info("{}", text)
