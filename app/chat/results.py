"""What a CLI turn's final result amounts to for a client: an answer, or an error with a status.

Every surface uses the same mapping and renders the error in its own shape.
"""

from app.errors import (
    ApiError,
    BadGateway,
    GatewayTimeout,
    TooManyRequests,
    UpstreamRejected,
)
from app.shared.usage import seconds_to_midnight

BUDGET_REFUSED = 402  # the gateway's API proxy refused a call: the key's day is spent


def was_interrupted(result: dict) -> bool:
    """The CLI ended the turn because it was asked to (an interrupt): an answer, cut short."""
    return str(result.get("terminal_reason") or "").startswith("aborted")


def result_error(result: dict | None) -> ApiError | None:
    """The error a finished turn amounts to, or None when Claude answered."""
    if result is None:
        return BadGateway("Claude Code ended without a result.", code="process_error")
    if not result.get("is_error") or result.get("subtype") == "error_max_turns" \
            or was_interrupted(result):
        return None
    message = result.get("result") or "; ".join(result.get("errors") or []) or "Claude Code failed."
    subtype = result.get("subtype") or "error"
    if subtype == "timeout":
        return GatewayTimeout(message)
    if subtype == "capacity_exceeded":
        return TooManyRequests(message)
    status = result.get("api_error_status")
    if status == BUDGET_REFUSED:
        return TooManyRequests(f"The key's daily budget ran out during this turn ({message}).",
                               code="daily_budget_exceeded", retry_after=seconds_to_midnight())
    if isinstance(status, int) and 400 <= status < 500 and status not in (401, 403):
        return UpstreamRejected(status, message)
    return BadGateway(message, code=subtype if subtype != "success" else None)
