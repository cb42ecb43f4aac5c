"""The permission questions of every worker (and host), and their answers.

A question the CLI asks a worker is a row here, so an answer may reach any worker: the
POST records it, and the worker holding the question finds it (app/claude/approvals.py).
A question is listed while the worker holding it lives: its pid tells on its own host; on
another host of a cluster, whether that host still beats.
"""

import json
import os
import time
from typing import Callable

from sqlalchemy import Text, bindparam, text

from app.claude.approvals import ANSWERED, EXPIRED, PENDING, Approval
from app.claude.budget import pid_alive
from app.claude.control import Decision
from app.errors import Conflict, NotFound
from app.shared.state import StateDB


_DECISIONS = text("SELECT id, answer FROM approvals WHERE id IN :ids AND status = :answered"
                  ).bindparams(bindparam("ids", expanding=True, type_=Text()))


class ApprovalBook:
    """The questions of every worker, in the state database. `host` is this host's id in a
    cluster ('' alone), `live_hosts` tells the ids of the cluster's hosts that still beat."""

    def __init__(self, db: StateDB, host: str = "",
                 live_hosts: Callable[[], set[str]] = lambda: set()):
        self.db = db
        self.host = host
        self._live_hosts = live_hosts

    def add(self, approval: Approval) -> None:
        with self.db.connect() as db:
            db.execute(text("INSERT INTO approvals (id, owner, session_id, worker, host, "
                            "request, created_at, expires_at, status) VALUES (:id, :owner, "
                            ":session_id, :worker, :host, :request, :created_at, :expires_at, "
                            ":status)"),
                       {"id": approval.id, "owner": approval.owner, "worker": os.getpid(),
                        "host": self.host,
                        "session_id": approval.session_id, "created_at": time.time(),
                        "request": json.dumps(approval.public()),
                        "expires_at": approval.expires_at, "status": PENDING})

    def answer(self, approval_id: str, decision: Decision, owner: str | None = None,
               status: str = ANSWERED) -> bool:
        """Record a decision if the question is still open; tell whether it was. A client's
        (`owner` given) counts only before the question expires."""
        owned = "" if owner is None else " AND owner = :owner AND expires_at > :now"
        with self.db.connect() as db:
            changed = db.execute(text(f"UPDATE approvals SET status = :status, answer = :answer "
                                      f"WHERE id = :id AND status = :pending{owned}"),
                                 {"status": status, "answer": json.dumps(decision),
                                  "id": approval_id, "pending": PENDING, "owner": owner,
                                  "now": time.time()}).rowcount
        return bool(changed)

    def answer_for(self, approval_id: str, owner: str, decision: Decision) -> None:
        """A client's decision: 404 for an unknown question or another key's, 409 if settled."""
        if self.answer(approval_id, decision, owner):
            return
        with self.db.connect() as db:
            row = db.execute(text("SELECT owner, status, expires_at FROM approvals WHERE id = :id"),
                             {"id": approval_id}).first()
        if row is None or row[0] != owner:
            raise NotFound(f"Permission request {approval_id} was not found.",
                           param="request_id", code="permission_request_not_found")
        why = "was not answered in time and was denied" if row[1] == EXPIRED or \
            row[1] == PENDING and row[2] <= time.time() else "was already answered"
        raise Conflict(f"Permission request {approval_id} {why}.", param="request_id",
                       code="permission_request_settled")

    def pending(self, owner: str) -> list[dict]:
        """The open questions of one key whose worker still runs, oldest first."""
        with self.db.connect() as db:
            rows = db.execute(text("SELECT request, worker, host FROM approvals WHERE owner = "
                                   ":owner AND status = :pending AND expires_at > :now ORDER BY "
                                   "created_at"),
                              {"owner": owner, "pending": PENDING, "now": time.time()}).all()
        elsewhere = {host for _, _, host in rows if host != self.host}
        live = self._live_hosts() if elsewhere else set()
        return [json.loads(request) for request, worker, host in rows
                if (pid_alive(worker) if host == self.host else host in live)]

    def decisions(self, approval_ids: list[str]) -> dict[str, dict]:
        """The decisions recorded for some of these questions."""
        with self.db.connect() as db:
            rows = db.execute(_DECISIONS, {"ids": approval_ids, "answered": ANSWERED}).all()
        return {approval_id: json.loads(answer) for approval_id, answer in rows}
