"""The non-streaming answer of `/api/claude`: the run's final result as one object.

Its status follows the same mapping as every surface (app/chat/results.py): 200 when
Claude answered, else the error's status (the API's own 4xx, 502, 504, 429), with the
CLI's result in the body either way.
"""

from app.chat.results import result_error


def result_status(result: dict) -> int:
    """The HTTP status the result amounts to."""
    error = result_error(result)
    return 200 if error is None else error.status
