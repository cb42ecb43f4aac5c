"""What each endpoint asks of a key's scopes, checked before its view runs, and the key's
requests per minute. A turn's own scopes (workspace, skip-permissions, approvals) are
checked with the operator's policy, once its options are known (app/policy.py)."""

from app.errors import Forbidden
from app.shared.keys import Principal
from app.shared.seam import UsageLedger

BLUEPRINT_SCOPES = {"claude": "chat", "chat": "chat", "messages": "chat", "responses": "chat",
                    "models": "chat", "sessions": "sessions", "runs": "chat", "metrics": "metrics",
                    "usage": None}
ENDPOINT_SCOPES = {"claude.interrupt": "sessions", "claude.pending_permissions": "approvals",
                   "claude.answer_permission": "approvals"}
UNDECLARED = "admin"  # a route nobody gave a scope: only the operator's keys reach it


def required_scope(endpoint: str | None) -> str | None:
    """The scope an endpoint needs (None: any key, e.g. for its own usage, or no route at all,
    which answers 404). A route missing from the tables fails closed."""
    if endpoint is None:
        return None
    if endpoint in ENDPOINT_SCOPES:
        return ENDPOINT_SCOPES[endpoint]
    return BLUEPRINT_SCOPES.get(endpoint.split(".")[0], UNDECLARED)


def admit(caller: Principal, endpoint: str | None, usage: UsageLedger) -> None:
    """403 naming the scope the key lacks; 429 beyond its requests per minute."""
    scope = required_scope(endpoint)
    if scope is not None and not caller.allows(scope):
        raise Forbidden(f"Key {caller.name!r} lacks the scope {scope!r} this endpoint needs.",
                        code="scope_missing")
    usage.count_request(caller)
