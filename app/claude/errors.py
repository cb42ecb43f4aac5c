"""What the CLI library refuses or cannot do, in its own terms; the HTTP edge gives each kind
its status (app/web/claude_errors.py), as the Agent SDK leaves statuses to its callers."""


class ClaudeError(Exception):
    """A failure of the CLI library, with the message a person should read."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param  # the client's option or field at fault, if one is


class InvalidValue(ClaudeError, ValueError):
    """A value that cannot go to the CLI: a tool rule, a session id, a model or function name."""


class CLIUnavailable(ClaudeError):
    """The CLI is not installed, or could not be started."""
