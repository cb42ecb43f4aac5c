"""Starting a CLI process for a spec, and running one turn on a live process.

A turn's event stream always ends with a `result`: the CLI's own, or one made
here when the CLI timed out, crashed or printed none, quoting its stderr tail.
The process outlives the turn; whoever holds it decides to keep or stop it.
"""

import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

from loguru import logger

from app.claude.client_tools import ClientToolServer
from app.claude.command import RunSpec, build_argv
from app.claude.events import STREAM, Event, KeepAlive, error_result
from app.claude.process import ApiPass, LiveProcess
from app.claude.errors import CLIUnavailable


@dataclass(frozen=True)
class Limits:
    """How long a turn may last and stay silent, and how stops escalate (seconds)."""
    total: float = 3600.0
    inactivity: float = 300.0
    kill_grace: float = 5.0
    keepalive: float = 15.0


def user_message(content: list[dict]) -> dict:
    """A prompt as the stream-json user message the CLI reads on stdin."""
    return {"type": "user", "message": {"role": "user", "content": content}}


@dataclass(frozen=True)
class Command:
    """How to start one CLI process: what the confinement made of its argv."""
    argv: list[str]
    cwd: str
    env: dict[str, str]
    api_pass: ApiPass | None = None  # what the process shows the gateway's API proxy
    on_stop: tuple[Callable[[], None], ...] = ()
    cli_pid: Callable[[int], int | None] | None = None  # the CLI's own pid, if not the child's


class Confinement(Protocol):
    """Where and how the CLI runs (app/sandbox): the paths it sees, its whole command."""

    def executable(self, found: str) -> str: ...

    def cli_path(self, host_path: Path | str) -> str: ...

    def command(self, argv: list[str], spec: RunSpec, files: tuple[Path, ...]) -> Command: ...


def launch(executable: str | None, spec: RunSpec, confinement: Confinement, kill_grace: float,
           on_stop: list[Callable[[], None]]) -> LiveProcess:
    """Start a process for `spec` that waits for its first message; 503 if it cannot start."""
    if executable is None:
        raise CLIUnavailable("The Claude Code CLI was not found: install it or set "
                                 "CLAUDE_PATH.")
    prompt_file = _write_temp(spec.system_prompt) if spec.system_prompt else None
    cleanup = [lambda: prompt_file.unlink(missing_ok=True)] if prompt_file else []
    files = tuple(path for path in (prompt_file, spec.mcp_config) if path is not None)
    tools = ClientToolServer(spec.client_tools) if spec.client_tools else None
    try:
        argv = build_argv(confinement.executable(executable), spec, confinement.cli_path,
                          prompt_file)
        command = confinement.command(argv, spec, files)
    except BaseException:
        for callback in [*on_stop, *cleanup]:
            callback()
        raise
    try:
        process = LiveProcess(command.argv, command.cwd, command.env, kill_grace,
                              on_stop=[*on_stop, *cleanup, *command.on_stop],
                              handlers={"mcp_message": tools.handle} if tools else None,
                              cli_pid=command.cli_pid)
    except OSError as exc:
        for callback in [*on_stop, *cleanup, *command.on_stop]:
            callback()
        raise CLIUnavailable(f"The Claude Code CLI could not be started: {exc}") from None
    if tools is not None:
        tools.reply = process.reply
    process.tool_server = tools
    process.api_pass = command.api_pass
    return process


class ClaudeRun:
    """One turn on a live process; iterate `events()` once. It never stops the process itself,
    except when a time limit fires."""

    def __init__(self, process: LiveProcess, content: list[dict], limits: Limits,
                 session_id: str | None):
        self.process = process
        self.limits = limits
        self.session_id = session_id
        self.result: Event | None = None
        self.last_message: str | None = None  # uuid of the newest assistant message printed
        self.timed_out: str | None = None  # "total", "inactivity" or "interrupt" once one fired
        self._interrupt_by: float | None = None  # when an unanswered interrupt turns into a stop
        self._pending: list[Event] = []
        self._started = time.monotonic()
        self.waiting = lambda: False  # True while the CLI waits on a person: not inactivity
        self.before_wait = lambda: None  # called each time reading is about to wait
        if process.drain():
            logger.warning("claude pid {} had events left from its last turn", process.pid)
        process.send(user_message(content))
        # The total limit holds even when nobody reads (a stalled client, a slow socket).
        self._watchdog = threading.Timer(limits.total, self._expire, ("total",))
        self._watchdog.daemon = True
        self._watchdog.start()

    @property
    def finished(self) -> bool:
        """The CLI answered this turn with its own result, and could take another."""
        return (self.result is not None and not self.result.data.get("synthetic")
                and self.process.alive)

    @property
    def succeeded(self) -> bool:
        """Finished, and without an error: the only turns whose process is worth keeping."""
        return (self.finished and self.result is not None
                and not self.result.data.get("is_error"))

    def first_event(self) -> Event | None:
        """Wait for the first event without consuming it (the session id comes with it)."""
        if not self._pending:
            for item in self._read():
                if not isinstance(item, KeepAlive):
                    self._pending.append(item)
                    break
        return self._pending[0] if self._pending else None

    def events(self) -> Iterator[Event | KeepAlive]:
        """Yield events (and KEEPALIVE while silent), always ending with a result.

        A reader may stop early and call it again later (a turn that waits for its client
        between two requests); the total time limit runs on meanwhile.
        """
        while self._pending:
            yield self._pending.pop(0)
        yield from self._read()
        if self.result is None:
            yield self._track(self._failure())

    def close(self) -> None:
        """Stop the total-time watchdog: the run is over, or its process is being stopped."""
        self._watchdog.cancel()

    def _read(self) -> Iterator[Event | KeepAlive]:
        """The process's events up to this turn's result, its end, or a time limit."""
        process, total_by = self.process, self._started + self.limits.total
        last_activity = time.monotonic()
        while self.result is None:
            now = time.monotonic()
            limits = {"total": total_by, "inactivity": last_activity + self.limits.inactivity,
                      "interrupt": self._interrupt_by or float("inf")}
            deadline = min(limits.values())
            if now >= deadline:
                self._expire(next(name for name, at in limits.items() if at == deadline))
                return
            if not process.has_ready():
                self.before_wait()
            item = process.next_event(min(self.limits.keepalive, deadline - now))
            if item is None:
                process.wait(self.limits.kill_grace)  # so the exit status is known
                return
            if isinstance(item, KeepAlive):
                if self.waiting():
                    last_activity = time.monotonic()  # a person deciding is not a hung CLI
                yield item
                continue
            last_activity = time.monotonic()
            yield self._track(item)

    @property
    def interrupted(self) -> bool:
        return self._interrupt_by is not None

    def _track(self, event: Event) -> Event:
        if (event.type != STREAM or self.session_id is None) and event.session_id:
            self.session_id = event.session_id  # a stream event's is its init's
        if event.type == "assistant" and isinstance(event.data.get("uuid"), str):
            self.last_message = event.data["uuid"]
        if event.type == "result":
            self.result = event
            self._watchdog.cancel()
        return event

    def interrupt(self) -> None:
        """Ask the CLI to end this turn now; stop it if it has not within the kill grace."""
        if self.result is None and self.process.alive and self._interrupt_by is None:
            self._interrupt_by = time.monotonic() + self.limits.kill_grace
            self.process.request("interrupt")

    def _expire(self, limit: str) -> None:
        """Record which limit fired and stop the process: a turn that overran is not kept."""
        if self.result is None and self.timed_out is None:
            self.timed_out = limit
            logger.warning("claude pid {} hit its {} limit; stopping it", self.process.pid, limit)
            self.process.stop()

    def _failure(self) -> Event:
        """Explain why the turn ended without a result."""
        process = self.process
        if self.timed_out == "interrupt":
            message = "Claude Code did not end its turn when interrupted and was stopped."
            subtype = "interrupted"
        elif self.timed_out:
            limit = self.limits.total if self.timed_out == "total" else self.limits.inactivity
            message = f"Claude Code hit the {self.timed_out} timeout ({limit:g} s) and was stopped."
            subtype = "timeout"
        else:
            message = f"Claude Code {_exit_text(process.returncode)} without a result."
            subtype = "process_error"
        if process.stderr_tail:
            message += f" stderr: {process.stderr_tail[-2000:]}"
        return error_result(subtype, message, self.session_id)


def _exit_text(returncode: int | None) -> str:
    """How the process ended, in words: an exit code or the signal that killed it (a sandbox
    reports its CLI's death by signal N as exit code 128 + N, as shells do)."""
    if returncode is not None and (returncode < 0 or 128 < returncode < 160):
        number = -returncode if returncode < 0 else returncode - 128
        try:
            return f"was killed by {signal.Signals(number).name}"
        except ValueError:
            return f"was killed by signal {number}"
    return f"exited with code {returncode}"


def _write_temp(text: str) -> Path:
    """Put a long text in a private file, as the CLI's `-file` flags want."""
    handle, name = tempfile.mkstemp(prefix="claude-system-", suffix=".txt")
    with os.fdopen(handle, "w", encoding="utf-8", errors="replace") as out:
        out.write(text)
    return Path(name)
