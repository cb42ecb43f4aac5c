"""Tool approvals: a person decides whether Claude may use a tool that no rule allows.

With `--permission-prompt-tool stdio` the CLI asks the host (`can_use_tool`) and
waits. The worker running the turn holds the question here and puts a
`permission_request` event in the turn's stream; the answer may come to any
worker, so every question is also a row in STATE_DIR's database: a POST answers
the row, and the holding worker finds the answer within a housekeeping tick (at
once if the POST reached it). A question nobody answers in time is denied.
"""

import threading
import time
import uuid
from dataclasses import dataclass

from loguru import logger

from app import metrics
from app.claude.control import Allow, CliPermission, Decision, Deny
from app.claude.process import LiveProcess

PENDING, ANSWERED, EXPIRED = "pending", "answered", "expired"


@dataclass
class Approval:
    """One question the CLI asked: may this tool run with this input?"""
    id: str
    owner: str
    session_id: str | None
    tool_name: str
    input: dict
    description: str
    tool_use_id: str | None
    suggestions: list
    expires_at: float  # wall-clock time, so every worker reads it alike

    @classmethod
    def asked(cls, body: dict, owner: str, session_id: str | None, timeout: float) -> "Approval":
        """The question in a `can_use_tool` control request."""
        tool_input = body.get("input")
        return cls(id="perm_" + uuid.uuid4().hex, owner=owner, session_id=session_id,
                   tool_name=str(body.get("tool_name") or "tool"),
                   input=tool_input if isinstance(tool_input, dict) else {},
                   description=str(body.get("description") or ""),
                   tool_use_id=body.get("tool_use_id"),
                   suggestions=list(body.get("permission_suggestions") or []),
                   expires_at=time.time() + timeout)

    def public(self) -> dict:
        """What clients see of it, in the stream and in the listing."""
        return {"request_id": self.id, "session_id": self.session_id,
                "tool_name": self.tool_name, "input": self.input,
                "description": self.description, "tool_use_id": self.tool_use_id,
                "expires_at": round(self.expires_at, 3)}

    def event(self) -> dict:
        """The `permission_request` event of the turn's stream."""
        return {"type": "permission_request", **self.public(), "rule": self.rule()}

    def rule(self) -> str:
        """The allowed-tools rule that answers this question for good: the CLI's own
        suggestion when it made one (Bash(git log:*)), else the tool's name."""
        for suggestion in self.suggestions:
            if isinstance(suggestion, dict) and suggestion.get("type") == "addRules":
                for rule in suggestion.get("rules") or []:
                    content = rule.get("ruleContent") if isinstance(rule, dict) else None
                    if content and rule.get("toolName") == self.tool_name:
                        return f"{self.tool_name}({content})"
        return self.tool_name

    def response(self, decision: Decision) -> CliPermission:
        """The CLI's answer for a decision ({"behavior": "allow"|"deny", ...})."""
        if decision.get("behavior") == "allow":
            updated = decision.get("updated_input")
            allowed: CliPermission = {
                "behavior": "allow",
                "updatedInput": updated if isinstance(updated, dict) else self.input}
            if decision.get("always"):
                name, _, content = self.rule().partition("(")
                rule = {"toolName": name, **({"ruleContent": content[:-1]} if content else {})}
                allowed["updatedPermissions"] = [{"type": "addRules", "rules": [rule],
                                                  "behavior": "allow",
                                                  "destination": "session"}]
            return allowed
        denied: CliPermission = {
            "behavior": "deny",
            "message": str(decision.get("message") or "The user denied this tool use.")}
        if decision.get("interrupt"):
            denied["interrupt"] = True
        return denied


def allow(updated_input: dict | None = None, always: bool = False) -> Allow:
    return {"behavior": "allow", "updated_input": updated_input, "always": always}


def deny(message: str, interrupt: bool = False) -> Deny:
    return {"behavior": "deny", "message": message, "interrupt": interrupt}


@dataclass
class _Held:
    approval: Approval
    process: LiveProcess
    cli_request_id: str


class ApprovalDesk:
    """The questions this worker's processes wait on, and their delivery."""

    def __init__(self, book, timeout: float):
        self.book = book
        self.timeout = timeout
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def hold(self, process: LiveProcess, cli_request_id: str, body: dict, owner: str,
             session_id: str | None) -> Approval:
        """Keep a `can_use_tool` question until someone answers it (or time runs out)."""
        approval = Approval.asked(body, owner, session_id, self.timeout)
        with self._lock:
            self._held[approval.id] = _Held(approval, process, cli_request_id)
        try:
            self.book.add(approval)
        except Exception as exc:  # STATE_DIR is gone: still answerable here, and in time
            logger.warning("permission request {} is not shared with other workers: {}",
                           approval.id, exc)
        return approval

    def decide(self, approval_id: str, decision: Decision, status: str = ANSWERED,
               outcome: str | None = None) -> bool:
        """Settle a question held here (a chat answer, expiry, a client gone); tell whether
        this decision was the one that counted."""
        try:
            recorded = self.book.answer(approval_id, decision, status=status)
        except Exception:  # the database is unusable: the local answer still counts
            recorded = True
        if recorded:
            self.deliver(approval_id, decision, outcome)
        return recorded

    def deliver(self, approval_id: str, decision: Decision, outcome: str | None = None) -> bool:
        """Give the CLI a recorded decision if the question is held here; count it by
        `outcome` (expired, withdrawn), else as allowed or denied."""
        with self._lock:
            held = self._held.pop(approval_id, None)
        if held is None:
            return False
        metrics.approval_settled(outcome or (
            "allowed" if decision.get("behavior") == "allow" else "denied"))
        message = decision.get("message")
        logger.info("permission request {} ({}): {}{}", approval_id, held.approval.tool_name,
                    decision.get("behavior"), f" ({message})" if message else "")
        held.process.reply(held.cli_request_id, dict(held.approval.response(decision)))
        return True

    def waiting(self, process: LiveProcess) -> list[Approval]:
        """The questions a process waits on."""
        with self._lock:
            return [h.approval for h in self._held.values() if h.process is process]

    def deny_all(self, process: LiveProcess, message: str, interrupt: bool = False) -> None:
        """Deny whatever a process waits on (its client left, the turn is being ended)."""
        for approval in self.waiting(process):
            self.decide(approval.id, deny(message, interrupt), outcome="withdrawn")

    def tick(self) -> None:
        """Deliver answers given on other workers; deny questions that timed out."""
        with self._lock:
            held = list(self._held.values())
        if not held:
            return
        for approval_id, decision in self.book.decisions([h.approval.id for h in held]).items():
            self.deliver(approval_id, decision)
        now = time.time()
        for item in held:
            if item.approval.expires_at <= now or not item.process.alive:
                denial = deny(f"Nobody answered this permission request within "
                              f"{self.timeout:g} s, so it was denied.")
                why = "expired" if item.approval.expires_at <= now else "withdrawn"
                if not self.decide(item.approval.id, denial, status=EXPIRED, outcome=why):
                    self.deliver(item.approval.id, denial, why)  # answered meanwhile: never hang

