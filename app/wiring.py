"""Building one worker's services: every part made, each handed only what it uses.

The one place that knows every part; nothing imports it but the factory and the
operator's commands.
"""

import os
import time
from typing import Mapping

from loguru import logger

from app import metrics
from app.claude.approvals import ApprovalDesk
from app.claude.budget import Budget
from app.claude.command import cli_settings
from app.claude.deep_check import DeepCheck, test_turn
from app.claude.interrupts import InterruptBox
from app.claude.pool import ProcessPool
from app.proxy.server import ApiProxy
from app.runs.book import RunBook
from app.runs.log import FileRunLog, RedisRunLog
from app.runs.webhooks import WebhookSender
from app.proxy.upstream import Upstream, find_credential
from app.sandbox.confiner import Confiner, SandboxPlan
from app.sandbox.jail import ISOLATED
from app.services import Gateway
from app.settings import Settings
from app.shared.approvals import ApprovalBook
from app.shared.dialects import PostgreSQL, SQLite
from app.shared.conversations import ConversationStore
from app.shared.key_folders import KeyFolders
from app.shared.keys import GATEWAY, KeyStore, operator_key
from app.shared import redis_state
from app.shared.file_locks import FileSessionLocks
from app.shared.cluster import Cluster
from app.shared.redis_state import (Host, HostRegistry, RedisSessionLocks, RedisSignals,
                                    SessionHomes)
from app.shared.retention import prune_files
from app.shared.sessions import SessionStore
from app.shared.state import StateDB, StateUnavailable
from app.shared.usage import UsageLedger
from app.turns.policy import default_spec

PRUNE_FIRST_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 3600.0
RUN_PRUNE_SECONDS = 60.0


def build_gateway(settings: Settings, mcp_servers: frozenset[str],
                  environ: Mapping[str, str] = os.environ,
                  operator_settings: dict | None = None) -> Gateway:
    """Wire the worker's services; `environ` holds the Anthropic settings the proxy uses
    (ANTHROPIC_BASE_URL, the credential) and the CLI's own settings turns get, and
    `operator_settings` the Claude Code settings every turn gets."""
    db = open_state(settings)
    for folder in ("budget/slots", "budget/queue", "budget/evict"):
        db.folder(folder)  # made again should STATE_DIR be removed
    metrics.keep_folder(db)
    budget = Budget(db.dir / "budget", settings.max_processes, settings.queue_max)
    client = redis_state.connect(settings.redis_url) if settings.redis_url else None
    signals = _signals(db, client)
    holder: list[Gateway] = []
    operator = operator_key(settings.keys[0] if settings.keys else None)
    pool = ProcessPool(budget, signals("interrupts"), lambda spec, slot: holder[0].launch(
        spec, slot), settings.warm_pool_size, settings.live_idle_ms / 1000,
        lambda: default_spec(holder[0], operator), signals("handovers"), signals("forgotten"))
    cluster = _cluster(settings, client)
    desk = ApprovalDesk(_approval_book(db, cluster), settings.approval_timeout_ms / 1000)
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
    deep = DeepCheck(lambda: test_turn(holder[0], default_spec(holder[0], GATEWAY), GATEWAY))
    locks = RedisSessionLocks(client) if client else FileSessionLocks(db.folder("locks"))
    runs = _runs(settings, db, client, pool)
    gateway = Gateway(settings, db, SessionStore(db, folders), ConversationStore(db),
                      mcp_servers, budget, pool.inbox, pool, desk, keys, usage, folders, proxy,
                      confiner, deep, locks, cluster, cli_settings(operator_settings or {}),
                      runs, [lambda ended: usage.count_turn(ended.owner), metrics.turn_ended])
    holder.append(gateway)
    pool.chores += [db.ensure, desk.tick, _pruner(db, folders, settings.state_retention_days),
                    _every(RUN_PRUNE_SECONDS, runs.prune)]
    if cluster is not None:
        pool.chores.append(cluster.registry.beat)
    pool.start()
    return gateway


def _runs(settings: Settings, db: StateDB, client, pool: ProcessPool) -> RunBook:
    """The runs' event logs: files under STATE_DIR/runs, or Redis streams across hosts."""
    keep = settings.run_log_minutes * 60.0
    log = RedisRunLog(client, keep) if client else FileRunLog(db.folder("runs"))
    return RunBook(log, pool.running, pool.inbox, WebhookSender(settings.webhook_secret), keep)


def _every(seconds: float, chore):
    """A housekeeping chore that runs `chore` at most once every `seconds`."""
    due = [0.0]

    def run() -> None:
        if time.monotonic() >= due[0]:
            due[0] = time.monotonic() + seconds
            chore()
    return run


def _cluster(settings: Settings, client) -> Cluster | None:
    """This host in its cluster, when it has a NODE_URL (settings require Redis then)."""
    if not settings.node_url:
        return None
    me = Host.at(settings.node_url)
    return Cluster(HostRegistry(client, me), SessionHomes(client, me), settings.cluster_secret,
                   settings.shared_volumes)


def _approval_book(db: StateDB, cluster: Cluster | None) -> ApprovalBook:
    """The questions of every worker; in a cluster, marked with the host that holds each."""
    if cluster is None:
        return ApprovalBook(db)
    return ApprovalBook(db, cluster.me.id,
                        lambda: {host.id for host in cluster.registry.alive()})


def _signals(db: StateDB, client):
    """Where requests about sessions go between workers: files of this host, or Redis."""
    def kind(name: str):
        return RedisSignals(client, name) if client else InterruptBox(db.folder(name))
    return kind


def open_state(settings: Settings, migrate: bool = True) -> StateDB:
    """The state database: PostgreSQL when DATABASE_URL names one (what several hosts share),
    else SQLite in STATE_DIR; its schema upgraded unless `migrate` is off."""
    dialect = PostgreSQL(settings.database_url) if settings.database_url else \
        SQLite(settings.state_dir)
    return StateDB(settings.state_dir, dialect, migrate)


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
