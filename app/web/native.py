"""The non-streaming answer of `/api/claude`: the turn's final result as one object.

Its status follows the same mapping as every surface (app/chat/results.py): 200 when
Claude answered, else the error's status (the API's own 4xx, 502, 504, 429), with the
CLI's result in the body either way.
"""

from app.chat.results import result_error
from app.claude.events import KeepAlive

RESULT_FIELDS = ("type", "subtype", "is_error", "result", "session_id", "usage",
                 "total_cost_usd", "num_turns", "duration_ms", "api_error_status",
                 "permission_denials", "errors")


def collect_result(turn) -> dict:
    """Run the turn to its end and keep only the result's public fields."""
    result = None
    for event in turn.events():
        if not isinstance(event, KeepAlive) and event.type == "result":
            result = event.data
    return {key: result[key] for key in RESULT_FIELDS if key in result}


def result_status(result: dict) -> int:
    """The HTTP status the result amounts to."""
    error = result_error(result)
    return 200 if error is None else error.status
