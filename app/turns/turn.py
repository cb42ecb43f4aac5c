"""One conversation turn as every surface runs it: policy, session hold, a process, its events.

A `Turn` is started in the view, before the response begins, so a missing CLI, a
busy or unknown session, a full queue or a policy refusal becomes a proper JSON
error. Its process is, in this order: the session's idle process, if it missed no
turn and has the same launch options; a warm one started for these options; a
new one in a free budget slot; or one that a slot brings after waiting in the
host's queue (a stream waits with keep-alives). When the turn ends, a process that
answered it stays loaded for the session's next turn; any other is stopped.

A chat turn may instead pause: its reply ends while the CLI waits for the client
(a permission question, function results). It is parked with its process, and the
session's next request answers and goes on reading the same turn.
"""

import time
from dataclasses import replace
from typing import Callable, Iterator

from loguru import logger

from app.claude.ended import TurnEnded, outcome_of
from app.claude.events import STREAM, Event, KeepAlive, error_result
from app.claude.pool import Kept, Parked
from app.claude.run import ClaudeRun
from app.claude.errors import ClaudeError
from app.errors import ApiError, NotFound
from app.services import Gateway
from app.shared.keys import Principal, operator_key
from app.shared.sessions import title_of
from app.turns.admission import Admission, goes_on
from app.turns.hold import SessionHold
from app.turns.options import TurnOptions
from app.turns.pauses import PauseWatch
from app.turns.policy import plan_turn

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
        self.client_gone = lambda: False  # set by views that can tell
        self.on_event: Callable[[Event], None] | None = None  # a debug capture, if on
        self.paused: dict | None = None  # what the client must answer, once the turn waits
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
        logger.debug("prompt for workspace {!r}: {!r}", self.workspace or "shared",
                     [block.get("text", "<image>")[:2000] for block in content])
        try:
            if self.session_id:
                self._hold.take(self.session_id)
            self._admit(stream)
        except BaseException:
            self.close()  # whatever failed, a started CLI and the lock go with it
            raise

    # -- getting a process ------------------------------------------------------------------

    @property
    def turns(self) -> int:
        """The session's turn count with this turn."""
        return self._turns

    @property
    def last_message(self) -> str | None:
        """The uuid of the newest assistant message the turn printed."""
        return self.run.last_message if self.run is not None else None

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
        self._kept, self.run, self.live = parked.kept, parked.run, True
        parked.kept.process.api_pass.bind(self.caller)
        self._turns = parked.turns
        self.run.limits = self.limits
        # The process serves the functions it was started with, whatever this request sends.
        self._watch.client_functions = self._kept.process.tool_server is not None
        self._attach()

    def _begin(self, kept: Kept, cold: bool) -> None:
        self._kept = kept
        self.live = not cold
        kept.process.api_pass.bind(self.caller)  # its API calls spend this key's budget now
        self.run = ClaudeRun(kept.process, self._content, self.limits, self.session_id)
        self._attach()
        if self._interrupt_asked:
            self.run.interrupt()  # asked while the turn waited for its process
        if self.session_id:
            if cold:
                self._vet_resume()
            if not self.spec.fork_at:  # a fork's turn counts on the new session, at init
                self._count_turn(self.session_id)

    def _attach(self) -> None:
        """Route the CLI's permission questions to this turn, and pause its inactivity clock
        while a person decides."""
        process, desk = self.run.process, self.gateway.desk
        if self.spec.approvals:
            process.handlers["can_use_tool"] = self._ask_permission
        self.run.waiting = lambda: bool(desk.waiting(process))

    def _ask_permission(self, request_id: str, body: dict) -> None:
        """Hold the CLI's question and tell the client, in the turn's stream (the CLI waits)."""
        approval = self.gateway.desk.hold(self.run.process, request_id, body, self.owner,
                                          self.session_id)
        logger.info("session {}: Claude asks to use {}; waiting for an answer", self.session_id,
                    approval.tool_name)
        self.run.process.inject(approval.event())

    def _vet_resume(self) -> None:
        """Turn the CLI's 'no such session' into a 404 before any byte is sent."""
        first = self.run.first_event()
        if first is None or first.type != "result" or not first.data.get("is_error"):
            return
        self.run.process.wait(self.limits.kill_grace)
        if UNKNOWN_SESSION in self.run.process.stderr_tail:
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
            for event in self.run.events():
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
                logger.info("client gone; interrupting claude pid {}", self.run.process.pid)
                self.interrupt()

    def _wait_in_queue(self) -> Iterator[KeepAlive]:
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
            self._withdraw("The turn was interrupted.")
            self.run.interrupt()

    def _withdraw(self, why: str) -> None:
        """Refuse whatever the CLI waits on: permission questions, function calls."""
        process = self.run.process
        self.gateway.desk.deny_all(process, why, interrupt=True)
        if process.tool_server is not None:
            process.tool_server.fail_all(why)

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
            if self.run is not None and self.paused:
                self._park()
            elif self.run is not None:
                self._hand_back()
            elif self._kept is not None:
                self._kept.stop()  # taken, but the turn could not even begin
        finally:
            self._hold.release()

    def _hand_back(self) -> None:
        """Keep a process that answered the turn; stop any other.

        Only a turn that succeeded keeps its process: after an interrupt the CLI's history
        in memory differs from what a resume reads from its file, and after an error it
        may.
        """
        run, kept = self.run, self._kept
        try:
            left = run.result is None and run.timed_out is None and kept.process.alive
            if left:
                logger.info("session {}: the client left mid-turn; interrupting claude pid {}",
                            self.session_id, kept.process.pid)
                self._withdraw("The client disconnected.")
                run.interrupt()  # the client left mid-turn: let the CLI end it cleanly
                for _ in run.events():
                    pass
            self._tell_ended(run, self._add_cost(run), left or self._client_left)
            if run.succeeded and not run.interrupted and self.session_id:
                self.gateway.sessions.note_message(self.session_id, run.last_message)
                self.gateway.pool.keep(kept, self.session_id, self._turns)
                return
        except BaseException:
            self._stop()
            raise
        self._stop()

    def _add_cost(self, run: ClaudeRun) -> float:
        """Add the turn's cost to the session's: what the process reports less what it
        reported before (a live process adds its turns up). Returns it."""
        cost = run.result.data.get("total_cost_usd") if run.result is not None else None
        if type(cost) not in (int, float):
            return 0.0
        spent, self._kept.cost = max(0.0, cost - self._kept.cost), cost
        if self.session_id:
            self.gateway.sessions.add_cost(self.session_id, spent)
        return spent

    def _tell_ended(self, run: ClaudeRun, cost: float, left: bool) -> None:
        """Tell the ledger (and metrics) what the turn used; their failures never end it."""
        result = run.result.data if run.result is not None else None
        ended = TurnEnded(self.caller.name, self.owner, outcome_of(result, run.timed_out, left),
                          (result or {}).get("usage") or {}, cost, self.live,
                          time.monotonic() - self._began)
        for listener in self.gateway.on_turn_end:
            try:
                listener(ended)
            except Exception as exc:
                logger.opt(exception=exc).error("recording the end of a turn failed")

    def _stop(self) -> None:
        self.run.close()
        self._kept.stop()

    def _park(self) -> None:
        """Keep the waiting turn and its process for the session's next request."""
        settings = self.gateway.settings
        waits = settings.approval_timeout_ms if "approval" in self.paused \
            else settings.tool_result_timeout_ms
        lock = self._hold.give_lock()  # the waiting turn keeps the session
        self.gateway.pool.park(Parked(
            self._kept, self.run, self.session_id, self.owner, self._turns, self.paused,
            time.monotonic() + waits / 1000, self._withdraw, lock))
