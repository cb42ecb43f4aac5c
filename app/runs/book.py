"""The runs of this worker and the way to every other run: start one, find it, follow its
events, cancel it, list a key's runs, and tell its webhook when it ends or waits.

A run belongs to the key that started it; another key's run answers exactly like an unknown
one. A run started in another worker (or host) is read from the shared log and cancelled
through the signals its worker watches, as interrupts are.
"""

import re
import secrets
from typing import Callable, Iterator, MutableMapping

from app.claude.interrupts import Signals
from app.errors import NotFound
from app.runs.log import Frame, RunLog, RunMeta
from app.runs.run import Interrupt, Pacing, Rendered, Run, Unpaced
from app.runs.webhooks import WebhookSender

RUN_ID = re.compile(r"(run|resp)_[0-9a-f]{32}")  # a Responses run has its response's id
STATUSES = ("queued", "running", "waiting", "completed", "failed", "cancelled", "incomplete")
TOLD = {"completed": "run.completed", "failed": "run.failed", "cancelled": "run.cancelled",
        "incomplete": "run.failed", "waiting": "run.waiting"}


def new_run_id() -> str:
    return "run_" + secrets.token_hex(16)


def public(meta: RunMeta) -> dict:
    """What a client sees of a run."""
    return {"id": meta.id, "object": "run", "status": meta.status,
            "session_id": meta.session_id, "workspace": meta.workspace,
            "surface": meta.surface, "created_at": round(meta.created_at, 3),
            "started_at": meta.started_at and round(meta.started_at, 3),
            "ended_at": meta.ended_at and round(meta.ended_at, 3),
            "waiting": meta.waiting, "result": meta.result}


class RunBook:
    """Every run a worker can reach, by id and by key."""

    def __init__(self, log: RunLog, reachable: MutableMapping[str, Callable[[], None]],
                 signals: Signals, webhooks: WebhookSender, keep_seconds: float):
        self.log = log
        self._reachable = reachable  # id -> how to interrupt it, for signals from elsewhere
        self._signals = signals
        self._webhooks = webhooks
        self._keep_seconds = keep_seconds
        self._local: dict[str, Run] = {}

    def start(self, meta: RunMeta, frames: Iterator[Rendered], interrupt: Interrupt,
              session: Callable[[], str | None], pacing: Pacing = Unpaced()) -> Run:
        """Start pumping a turn's frames into its run; the run goes on without readers."""
        run = Run(self.log, meta, frames, interrupt, session, self._told, pacing)
        self._local[meta.id] = run
        self._reachable[meta.id] = run.cancel
        run.start()
        return run

    def _told(self, meta: RunMeta) -> None:
        """A run moved: forget an ended one here (its log keeps it) and tell its webhook."""
        if meta.ended:
            self._local.pop(meta.id, None)
            self._reachable.pop(meta.id, None)
        if meta.webhook and meta.status in TOLD:
            self._webhooks.send(meta.webhook, TOLD[meta.status], public(meta))

    def find(self, owner: str, run_id: str) -> RunMeta:
        """The key's run, as it stands now; 404 for any other (unknown, or another key's)."""
        run = self._local.get(run_id)
        meta = run.meta if run is not None else (
            self.log.meta(run_id) if RUN_ID.fullmatch(run_id) else None)
        if meta is None or meta.owner != owner:
            raise NotFound(f"Run {run_id} was not found.", param="run_id", code="run_not_found")
        return meta

    def of(self, owner: str, status: str | None = None) -> list[RunMeta]:
        """The key's runs still in the log, newest first, maybe only those with `status`."""
        return [meta for meta in self.log.runs_of(owner) if status in (None, meta.status)]

    def follow(self, owner: str, run_id: str, after: int,
               keepalive: float) -> Iterator[list[Frame] | None]:
        """The run's events after `after` and then as they come, until it has ended."""
        self.find(owner, run_id)
        run = self._local.get(run_id)
        if run is not None:
            return run.follow(after, keepalive)
        return self.log.follow(run_id, after, keepalive)

    def cancel(self, owner: str, run_id: str) -> RunMeta:
        """Interrupt the key's run wherever it runs; an ended run stays as it ended."""
        meta = self.find(owner, run_id)
        if meta.ended:
            return meta
        run = self._local.get(run_id)
        if run is not None:
            run.cancel()
        else:
            self._signals.request(run_id)  # its worker interrupts it within a tick
        return meta

    def delete(self, owner: str, run_id: str) -> RunMeta:
        """Forget the key's run, cancelling it first if it still runs."""
        meta = self.cancel(owner, run_id)
        self.log.delete(run_id)
        return meta

    def prune(self) -> int:
        """Forget runs that ended longer ago than the log keeps them."""
        return self.log.prune(self._keep_seconds)
