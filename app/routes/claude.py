"""`POST /api/claude`: a raw prompt in, Claude Code's own events out as SSE; interrupts and
answers to the permission questions of running turns."""

from flask import Blueprint, jsonify, request

from app.claude import approvals
from app.claude.command import check_session_id
from app.claude.control import Decision
from app.errors import BadGateway, Conflict, NotFound
from app.surfaces.native import frames as native
from app.turns.options import TurnOptions
from app.turns.turn import Turn
from app.web import requestlog, sse
from app.web.auth import principal
from app.web.bodies import load_json
from app.web.chat_http import watch_events
from app.web.context import current
from app.web.disconnect import watcher
from app.web.native import result_status
from app.web.runs import check_webhook, relay, start_run
from app.web.schemas import claude_request, permission_answer

bp = Blueprint("claude", __name__, url_prefix="/api/claude")


@bp.post("")
def run():
    """Run one turn as a run and stream its events, or return the final result."""
    body = load_json(request, claude_request)
    content = [{"type": "text", "text": body["prompt"]}]
    options = TurnOptions.from_attrs({**body, "approvals": "stream" if body["approvals"]
                                      else None})
    webhook = check_webhook(current(), body["webhook"])
    turn = Turn(current(), options, content,
                caller=principal(), stream=body["stream"])
    requestlog.annotate(workspace=turn.workspace or "shared", session=turn.session_id,
                        live=turn.live)
    watch_events(turn)
    detached = body["on_disconnect"] == "continue"
    started = start_run(turn, "claude", webhook, lambda run_id: native.frames(
        turn, run_id, requestlog.first_output()))
    requestlog.annotate(run=started.id)
    headers = {"X-Run-Id": started.id}
    if not body["stream"]:
        if not detached:
            turn.client_gone = watcher(request.environ)
        started.join()
        result = started.meta.result or {}
        requestlog.annotate(session=started.meta.session_id)
        if result.get("type") != "result":  # the gateway failed, not Claude Code
            raise BadGateway(result.get("error") or "The run ended without a result.")
        return jsonify(result), result_status(result), headers
    return sse.response(relay(started.follow(0, current().limits.keepalive)),
                        lambda: None if detached else started.end(), headers)


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
    decision: Decision
    if body["behavior"] == "allow":
        decision = approvals.allow(body["updated_input"], always=body["always"])
    else:
        decision = approvals.deny(body["message"] or "The user denied this tool use.")
    desk.book.answer_for(request_id, principal().owner, decision)
    desk.deliver(request_id, decision)  # at once if it waits here; else its worker's next tick
    return jsonify({"request_id": request_id, "behavior": body["behavior"]}), 200
