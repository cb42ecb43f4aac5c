"""The one shape every surface's streamed reply has: a sequence of events, each an SSE event
name (for surfaces that name their events), its data, and what it means for the turn's run
(`app/runs/run.py`), with None for a quiet spell. A run takes the sequence in; its readers
relay it to clients as SSE."""

from app.runs.run import Reading, Rendered

Item = Rendered | None  # an event, or a quiet spell

RUNNING: Reading = ("running", None)
RESULT_FIELDS = ("type", "subtype", "is_error", "result", "session_id", "usage",
                 "total_cost_usd", "num_turns", "duration_ms", "api_error_status",
                 "permission_denials", "errors")


def public_result(data: dict | None) -> dict:
    """The fields of the CLI's result event a client sees."""
    return {key: data[key] for key in RESULT_FIELDS if key in data} if data else {}


def ended(result: dict | None, error: dict | None = None) -> Reading:
    """How a reply's last event ends its run: completed with the CLI's result, or failed
    with the error the client got. (Only the last event may end a run: readers elsewhere
    stop reading once it has ended.)"""
    if error is not None:
        return "failed", {"error": error, **public_result(result)}
    return "completed", public_result(result)


def event(data: str, name: str | None = None, reading: Reading = None) -> Rendered:
    """One event of a reply's stream."""
    return name, data, reading
