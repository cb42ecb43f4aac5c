"""`POST /api/claude`: a raw prompt in, Claude Code's own events out as SSE; interrupts and
answers to the permission questions of running turns."""

from flask import Blueprint, jsonify, request
from loguru import logger

from app.claude import approvals
from app.claude.command import check_session_id
from app.claude.events import KeepAlive, error_result
from app.errors import Conflict, NotFound
from app.turns.options import TurnOptions
from app.turns.turn import Turn
from app.web import requestlog, sse
from app.web.auth import principal
from app.web.bodies import load_json
from app.web.chat_http import watch_events
from app.web.context import current
from app.web.disconnect import watcher
from app.web.native import collect_result, result_status
from app.web.schemas import claude_request, permission_answer

bp = Blueprint("claude", __name__, url_prefix="/api/claude")


@bp.post("")
def run():
    """Run one turn and stream its events, or return the final result."""
    body = load_json(request, claude_request)
    content = [{"type": "text", "text": body["prompt"]}]
    options = TurnOptions.from_attrs({**body, "approvals": "stream" if body["approvals"]
                                      else None})
    turn = Turn(current(), options, content,
                caller=principal(), stream=body["stream"])
    requestlog.annotate(workspace=turn.workspace or "shared", session=turn.session_id,
                        live=turn.live)
    watch_events(turn)
    if not body["stream"]:
        turn.client_gone = watcher(request.environ)
        result = collect_result(turn)
        requestlog.annotate(session=result.get("session_id"))
        return jsonify(result), result_status(result)
    return sse.response(_stream(turn, requestlog.first_output()), turn.close)


@bp.post("/sessions/<session_id>/interrupt")
def interrupt(session_id: str):
    """Interrupt the session's running turn, in whichever worker runs it."""
    gateway = current()
    session_id = check_session_id(session_id)
    if gateway.sessions.owner_of(session_id) != principal().owner:
        raise NotFound(f"Session {session_id} was not found.", param="session-id",
                       code="session_not_found")
    if not gateway.locks.is_running(session_id):
        raise Conflict(f"Session {session_id} has no turn running.", param="session-id",
                       code="no_running_turn")
    local = gateway.pool.running.get(session_id)
    if local is not None:
        local()
    else:
        gateway.inbox.request(session_id)
    return jsonify({"session_id": session_id, "status": "interrupting"}), 202


@bp.get("/permissions")
def pending_permissions():
    """The permission questions waiting for the caller's answer (for a UI that reconnects)."""
    owner = principal().owner
    return jsonify({"object": "list", "data": current().desk.book.pending(owner)})


@bp.post("/permissions/<request_id>")
def answer_permission(request_id: str):
    """Allow or deny a waiting tool use; the turn, in whichever worker, goes on."""
    body = load_json(request, permission_answer)
    desk = current().desk
    if body["behavior"] == "allow":
        decision = approvals.allow(body["updated_input"], always=body["always"])
    else:
        decision = approvals.deny(body["message"] or "The user denied this tool use.")
    desk.book.answer_for(request_id, principal().owner, decision)
    desk.deliver(request_id, decision)  # at once if it waits here; else its worker's next tick
    return jsonify({"request_id": request_id, "behavior": body["behavior"]}), 200


def _stream(turn: Turn, first_content=lambda: None):
    """Pass every CLI event through as one SSE `data:` event, ending with a result."""
    try:
        for event in turn.events():
            if _is_content(event):
                first_content()
            yield sse.KEEPALIVE_COMMENT if isinstance(event, KeepAlive) else sse.message(event.raw)
    except Exception as exc:  # the headers are sent: the failure must travel in-band
        logger.opt(exception=exc).error("stream failed")
        failed = error_result("gateway_error", "The gateway failed while streaming this run.",
                              turn.session_id)
        yield sse.message(failed.raw)


def _is_content(event) -> bool:
    """Whether an event carries Claude's answer (a streamed delta, or a whole message)."""
    if isinstance(event, KeepAlive):
        return False
    streamed = event.data.get("event") if event.type == "stream_event" else None
    return event.type == "assistant" or (isinstance(streamed, dict)
                                         and streamed.get("type") == "content_block_delta")
