"""Errors in the Anthropic API's own shape, for the Messages surface only."""

from app.errors import ApiError

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
         504: "timeout_error", 529: "overloaded_error"}


def body(error: ApiError) -> dict:
    """`{"type": "error", "error": {"type", "message"}}`, its type as Anthropic names it and
    its message naming the field at fault."""
    kind = TYPES.get(error.status) or ("api_error" if error.status >= 500
                                       else "invalid_request_error")
    message = error.message
    if error.param and error.param not in message:  # the shape has no param: say it first
        message = f"{error.param}: {message}"
    return {"type": "error", "error": {"type": kind, "message": message}}
