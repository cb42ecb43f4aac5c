"""`/api/claude/sessions`: the caller's sessions, to list, show, fork and delete."""

from flask import Blueprint, jsonify, request

from app.shared import session_list
from app.turns import session_ops
from app.web.auth import principal
from app.web.bodies import validate
from app.web.context import current
from app.web.schemas import sessions_query

bp = Blueprint("sessions", __name__, url_prefix="/api/claude/sessions")


@bp.get("")
def index():
    """The caller's sessions, newest first (by last use), a page at a time."""
    query = validate(request.args, sessions_query)
    after = str(query["after"]) if query["after"] else None
    rows, more = session_list.page(current().db, _owner(), query["limit"], after)
    data = [row.public() for row in rows]
    return jsonify({"object": "list", "data": data, "has_more": more,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None})


@bp.get("/<session_id>")
def show(session_id: str):
    """One session, with the prompts and replies of its turns from Claude Code's own file."""
    return jsonify(session_ops.show(current(), _owner(), session_id))


@bp.post("/<session_id>/fork")
def fork(session_id: str):
    """Make a new session that continues this one as it stands; the original stays as it is."""
    return jsonify(session_ops.fork(current(), _owner(), session_id)), 201


@bp.delete("/<session_id>")
def delete(session_id: str):
    """Forget the session and delete Claude Code's file of it; resuming it is then 404."""
    return jsonify(session_ops.delete(current(), _owner(), session_id))


def _owner() -> str:
    """Whose sessions this request may see: the hash of its key."""
    return principal().owner
