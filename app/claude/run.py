"""One CLI turn: start the process for a spec, send the prompt, yield events to a result.

The event stream always ends with a `result`: the CLI's own, or one made here
when the CLI timed out, crashed or printed none, quoting its stderr tail.
"""

import json
import os
import signal
import tempfile
from collections import deque
from pathlib import Path
from typing import Iterator

from app.claude.command import RunSpec, build_argv
from app.claude.events import Event, error_result, parse_line
from app.claude.process import KEEPALIVE, ClaudeProcess, Limits
from app.errors import ServiceUnavailable

__all__ = ["KEEPALIVE", "ClaudeRun", "Limits", "user_message"]

SECRET_ENV = ("API_KEY", "API_KEYS")  # the gateway's own keys never reach Claude's tools


def user_message(content: list[dict]) -> bytes:
    """Encode a prompt as the stream-json user message the CLI reads on stdin."""
    message = {"type": "user", "message": {"role": "user", "content": content}}
    # ASCII escapes keep any string encodable, lone surrogates included.
    return (json.dumps(message) + "\n").encode("ascii")


def child_env() -> dict[str, str]:
    """The environment for the CLI: ours, less the gateway's secrets."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_ENV}


class ClaudeRun:
    """A started CLI turn; iterate `events()` once, or call `close()`."""

    def __init__(self, executable: str | None, spec: RunSpec, content: list[dict],
                 limits: Limits):
        if executable is None:
            raise ServiceUnavailable("The Claude Code CLI was not found: install it or set "
                                     "CLAUDE_PATH.")
        self.session_id = spec.resume
        self.result: Event | None = None
        self._pending: deque[Event] = deque()
        stdin = user_message(content)
        self._prompt_file = _write_temp(spec.system_prompt) if spec.system_prompt else None
        argv = build_argv(executable, spec, self._prompt_file)
        try:
            self.process = ClaudeProcess(argv, str(spec.cwd), child_env(), limits)
        except OSError as exc:
            self._remove_prompt_file()
            raise ServiceUnavailable(f"The Claude Code CLI could not be started: {exc}") from None
        self.process.send(stdin)

    def first_event(self) -> Event | None:
        """Wait for the first event without consuming it (used to vet a resume)."""
        if not self._pending:
            for item in self.process.lines():
                event = None if item is KEEPALIVE else parse_line(item)
                if event is not None:
                    self._pending.append(self._track(event))
                    break
        return self._pending[0] if self._pending else None

    def events(self) -> Iterator[Event | object]:
        """Yield events (and KEEPALIVE while silent), always ending with a result."""
        try:
            while self._pending:
                yield self._track(self._pending.popleft())
            for item in self.process.lines():
                event = item if item is KEEPALIVE else parse_line(item)
                if event is not None:
                    yield event if event is KEEPALIVE else self._track(event)
            if self.result is None:
                yield self._track(self._failure())
        finally:
            self.close()

    def _track(self, event: Event) -> Event:
        if event.session_id:
            self.session_id = event.session_id
        if event.type == "result":
            self.result = event
        return event

    def _failure(self) -> Event:
        """Explain why the run ended without a result."""
        process = self.process
        if process.timed_out:
            limit = (process.limits.total if process.timed_out == "total"
                     else process.limits.inactivity)
            message = (f"Claude Code hit the {process.timed_out} timeout ({limit:g} s) "
                       "and was stopped.")
            subtype = "timeout"
        else:
            message = f"Claude Code {_exit_text(process.returncode)} without a result."
            subtype = "process_error"
        if process.stderr_tail:
            message += f" stderr: {process.stderr_tail[-2000:]}"
        return error_result(subtype, message, self.session_id)

    def close(self) -> None:
        """Stop the process and remove temporary files; safe to call twice."""
        self.process.stop()
        self._remove_prompt_file()

    def _remove_prompt_file(self) -> None:
        if self._prompt_file is not None:
            self._prompt_file.unlink(missing_ok=True)
            self._prompt_file = None


def _exit_text(returncode: int | None) -> str:
    """How the process ended, in words: an exit code or the signal that killed it."""
    if returncode is not None and returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _write_temp(text: str) -> Path:
    """Put a long text in a private file, as the CLI's `-file` flags want."""
    handle, name = tempfile.mkstemp(prefix="claude-system-", suffix=".txt")
    with os.fdopen(handle, "w", encoding="utf-8", errors="replace") as out:
        out.write(text)
    return Path(name)
