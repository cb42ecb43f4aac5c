"""The CLI library's errors as HTTP errors: a bad value is the client's 400, a CLI that cannot
run is the server's 503."""

from app import errors
from app.claude.errors import CLIUnavailable, InvalidValue
from app.errors import BadRequest, ServiceUnavailable


def register() -> None:
    """Teach the one error renderer the CLI library's errors."""
    errors.translate(InvalidValue, lambda exc: BadRequest(exc.message, param=exc.param))
    errors.translate(CLIUnavailable, lambda exc: ServiceUnavailable(exc.message,
                                                                    code="cli_unavailable"))
