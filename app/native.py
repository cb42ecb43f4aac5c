"""The non-streaming answer of `/api/claude`: the turn's final result as one object."""

from app.claude.events import KeepAlive

RESULT_FIELDS = ("type", "subtype", "is_error", "result", "session_id", "usage",
                 "total_cost_usd", "num_turns", "duration_ms", "api_error_status",
                 "permission_denials")
_STATUS_BY_SUBTYPE = {"timeout": 504, "process_error": 502, "interrupted": 502,
                      "capacity_exceeded": 429}


def collect_result(turn) -> dict:
    """Run the turn to its end and keep only the result's public fields."""
    result = None
    for event in turn.events():
        if not isinstance(event, KeepAlive) and event.type == "result":
            result = event.data
    return {key: result[key] for key in RESULT_FIELDS if key in result}


def result_status(result: dict) -> int:
    """200 for Claude's own results, 502/504 when the server had to make one."""
    return _STATUS_BY_SUBTYPE.get(result.get("subtype"), 200)
