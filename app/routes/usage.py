"""`GET /api/usage`: what the calling key has used today and this month, and its limits."""

from flask import Blueprint, jsonify

from app.web.auth import principal
from app.web.context import current

bp = Blueprint("usage", __name__, url_prefix="/api/usage")


@bp.get("")
def show():
    """The caller's usage today and this month (UTC), beside its limits."""
    return jsonify(current().usage.report(principal()))
