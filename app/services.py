"""What a running app holds besides Flask's config: settings, shared state and its processes."""

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from flask import current_app
from loguru import logger

from app import metrics
from app.chat.conversations import ConversationStore
from app.turns.ended import TurnEnded
from app.claude.approvals import ApprovalBook, ApprovalDesk
from app.claude.budget import Budget, Slot
from app.claude.command import RunSpec, cli_settings
from app.claude.interrupts import InterruptBox
from app.claude.locate import find_cli
from app.claude.pool import ProcessPool
from app.claude.process import LiveProcess
from app.claude.run import Limits, launch
from app.ops.deep_check import DeepCheck, test_turn
from app.shared.key_folders import KeyFolders
from app.shared.keys import KeyStore, Principal, operator_key
from app.proxy.server import ApiProxy
from app.shared.retention import prune_files
from app.proxy.upstream import Upstream, find_credential
from app.sandbox.confiner import Confiner, SandboxPlan
from app.sandbox.jail import ISOLATED
from app.shared.sessions import SessionStore
from app.settings import Settings
from app.shared.state import StateDB, StateUnavailable
from app.shared.usage import UsageLedger


PRUNE_FIRST_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 3600.0
# The gateway's own turns (warm processes before a key takes them, health checks).
GATEWAY = Principal("gateway", "gateway", frozenset({"admin"}))


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
    desk: ApprovalDesk
    keys: KeyStore
    usage: UsageLedger
    folders: KeyFolders
    proxy: ApiProxy
    confiner: Confiner
    deep: DeepCheck
    cli_settings: str  # the --settings of every turn (app/claude/command.py)
    on_turn_end: list[Callable[[TurnEnded], None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, mcp_servers: frozenset[str],
              environ: Mapping[str, str] = os.environ,
              operator_settings: dict | None = None) -> "Gateway":
        """Wire the worker's services; `environ` holds the Anthropic settings the proxy uses
        (ANTHROPIC_BASE_URL, the credential) and the CLI's own settings turns get, and
        `operator_settings` the Claude Code settings every turn gets."""
        db = StateDB(settings.state_dir)
        for folder in ("budget/slots", "budget/queue", "budget/evict"):
            db.folder(folder)  # made again should STATE_DIR be removed
        metrics.keep_folder(db)
        budget = Budget(db.dir / "budget", settings.max_processes, settings.queue_max)
        inbox = InterruptBox(db.folder("interrupts"))
        holder: list[Gateway] = []
        operator = operator_key(settings.keys[0] if settings.keys else None)
        pool = ProcessPool(budget, inbox, lambda spec, slot: holder[0].launch(spec, slot),
                           settings.warm_pool_size, settings.live_idle_ms / 1000,
                           lambda: holder[0].default_spec(operator),
                           InterruptBox(db.folder("handovers")),
                           InterruptBox(db.folder("forgotten")))
        desk = ApprovalDesk(ApprovalBook(db), settings.approval_timeout_ms / 1000)
        usage = UsageLedger(db)
        folders = KeyFolders(settings.state_dir, settings.workspace_base)
        proxy = _proxy(settings, usage, environ)
        confiner = Confiner(SandboxPlan(settings.sandbox, settings.sandbox_network,
                                        settings.sandbox_read_only, settings.sandbox_env), proxy,
                            environ)
        keys = KeyStore(db)
        try:
            keys.any_active()  # seals the database if it holds keys: it must not go keyless
        except StateUnavailable:
            pass  # unreadable: every request that needs it answers 503 meanwhile
        deep = DeepCheck(lambda: test_turn(holder[0], GATEWAY))
        gateway = cls(settings, db, SessionStore(db, folders), ConversationStore(db),
                      mcp_servers, budget, inbox, pool, desk, keys, usage, folders,
                      proxy, confiner, deep, cli_settings(operator_settings or {}),
                      [usage.record, metrics.turn_ended])
        holder.append(gateway)
        pool.chores += [db.ensure, desk.tick,
                        _pruner(db, folders, settings.state_retention_days)]
        pool.start()
        return gateway

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

    def default_spec(self, caller: Principal = GATEWAY) -> RunSpec | None:
        """The launch of a new conversation with no options, which the warm pool keeps ready
        (for the operator's key: a managed key's warm processes come from its own launches)."""
        from app.turns.options import TurnOptions
        from app.turns.policy import plan_turn
        try:
            return plan_turn(self, TurnOptions(), caller).spec
        except Exception:  # an unusable workspace base: nothing worth warming
            return None

    def close(self) -> None:
        """Stop this gateway's housekeeping, the processes it keeps and its API proxy."""
        self.pool.close()
        self.proxy.close()


def _pruner(db: StateDB, folders: KeyFolders, retention_days: int):
    """A housekeeping chore that prunes the state once an hour (first a minute after start)."""
    due = [time.monotonic() + PRUNE_FIRST_SECONDS]

    def prune() -> None:
        if retention_days and time.monotonic() >= due[0]:
            due[0] = time.monotonic() + PRUNE_EVERY_SECONDS
            removed = db.prune(retention_days)
            files = prune_files(db, folders, retention_days)
            if removed or files:
                logger.info("forgot {} sessions and conversations and {} files and folders "
                            "unused for {} days", removed, files, retention_days)
    return prune


def _proxy(settings: Settings, usage: UsageLedger, environ: Mapping[str, str]) -> ApiProxy:
    """This worker's API proxy, on a socket of its own where sandboxes have no network."""
    on_socket = settings.sandbox == "bwrap" and settings.sandbox_network == ISOLATED
    proxy = ApiProxy(Upstream(environ.get("ANTHROPIC_BASE_URL")), find_credential(environ),
                     usage, on_socket)
    proxy.start()
    return proxy


def current() -> Gateway:
    """The gateway of the app handling this request."""
    return current_app.extensions["gateway"]
