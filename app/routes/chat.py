"""`POST /v1/chat/completions`: OpenAI-compatible, steered by in-prompt option lines."""

from flask import Blueprint, g, jsonify, request

from app import requestlog, sse
from app.auth import owner_of
from app.bodies import read_json
from app.chat.converse import ChatAsk, start_chat_turn
from app.claude.command import check_session_id
from app.disconnect import watcher
from app.errors import BadRequest
from app.gateway import current
from app.openai.reply import ChatReply
from app.openai.request import parse_chat
from app.settings import TOOL_DISPLAYS

bp = Blueprint("chat", __name__, url_prefix="/v1")


@bp.post("/chat/completions")
def completions():
    """Run one conversation turn and answer as a chat completion (streamed or not)."""
    gateway = current()
    chat = parse_chat(read_json(request), gateway.settings.model_aliases)
    owner = owner_of(g.get("api_key"))
    display_header = _display_header()
    started = start_chat_turn(gateway, ChatAsk(chat.messages, chat.cli_model, chat.effort,
                                               _session_header(), owner, chat.stream,
                                               chat.json_schema, chat.tools,
                                               chat.tool_guidance))
    turn = started.turn
    try:
        display = started.options.get("tool-display") or display_header or \
            gateway.settings.tool_display
        turn.first_event()  # the session id, for the headers, arrives with init
        # JSON answers carry no echo header: continuity rests on X-Session-Id and fingerprints
        echo = gateway.settings.options_echo and not chat.json_mode
        reply = ChatReply(turn, chat, started.options, display, echo, gateway.conversations,
                          owner)
        return _answer(reply)
    except BaseException:
        turn.close()
        raise


def _answer(reply: ChatReply):
    """Stream the reply, or run it to the end and return the completion."""
    turn = reply.turn
    requestlog.annotate(workspace=turn.workspace or "shared", session=turn.session_id,
                        live=turn.live)
    headers = {"X-Session-Id": turn.session_id or ""}
    if reply.chat.ignored:
        headers["X-Ignored-Params"] = ", ".join(reply.chat.ignored)
    if reply.chat.stream:
        return sse.response(reply.stream(), turn.close, headers)
    turn.client_gone = watcher(request.environ)
    return jsonify(reply.complete()), 200, headers


def _session_header() -> str | None:
    value = request.headers.get("X-Session-Id")
    return check_session_id(value, "X-Session-Id") if value else None


def _display_header() -> str | None:
    """How tools show, if the X-Tool-Display header says (an option line beats it)."""
    chosen = request.headers.get("X-Tool-Display")
    if chosen and chosen not in TOOL_DISPLAYS:
        raise BadRequest(f"X-Tool-Display must be one of {', '.join(TOOL_DISPLAYS)}.",
                         param="X-Tool-Display")
    return chosen

