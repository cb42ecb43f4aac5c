"""One conversation turn as both endpoints run it: policy, session lock, CLI, registry.

A `Turn` is started in the view, before the response begins, so a missing CLI,
a busy or unknown session or a policy refusal becomes a proper JSON error.
"""

from typing import Iterator

from loguru import logger

from app.claude.locate import find_cli
from app.claude.run import KEEPALIVE, ClaudeRun
from app.errors import Conflict, NotFound
from app.gateway import Gateway
from app.policy import TurnOptions, plan_turn

UNKNOWN_SESSION = "No conversation found"


class Turn:
    """A started CLI turn; iterate `events()` once, or `close()` it."""

    def __init__(self, gateway: Gateway, options: TurnOptions, content: list[dict]):
        self.gateway = gateway
        plan = plan_turn(gateway, options)
        self.workspace = plan.workspace
        logger.debug("prompt for workspace {!r}: {!r}", plan.workspace or "shared",
                     [block.get("text", "<image>")[:2000] for block in content])
        self._known: set[str] = set()
        self._lock = None
        if plan.spec.resume:
            self._lock = gateway.sessions.lock(plan.spec.resume,
                                               gateway.settings.session_wait_ms / 1000)
        try:
            self.run = ClaudeRun(find_cli(gateway.settings.claude_path), plan.spec, content,
                                 gateway.limits)
        except BaseException:
            self._release()
            raise
        if plan.spec.resume:
            try:
                self._vet_resume(plan.spec.resume, options.names.get("session-id", "session-id"))
            except BaseException:
                self.close()  # whatever failed, the started CLI and the lock go with it
                raise

    @property
    def session_id(self) -> str | None:
        """The newest session id the CLI reported (or the one being resumed)."""
        return self.run.session_id

    def _vet_resume(self, session_id: str, param: str) -> None:
        """Turn the CLI's 'no such session' into a 404 before any byte is sent."""
        first = self.run.first_event()
        if first is None or first.type != "result" or not first.data.get("is_error"):
            return
        self.run.close()
        if UNKNOWN_SESSION in self.run.process.stderr_tail:
            raise NotFound(f"Session {session_id} was not found in workspace "
                           f"{self.workspace or 'shared'!r}.", param=param,
                           code="session_not_found")

    def events(self) -> Iterator:
        """Yield the CLI's events (and KEEPALIVE), recording where new sessions live."""
        try:
            for event in self.run.events():
                if event is not KEEPALIVE:
                    self._remember(event.session_id)
                yield event
        finally:
            self.close()

    def _remember(self, session_id: str | None) -> None:
        """Record a newly reported session, and hold it so no resume runs beside this turn."""
        if session_id and session_id not in self._known:
            self._known.add(session_id)
            self.gateway.sessions.remember(session_id, self.workspace)
            if self._lock is None:
                try:
                    self._lock = self.gateway.sessions.lock(session_id, 0)
                except Conflict:
                    pass  # a request resuming it already waits its turn

    def close(self) -> None:
        """Stop the CLI and free the session; safe to call more than once."""
        try:
            self.run.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
