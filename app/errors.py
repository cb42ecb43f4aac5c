"""Error classes that carry their HTTP status, and the one JSON renderer.

Every error leaves the server as `{"error": {"message", "type", "param", "code"}}`,
the OpenAI shape, on every endpoint but those of an API with a shape of its own
(Anthropic's, on /v1/messages); tracebacks and HTML pages never do.
"""

from typing import Any, Callable, TypeVar

from flask import Blueprint, Flask, jsonify
from loguru import logger
from werkzeug.exceptions import HTTPException

from app import metrics


class ApiError(Exception):
    """An error a client can act on; subclasses fix the status and type."""
    status = 400
    type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict:
        """Render the error in the one shape clients parse."""
        return {"error": {"message": self.message, "type": self.type,
                          "param": self.param, "code": self.code}}

    def headers(self) -> dict:
        """Response headers the error needs besides its body (Retry-After, ...)."""
        return {}


class BadRequest(ApiError):
    status, code = 400, "invalid_request"


class Unauthorized(ApiError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class Forbidden(ApiError):
    status, type, code = 403, "permission_error", "forbidden"


class NotFound(ApiError):
    status, type, code = 404, "not_found_error", "not_found"


class Conflict(ApiError):
    status, type, code = 409, "conflict_error", "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class TooManyRequests(ApiError):
    """The host's process budget is spent and the queue is full or took too long, or the
    key's own limits are reached."""
    status, type, code = 429, "rate_limit_error", "capacity_exceeded"
    retry_after = 5  # seconds: about one short turn

    def __init__(self, message: str, param: str | None = None, code: str | None = None,
                 retry_after: int | None = None):
        super().__init__(message, param, code)
        if retry_after is not None:
            self.retry_after = max(1, retry_after)

    def headers(self) -> dict:
        return {"Retry-After": str(self.retry_after)}


class BadGateway(ApiError):
    """Claude Code or the API behind it failed."""
    status, type, code = 502, "api_error", "upstream_error"


class GatewayTimeout(ApiError):
    """Claude Code hit a time limit."""
    status, type, code = 504, "api_error", "timeout"


class UpstreamRejected(ApiError):
    """The Anthropic API refused the request Claude Code made (a 4xx of its own)."""
    type, code = "invalid_request_error", "upstream_error"

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ServiceUnavailable(ApiError):
    status, type, code = 503, "service_unavailable", "cli_unavailable"


class InternalError(ApiError):
    status, type, code = 500, "server_error", "internal_error"


class HttpError(ApiError):
    """One of Werkzeug's errors (404 route, 405, 413, ...) in our shape."""

    def __init__(self, exc: HTTPException):
        self.status = exc.code or 500
        message = "Request body is too large." if self.status == 413 else \
            exc.description or exc.name
        super().__init__(message, code=exc.name.lower().replace(" ", "_"))


_TRANSLATIONS: dict[type, Callable[[Any], ApiError]] = {}
E = TypeVar("E", bound=Exception)


def translate(kind: type[E], as_api_error: Callable[[E], ApiError]) -> None:
    """Render a library's own error (and its subclasses) as this API error."""
    _TRANSLATIONS[kind] = as_api_error


def translated(exc: Exception) -> ApiError | None:
    """The API error a library's error stands for, if one was taught."""
    return next((make(exc) for kind, make in _TRANSLATIONS.items() if isinstance(exc, kind)),
                None)


def register(target: Flask | Blueprint, render: Callable[[ApiError], dict] = ApiError.body
             ) -> None:
    """Render every error, expected or not, as JSON with its status: the app's in the
    OpenAI shape, a blueprint's in its API's own shape."""

    @target.errorhandler(ApiError)
    def api_error(exc: ApiError):
        if exc.status == 429:
            metrics.refused(exc.code)
        return jsonify(render(exc)), exc.status, exc.headers()

    @target.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        error = HttpError(exc)
        return jsonify(render(error)), error.status

    @target.errorhandler(Exception)
    def unexpected(exc: Exception):
        known = translated(exc)
        if known is not None:
            return api_error(known)
        logger.opt(exception=exc).error("unhandled error")
        error = InternalError("The server failed to handle this request.")
        return jsonify(render(error)), error.status
