"""CORS, through flask-cors: browser clients on the operator's CORS_ORIGINS may call the API.

Keys travel in headers (Authorization, x-api-key), never in cookies, so credentials are not
allowed: an allowed page has no use for the browser's cookies, and with `*` echoing any
origin they would only widen what a hostile page could send.
"""

import re

from flask import Flask, Request
from flask_cors import CORS

# Response headers a browser script may read besides the safelisted ones (Content-Type,
# Cache-Control, ...); a view that starts sending a new header adds it here.
EXPOSED_HEADERS = ("X-Session-Id", "X-Ignored-Params", "X-Request-Id", "Retry-After",
                   "X-Token-Count")
MAX_AGE_S = 3600  # browsers cache a preflight this long (they cap it lower themselves)


def register(app: Flask, origins: tuple[str, ...]) -> None:
    """Answer browsers on these origins, preflight included; with none, send no CORS headers."""
    if not origins:
        return
    CORS(app, origins=[_pattern(origin) for origin in origins],
         allow_headers="*",  # echo what the browser asks for: the SDKs send x-stainless-*, ...
         expose_headers=EXPOSED_HEADERS, supports_credentials=False, max_age=MAX_AGE_S,
         always_send=False,  # no Origin, no CORS headers
         allow_private_network=True)  # a listed page may reach a gateway on this host


def is_preflight(request: Request) -> bool:
    """Tell a browser's OPTIONS (answered by Flask itself, running no view) from a real call."""
    rule = request.url_rule
    return request.method == "OPTIONS" and rule is not None and \
        bool(getattr(rule, "provide_automatic_options", False))


def _pattern(origin: str) -> str | re.Pattern:
    """An exact, case-insensitive match: flask-cors would read `[::1]` as a regex."""
    return origin if origin == "*" else re.compile(re.escape(origin) + r"\Z", re.IGNORECASE)
