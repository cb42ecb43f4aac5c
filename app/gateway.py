"""What a running app holds besides Flask's config: settings, shared state and its processes."""

from dataclasses import dataclass

from flask import current_app

from app.chat.conversations import ConversationStore
from app.claude.budget import Budget, Slot
from app.claude.command import RunSpec
from app.claude.interrupts import InterruptBox
from app.claude.locate import find_cli
from app.claude.pool import ProcessPool
from app.claude.process import LiveProcess
from app.claude.run import Limits, launch
from app.sessions import SessionStore
from app.settings import Settings
from app.state import StateDB


@dataclass(frozen=True)
class Gateway:
    """The per-worker services that views hand to domain code."""
    settings: Settings
    db: StateDB
    sessions: SessionStore
    conversations: ConversationStore
    mcp_servers: frozenset[str]
    budget: Budget
    inbox: InterruptBox
    pool: ProcessPool

    @classmethod
    def build(cls, settings: Settings, mcp_servers: frozenset[str]) -> "Gateway":
        db = StateDB(settings.state_dir)
        budget = Budget(db.dir / "budget", settings.max_processes, settings.queue_max)
        inbox = InterruptBox(db.dir / "interrupts")
        holder: list[Gateway] = []
        pool = ProcessPool(budget, inbox, lambda spec, slot: holder[0].launch(spec, slot),
                           settings.warm_pool_size, settings.live_idle_ms / 1000,
                           lambda: holder[0].default_spec())
        gateway = cls(settings, db, SessionStore(db), ConversationStore(db), mcp_servers,
                      budget, inbox, pool)
        holder.append(gateway)
        pool.start()
        return gateway

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(total=s.total_timeout_ms / 1000, inactivity=s.inactivity_timeout_ms / 1000,
                      kill_grace=s.kill_timeout_ms / 1000, keepalive=s.keepalive_ms / 1000)

    def launch(self, spec: RunSpec, slot: Slot) -> LiveProcess:
        """Start a process for `spec` in `slot`; the slot is freed when the process is reaped."""
        process = launch(find_cli(self.settings.claude_path), spec,
                         self.settings.kill_timeout_ms / 1000, on_stop=[slot.release])
        slot.mark(slot.state, process.pid)
        return process

    def default_spec(self) -> RunSpec | None:
        """The launch of a new conversation with no options, which the warm pool keeps ready."""
        from app.chat.turn_options import TurnOptions
        from app.policy import plan_turn
        try:
            return plan_turn(self, TurnOptions()).spec
        except Exception:  # an unusable workspace base: nothing worth warming
            return None

    def close(self) -> None:
        """Stop this gateway's housekeeping and the processes it keeps."""
        self.pool.close()


def current() -> Gateway:
    """The gateway of the app handling this request."""
    return current_app.extensions["gateway"]
