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
    """The caller's sessions, newest first (by last use), a page at a time.
    ---
    get:
      parameters:
      - in: query
        schema: SessionsQuery
      responses:
        200:
          description: >-
            A page of sessions; pass the page's `last_id` as `after` for the next one.
            `workspace` is null for the shared workspace.
          content:
            application/json:
              schema:
                type: object
                properties:
                  object: {type: string, enum: [list]}
                  data:
                    type: array
                    items: {$ref: '#/components/schemas/Session'}
                  has_more: {type: boolean}
                  first_id: {type: [string, 'null'], format: uuid}
                  last_id: {type: [string, 'null'], format: uuid}
    """
    query = validate(request.args, sessions_query)
    after = str(query["after"]) if query["after"] else None
    rows, more = session_list.page(current().db, _owner(), query["limit"], after)
    data = [row.public() for row in rows]
    return jsonify({"object": "list", "data": data, "has_more": more,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None})


@bp.get("/<session_id>")
def show(session_id: str):
    """One session, with the prompts and replies of its turns from Claude Code's own file.
    ---
    get:
      responses:
        200:
          description: The session as the list shows it, plus `turns_detail`.
          content:
            application/json:
              schema:
                allOf:
                  - {$ref: '#/components/schemas/Session'}
                  - type: object
                    properties:
                      turns_detail:
                        type: array
                        items:
                          type: object
                          properties:
                            prompt: {type: string}
                            reply: {type: string}
                            created_at: {type: [integer, 'null']}
    """
    return jsonify(session_ops.show(current(), _owner(), session_id))


@bp.post("/<session_id>/fork")
def fork(session_id: str):
    """Make a new session that continues this one as it stands; the original stays as it is.
    ---
    post:
      responses:
        201:
          description: >-
            The new session (`forked_from` names the original); use its id as any session
            id. 409 while a turn of the original runs.
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Session'}
    """
    return jsonify(session_ops.fork(current(), _owner(), session_id)), 201


@bp.delete("/<session_id>")
def delete(session_id: str):
    """Forget the session and delete Claude Code's file of it; resuming it is then 404.
    ---
    delete:
      responses:
        200:
          description: >-
            Deleted. 409 while a turn of it runs or waits, or while forks that have not run
            yet start from it.
          content:
            application/json:
              schema:
                type: object
                properties:
                  id: {type: string, format: uuid}
                  object: {type: string, enum: [session]}
                  deleted: {type: boolean, enum: [true]}
    """
    return jsonify(session_ops.delete(current(), _owner(), session_id))


def _owner() -> str:
    """Whose sessions this request may see: the hash of its key."""
    return principal().owner
