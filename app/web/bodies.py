"""Reading a JSON request body through a marshmallow schema, with our errors."""

from flask import Request
from marshmallow import Schema, ValidationError

from app.errors import BadRequest, UnsupportedMediaType


def load_json(request: Request, schema: Schema) -> dict:
    """Parse and validate the body; 415 if not JSON, 400 naming the first bad field."""
    return validate(read_json(request), schema)


def read_json(request: Request) -> dict:
    """The body as a JSON object; 415 if it is not sent as JSON, 400 if it is not one."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the request body as JSON with "
                                   "'Content-Type: application/json'.")
    try:
        payload = request.get_json(silent=True)
    except RecursionError:
        payload = None  # nested deeper than the parser goes: not a body we can use
    if payload is None:
        raise BadRequest("The request body is not valid JSON.")
    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object.")
    return payload


def validate(payload: dict, schema: Schema) -> dict:
    """Load a payload through a schema; 400 naming the first bad field."""
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise _first_error(exc) from None


def _first_error(exc: ValidationError) -> BadRequest:
    """Name the first offending field and what is wrong with it."""
    messages = exc.normalized_messages()
    if not isinstance(messages, dict) or not messages:
        return BadRequest(f"Invalid request body: {messages}")
    field, problem = next(iter(messages.items()))
    while isinstance(problem, dict):  # nested: descend to the first leaf
        key, problem = next(iter(problem.items()))
        field = f"{field}.{key}"
    text = problem[0] if isinstance(problem, list) and problem else problem
    if field == "_schema":
        return BadRequest(f"Invalid request body: {text}")
    return BadRequest(f"Invalid '{field}': {text}", param=str(field))
