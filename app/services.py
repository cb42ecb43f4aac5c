"""The worker's services, which views hand to domain code: settings, what workers share, this
worker's processes, its API proxy and its confinement. Flask-free: app/wiring.py builds it,
app/web/context.py finds the current app's.
"""

from dataclasses import dataclass, field
from typing import Callable

from app.claude.approvals import ApprovalDesk
from app.claude.budget import Budget, Slot
from app.claude.command import RunSpec
from app.claude.deep_check import DeepCheck
from app.claude.ended import TurnEnded
from app.claude.interrupts import Signals
from app.claude.locate import find_cli
from app.claude.pool import ProcessPool
from app.claude.process import LiveProcess
from app.claude.run import Limits, launch
from app.proxy.server import ApiProxy
from app.sandbox.confiner import Confiner
from app.runs.book import RunBook
from app.settings import Settings
from app.shared.cluster import Cluster
from app.shared.key_folders import KeyFolders
from app.shared.seam import (ConversationStore, KeyStore, SessionLocks, SessionStore,
                             UsageLedger)
from app.shared.state import StateDB


@dataclass(frozen=True)
class Gateway:
    """The per-worker services that views hand to domain code."""
    settings: Settings
    db: StateDB
    sessions: SessionStore
    conversations: ConversationStore
    mcp_servers: frozenset[str]
    budget: Budget
    inbox: Signals
    pool: ProcessPool
    desk: ApprovalDesk
    keys: KeyStore
    usage: UsageLedger
    folders: KeyFolders
    proxy: ApiProxy
    confiner: Confiner
    deep: DeepCheck
    locks: SessionLocks
    cluster: Cluster | None  # this host's cluster, with NODE_URL (None: one host)
    cli_settings: str  # the --settings of every turn (app/claude/command.py)
    runs: RunBook  # every run this worker can reach (app/runs)
    on_turn_end: list[Callable[[TurnEnded], None]] = field(default_factory=list)

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(total=s.total_timeout_ms / 1000, inactivity=s.inactivity_timeout_ms / 1000,
                      kill_grace=s.kill_timeout_ms / 1000, keepalive=s.keepalive_ms / 1000)

    def launch(self, spec: RunSpec, slot: Slot) -> LiveProcess:
        """Start a process for `spec` in `slot`; the slot is freed when the process is reaped."""
        process = launch(find_cli(self.settings.claude_path), spec, self.confiner,
                         self.settings.kill_timeout_ms / 1000, on_stop=[slot.release])
        slot.mark(slot.state, process.pid)
        return process

    def close(self) -> None:
        """Stop this gateway's housekeeping, the processes it keeps and its API proxy, and
        close its database connections."""
        self.pool.close()
        self.proxy.close()
        self.db.close()
