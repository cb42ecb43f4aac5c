"""`GET /api/usage`: what the calling key has used today, this month and day by day, and
its limits; an operator's key also sees every key's day."""

from flask import Blueprint, jsonify

from app.shared import usage_history
from app.web.auth import principal
from app.web.context import current

bp = Blueprint("usage", __name__, url_prefix="/api/usage")


@bp.get("")
def show():
    """The caller's usage today, this month and for the last days (UTC), beside its limits."""
    gateway, caller = current(), principal()
    report = gateway.usage.report(caller)
    report["days"] = usage_history.daily(gateway.db, caller.owner, report["day"])
    if caller.allows("admin"):
        report["keys"] = usage_history.by_key(gateway.db, report["day"])
    return jsonify(report)
