"""`POST /api/claude`: a raw prompt in, Claude Code's own events out as SSE."""

from flask import Blueprint, jsonify, request
from loguru import logger

from app import requestlog, sse
from app.bodies import load_json
from app.claude.events import error_result
from app.claude.run import KEEPALIVE
from app.gateway import current
from app.native import collect_result, result_status
from app.policy import TurnOptions
from app.schemas import claude_request
from app.turns import Turn

bp = Blueprint("claude", __name__, url_prefix="/api/claude")


@bp.post("")
def run():
    """Run one turn and stream its events, or return the final result."""
    body = load_json(request, claude_request)
    turn = Turn(current(), _options(body), [{"type": "text", "text": body["prompt"]}])
    requestlog.annotate(workspace=turn.workspace or "shared", session=turn.session_id)
    if not body["stream"]:
        result = collect_result(turn)
        requestlog.annotate(session=result.get("session_id"))
        return jsonify(result), result_status(result)
    return sse.response(_stream(turn), turn.close)


def _stream(turn: Turn):
    """Pass every CLI event through as one SSE `data:` event, ending with a result."""
    try:
        for event in turn.events():
            yield sse.KEEPALIVE_COMMENT if event is KEEPALIVE else sse.message(event.raw)
    except Exception as exc:  # the headers are sent: the failure must travel in-band
        logger.opt(exception=exc).error("stream failed")
        failed = error_result("gateway_error", "The gateway failed while streaming this run.",
                              turn.session_id)
        yield sse.message(failed.raw)


def _options(body: dict) -> TurnOptions:
    return TurnOptions(
        workspace=body["workspace"], session_id=body["session_id"],
        system_prompt=body["system_prompt"], allowed_tools=tuple(body["allowed_tools"]),
        disallowed_tools=tuple(body["disallowed_tools"]),
        mcp_allowed_tools=tuple(body["mcp_allowed_tools"]),
        skip_permissions=body["dangerously_skip_permissions"], model=body["model"],
        effort=body["effort"], max_turns=body["max_turns"])
