"""The permission questions of every worker (and host), and their answers.

A question the CLI asks a worker is a row here, so an answer may reach any worker: the
POST records it, and the worker holding the question finds it (app/claude/approvals.py).
"""

import json
import os
import time

from app.claude.approvals import ANSWERED, EXPIRED, PENDING, Approval
from app.claude.budget import pid_alive
from app.claude.control import Decision
from app.errors import Conflict, NotFound
from app.shared.state import StateDB


class ApprovalBook:
    """The questions of every worker, in STATE_DIR's database."""

    def __init__(self, db: StateDB):
        self.db = db

    def add(self, approval: Approval) -> None:
        with self.db.connect() as db:
            db.execute("INSERT INTO approvals (id, owner, session_id, worker, request, "
                       "created_at, expires_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (approval.id, approval.owner, approval.session_id, os.getpid(),
                        json.dumps(approval.public()), time.time(), approval.expires_at,
                        PENDING))

    def answer(self, approval_id: str, decision: Decision, owner: str | None = None,
               status: str = ANSWERED) -> bool:
        """Record a decision if the question is still open; tell whether it was. A client's
        (`owner` given) counts only before the question expires."""
        owned = "" if owner is None else " AND owner = ? AND expires_at > ?"
        with self.db.connect() as db:
            changed = db.execute(f"UPDATE approvals SET status = ?, answer = ? WHERE id = ? "
                                 f"AND status = ?{owned}",
                                 (status, json.dumps(decision), approval_id, PENDING,
                                  *(() if owner is None else (owner, time.time())))).rowcount
        return bool(changed)

    def answer_for(self, approval_id: str, owner: str, decision: Decision) -> None:
        """A client's decision: 404 for an unknown question or another key's, 409 if settled."""
        if self.answer(approval_id, decision, owner):
            return
        with self.db.connect() as db:
            row = db.execute("SELECT owner, status, expires_at FROM approvals WHERE id = ?",
                             (approval_id,)).fetchone()
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
            rows = db.execute("SELECT request, worker FROM approvals WHERE owner = ? AND "
                              "status = ? AND expires_at > ? ORDER BY created_at",
                              (owner, PENDING, time.time())).fetchall()
        return [json.loads(request) for request, worker in rows if pid_alive(worker)]

    def decisions(self, approval_ids: list[str]) -> dict[str, dict]:
        """The decisions recorded for some of these questions."""
        marks = ",".join("?" * len(approval_ids))
        with self.db.connect() as db:
            rows = db.execute(f"SELECT id, answer FROM approvals WHERE id IN ({marks}) AND "
                              f"status = ?", (*approval_ids, ANSWERED)).fetchall()
        return {approval_id: json.loads(answer) for approval_id, answer in rows}
