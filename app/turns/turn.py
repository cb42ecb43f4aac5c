"""One conversation turn as every surface runs it: policy, session hold, a process, its events.

A `Turn` is started in the view, before the response begins, so a missing CLI, a
busy or unknown session, a full queue or a policy refusal becomes a proper JSON
error. It is a facade over three parts, each given only the services it needs:
the session's hold (app/turns/hold.py), admission, which finds its process
(app/turns/admission.py), and settlement, which keeps, parks or stops that process
when the turn ends (app/turns/settlement.py). The turn itself runs the process:
it reads its events, routes its permission questions and passes on interrupts.

A chat turn may pause: its reply ends while the CLI waits for the client (a
permission question, function results). It is parked with its process, and the
session's next request answers and goes on reading the same turn.
"""

import time
from dataclasses import replace
from typing import Callable, Generator, Iterator, cast

from loguru import logger

from app.claude.control import Pause
from app.claude.errors import ClaudeError
from app.claude.events import STREAM, Event, KeepAlive, error_result
from app.claude.pool import Kept, Parked
from app.claude.run import ClaudeRun
from app.errors import ApiError, NotFound
from app.services import Gateway
from app.shared.keys import Principal, operator_key
from app.shared.sessions import title_of
from app.turns.admission import Admission, goes_on
from app.turns.hold import SessionHold
from app.turns.options import TurnOptions
from app.turns.pauses import PauseWatch
from app.turns.policy import plan_turn
from app.turns.settlement import Ending, Settlement, withdraw

UNKNOWN_SESSION = "No conversation found"
NON_STREAM_POLL_SECONDS = 1.0


class Turn:
    """A started turn; iterate `events()` once, or `close()` it."""

    def __init__(self, gateway: Gateway, options: TurnOptions, content: list[dict],
                 caller: Principal | None = None, stream: bool = True,
                 answer: Callable[[Parked], bool] | None = None):
        self.gateway = gateway
        self.caller = caller or operator_key(None)
        gateway.usage.check_budget(self.caller)
        plan = plan_turn(gateway, options, self.caller)
        self.workspace = plan.workspace
        self.spec = plan.spec
        self.session_id = plan.spec.resume
        self.owner = self.caller.owner
        # A request that sends nothing until the end looks for its client every second.
        self.limits = gateway.limits if stream else \
            replace(gateway.limits, keepalive=min(NON_STREAM_POLL_SECONDS,
                                                  gateway.limits.keepalive))
        self.live = False  # served by a process that was already running (warm or idle)
        self.run: ClaudeRun | None = None
        self.client_gone: Callable[[], bool] = lambda: False  # set by views that can tell
        self.on_event: Callable[[Event], None] | None = None  # a debug capture, if on
        self.paused: Pause | None = None  # what the client must answer, once the turn waits
        self._before_wait: Callable[[], None] = lambda: None  # see on_wait()
        self._answer = answer  # answers a parked turn of the session; False: start afresh
        self._watch = PauseWatch(options.approvals == "chat", bool(self.spec.client_tools))
        self._content = content
        self._param = options.names.get("session-id", "session-id")
        self._kept: Kept | None = None
        self._turns = 0
        self._closed = False
        self._interrupt_asked = False
        self._client_left = False
        self._last_look = time.monotonic()  # when the client was last looked for
        self._began = time.monotonic()
        self._hold = SessionHold(gateway.locks, gateway.pool, gateway.inbox,
                                 gateway.settings.session_wait_ms / 1000, self.interrupt)
        self._admission = Admission(gateway.pool, gateway.budget, gateway.sessions,
                                    gateway.folders, gateway.launch, gateway.settings,
                                    self.spec, self.owner, self.limits.keepalive)
        self._settlement = Settlement(gateway.pool, gateway.sessions, gateway.desk,
                                      gateway.on_turn_end, gateway.settings.approval_timeout_ms,
                                      gateway.settings.tool_result_timeout_ms)
        logger.debug("prompt for workspace {!r}: {!r}", self.workspace or "shared",
                     [block.get("text", "<image>")[:2000] for block in content])
        try:
            if self.session_id:
                self._hold.take(self.session_id)
            self._admit(stream)
        except BaseException:
            self.close()  # whatever failed, a started CLI and the lock go with it
            raise

    @property
    def turns(self) -> int:
        """The session's turn count with this turn."""
        return self._turns

    @property
    def last_message(self) -> str | None:
        """The uuid of the newest assistant message the turn printed."""
        return self.run.last_message if self.run is not None else None

    # -- getting a process ------------------------------------------------------------------

    def _admit(self, stream: bool) -> None:
        parked = self._hold.take_parked()
        if parked is not None and goes_on(parked, self.owner, self._answer):
            self._go_on(parked)
            return
        kept = self._admission.reuse()
        if kept is not None:
            self._begin(kept, cold=False)
            return
        slot = self._admission.slot(stream)
        if slot is not None:
            self._begin(self._admission.start(slot), cold=True)

    def _go_on(self, parked: Parked) -> None:
        """Continue a parked turn: the same CLI turn, now answered, read by this request."""
        run = parked.run
        self._kept, self.run, self.live = parked.kept, run, True
        parked.kept.process.bill_to(self.caller)
        self._turns = parked.turns
        run.limits = self.limits
        # The process serves the functions it was started with, whatever this request sends.
        self._watch.client_functions = parked.kept.process.tool_server is not None
        self._attach(run)

    def _begin(self, kept: Kept, cold: bool) -> None:
        self._kept = kept
        self.live = not cold
        kept.process.bill_to(self.caller)
        run = self.run = ClaudeRun(kept.process, self._content, self.limits, self.session_id)
        self._attach(run)
        if self._interrupt_asked:
            run.interrupt()  # asked while the turn waited for its process
        if self.session_id:
            if cold:
                self._vet_resume(run)
            if not self.spec.fork_at:  # a fork's turn counts on the new session, at init
                self._count_turn(self.session_id)

    def _attach(self, run: ClaudeRun) -> None:
        """Route the CLI's permission questions to this turn, and pause its inactivity clock
        while a person decides."""
        process, desk = run.process, self.gateway.desk
        if self.spec.approvals:
            process.handlers["can_use_tool"] = self._ask_permission
        run.waiting = lambda: bool(desk.waiting(process))
        run.before_wait = lambda: self._before_wait()

    def _ask_permission(self, request_id: str, body: dict) -> None:
        """Hold the CLI's question and tell the client, in the turn's stream (the CLI waits)."""
        process = cast(ClaudeRun, self.run).process
        approval = self.gateway.desk.hold(process, request_id, body, self.owner, self.session_id)
        logger.info("session {}: Claude asks to use {}; waiting for an answer", self.session_id,
                    approval.tool_name)
        process.inject(approval.event())

    def _vet_resume(self, run: ClaudeRun) -> None:
        """Turn the CLI's 'no such session' into a 404 before any byte is sent."""
        first = run.first_event()
        if first is None or first.type != "result" or not first.data.get("is_error"):
            return
        run.process.wait(self.limits.kill_grace)
        if UNKNOWN_SESSION in run.process.stderr_tail:
            raise NotFound(f"Session {self.session_id} was not found.", param=self._param,
                           code="session_not_found")

    def _count_turn(self, session_id: str) -> None:
        """Record the turn in the session's counter (a new session's title with its first),
        and, in a cluster, this host as the home of a new session."""
        if self.gateway.cluster is not None:
            self.gateway.cluster.homes.settle(session_id)
        source = self.spec.resume if session_id != self.spec.resume else None  # forked from
        self._turns = self.gateway.sessions.begin_turn(session_id, self.workspace, self.owner,
                                                       title_of(self._content), source)

    # -- running ----------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the CLI's next event is already at hand (reading it will not wait)."""
        return self.run is not None and self.run.process.has_ready()

    def on_wait(self, flush: Callable[[], None]) -> None:
        """Have `flush` called each time reading the turn is about to wait for the CLI, on the
        reading thread: a run passes on the frames it gathered then (app/runs/run.py)."""
        self._before_wait = flush

    def first_event(self) -> Event | None:
        """The turn's first event, once it has a process (the session id comes with it)."""
        event = self.run.first_event() if self.run is not None else None
        if event is not None:
            self._remember(event.session_id)
        return event

    def events(self) -> Iterator[Event | KeepAlive]:
        """Yield the CLI's events (and KEEPALIVE), always ending with a result."""
        try:
            if self.run is None:
                failure = yield from self._wait_in_queue()
                if failure is not None:
                    yield failure
                    return
            for event in cast(ClaudeRun, self.run).events():
                self._look_for_client()
                if not isinstance(event, KeepAlive):
                    if event.type != STREAM or self.session_id is None:  # else its init's
                        self._remember(event.session_id)
                    if self.on_event is not None:
                        self.on_event(event)
                yield event
                if not isinstance(event, KeepAlive) and self.session_id:
                    self.paused = self._watch.feed(event)
                    if self.paused:
                        return  # the CLI waits for the client's next request
        finally:
            self.close()

    def _look_for_client(self) -> None:
        """Interrupt the turn once its client has gone (looked for at most once a second)."""
        now = time.monotonic()
        if now - self._last_look >= NON_STREAM_POLL_SECONDS and not self._interrupt_asked:
            self._last_look = now
            if self.client_gone():
                logger.info("client gone; interrupting claude pid {}",
                            cast(ClaudeRun, self.run).process.pid)
                self.interrupt()

    def _wait_in_queue(self) -> Generator[KeepAlive, None, Event | None]:
        """Keep a stream alive while it waits for a slot; return a result if it cannot run."""
        waited = yield from self._admission.wait(lambda: self._interrupt_asked)
        if isinstance(waited, Event):
            return waited
        try:
            self._begin(self._admission.start(waited), cold=True)
        except (ApiError, ClaudeError) as exc:  # the headers are sent: in-band
            code = exc.code if isinstance(exc, ApiError) else "cli_unavailable"
            return error_result(code or "error", exc.message, self.session_id)
        return None

    def _remember(self, session_id: str | None) -> None:
        """Count a new session's first turn, and hold it so no resume runs beside it."""
        if not session_id or session_id == self.session_id:
            return
        self.session_id = session_id
        self._hold.remember(session_id)
        self._count_turn(session_id)

    def interrupt(self, client_left: bool = False) -> None:
        """End the turn early: the CLI answers with its own result; a turn still waiting for
        its process ends before it starts. (Counted as a disconnect if its client left.)"""
        self._client_left = self._client_left or client_left
        self._interrupt_asked = True
        if self.run is not None:
            withdraw(self.gateway.desk, self.run.process, "The turn was interrupted.")
            self.run.interrupt()

    # -- ending -----------------------------------------------------------------------------

    def close(self) -> None:
        """Settle the process (kept for the next turn or stopped) and free the session."""
        if self._closed:
            return
        self._closed = True
        try:
            # taken over, but this request failed before it began
            self._hold.drop_parked("The request that answered it failed.")
            self._admission.close()
            if self.run is not None and self._kept is not None:
                ending = Ending(self.run, self._kept, self.session_id, self.caller, self._turns,
                                self.live, self._began, self._client_left)
                if self.paused:
                    self._settlement.park(ending, self.paused, self._hold.give_lock())
                else:
                    self._settlement.hand_back(ending)
            elif self._kept is not None:
                self._kept.stop()  # taken, but the turn could not even begin
        finally:
            self._hold.release()
