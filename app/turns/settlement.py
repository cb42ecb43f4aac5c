"""What happens to a turn's process when the turn ends: kept, parked or stopped, and accounted.

A process that answered the turn stays loaded for the session's next turn; any other
is stopped. A turn that waits for its client (a permission question, function
results) is parked with its process until the session's next request. Either way the
turn's cost is added to the session's, and the on_turn_end listeners (the ledger,
metrics) hear what it used.
"""

import time
from dataclasses import dataclass
from functools import partial
from typing import Callable, cast

from loguru import logger

from app.claude.approvals import ApprovalDesk
from app.claude.control import Pause
from app.claude.ended import TurnEnded, outcome_of
from app.claude.pool import Kept, Parked, ProcessPool
from app.claude.process import LiveProcess
from app.claude.run import ClaudeRun
from app.shared.keys import Principal
from app.shared.seam import Lock, SessionStore


def withdraw(desk: ApprovalDesk, process: LiveProcess, why: str) -> None:
    """Refuse whatever the CLI waits on: permission questions, function calls."""
    desk.deny_all(process, why, interrupt=True)
    if process.tool_server is not None:
        process.tool_server.fail_all(why)


@dataclass(frozen=True)
class Ending:
    """A turn that ran in a process, as settlement needs to know it."""
    run: ClaudeRun
    kept: Kept
    session_id: str | None
    caller: Principal
    turns: int  # the session's turn count with this turn
    live: bool  # served by a process that was already running
    began: float  # monotonic
    client_left: bool  # its client was known to have gone before the end


class Settlement:
    """Ends turns for one worker: keeps, parks or stops their processes, and tells who listens."""

    def __init__(self, pool: ProcessPool, sessions: SessionStore, desk: ApprovalDesk,
                 listeners: list[Callable[[TurnEnded], None]], approval_wait_ms: int,
                 tool_result_wait_ms: int):
        self._pool = pool
        self._sessions = sessions
        self._desk = desk
        self._listeners = listeners
        self._approval_wait_ms = approval_wait_ms
        self._tool_result_wait_ms = tool_result_wait_ms

    def hand_back(self, ending: Ending) -> None:
        """Keep a process that answered the turn; stop any other.

        Only a turn that succeeded keeps its process: after an interrupt the CLI's history
        in memory differs from what a resume reads from its file, and after an error it
        may.
        """
        run, kept = ending.run, ending.kept
        try:
            left = run.result is None and run.timed_out is None and kept.process.alive
            if left:
                logger.info("session {}: the client left mid-turn; interrupting claude pid {}",
                            ending.session_id, kept.process.pid)
                withdraw(self._desk, kept.process, "The client disconnected.")
                run.interrupt()  # the client left mid-turn: let the CLI end it cleanly
                for _ in run.events():
                    pass
            self._tell_ended(ending, self._add_cost(ending), left or ending.client_left)
            if run.succeeded and not run.interrupted and ending.session_id:
                self._sessions.note_message(ending.session_id, run.last_message)
                self._pool.keep(kept, ending.session_id, ending.turns)
                return
        except BaseException:
            self._stop(ending)
            raise
        self._stop(ending)

    def _add_cost(self, ending: Ending) -> float:
        """Add the turn's cost to the session's: what the process reports less what it
        reported before (a live process adds its turns up). Returns it."""
        run, kept = ending.run, ending.kept
        cost = run.result.data.get("total_cost_usd") if run.result is not None else None
        if type(cost) not in (int, float):
            return 0.0
        spent, kept.cost = max(0.0, cast(float, cost) - kept.cost), cast(float, cost)
        if ending.session_id:
            self._sessions.add_cost(ending.session_id, spent)
        return spent

    def _tell_ended(self, ending: Ending, cost: float, left: bool) -> None:
        """Tell the ledger (and metrics) what the turn used; their failures never end it."""
        run = ending.run
        result = run.result.data if run.result is not None else None
        ended = TurnEnded(ending.caller.name, ending.caller.owner,
                          outcome_of(result, run.timed_out, left),
                          (result or {}).get("usage") or {}, cost, ending.live,
                          time.monotonic() - ending.began)
        for listener in self._listeners:
            try:
                listener(ended)
            except Exception as exc:
                logger.opt(exception=exc).error("recording the end of a turn failed")

    @staticmethod
    def _stop(ending: Ending) -> None:
        ending.run.close()
        ending.kept.stop()

    def park(self, ending: Ending, paused: Pause, lock: Lock | None) -> None:
        """Keep the waiting turn and its process (and the session's lock) for the session's
        next request."""
        assert ending.session_id, "only a turn of a session waits for its client"
        waits = self._approval_wait_ms if "approval" in paused else self._tool_result_wait_ms
        self._pool.park(Parked(
            ending.kept, ending.run, ending.session_id, ending.caller.owner, ending.turns,
            paused, time.monotonic() + waits / 1000,
            partial(withdraw, self._desk, ending.run.process), lock))
