"""`POST /v1/chat/completions`: OpenAI-compatible, steered by in-prompt option lines."""

import hashlib

from flask import Blueprint, g, jsonify, request

from app import requestlog, sse
from app.bodies import read_json
from app.claude.command import check_session_id
from app.conversations import Continuation, context_text, continue_conversation
from app.errors import BadRequest, NotFound
from app.gateway import Gateway, current
from app.openai.reply import ChatReply
from app.openai.request import ChatRequest, parse_chat, resolve_model
from app.options import split_options
from app.policy import TurnOptions
from app.settings import TOOL_DISPLAYS
from app.turns import Turn

bp = Blueprint("chat", __name__, url_prefix="/v1")


@bp.post("/chat/completions")
def completions():
    """Run one conversation turn and answer as a chat completion (streamed or not)."""
    gateway = current()
    chat = parse_chat(read_json(request), gateway.settings.model_aliases)
    given, prompt = split_options(chat.messages[-1].text)
    if not prompt.strip() and not chat.messages[-1].images:
        problem = "holds only options: add the request for Claude after them" if given \
            else "is empty: there is nothing to ask"
        raise BadRequest(f"The last message {problem}.",
                         param=f"messages[{len(chat.messages) - 1}].content")
    scope = hashlib.sha256((g.get("api_key") or "").encode()).hexdigest()
    found = continue_conversation(chat.messages, given, _session_header(),
                                  gateway.conversations, scope)
    display = _display(gateway, found.options)
    try:
        turn = _start(gateway, chat, found, prompt)
    except NotFound:
        if found.explicit:
            raise
        found = found.afresh(chat.messages[:-1])  # the inherited session is gone: start over
        turn = _start(gateway, chat, found, prompt)
    try:
        turn.run.first_event()  # the session id, for the headers, arrives with init
        return _answer(ChatReply(turn, chat, found.options, display,
                                 gateway.settings.options_echo, gateway.conversations, scope))
    except BaseException:
        turn.close()
        raise


def _answer(reply: ChatReply):
    """Stream the reply, or run it to the end and return the completion."""
    requestlog.annotate(workspace=reply.turn.workspace or "shared", session=reply.turn.session_id)
    headers = {"X-Session-Id": reply.turn.session_id or ""}
    if reply.chat.ignored:
        headers["X-Ignored-Params"] = ", ".join(reply.chat.ignored)
    if reply.chat.stream:
        return sse.response(reply.stream(), reply.turn.close, headers)
    return jsonify(reply.complete()), 200, headers


def _session_header() -> str | None:
    value = request.headers.get("X-Session-Id")
    return check_session_id(value, "X-Session-Id") if value else None


def _display(gateway: Gateway, options: dict) -> str:
    """Option line, then X-Tool-Display header, then the operator's default."""
    chosen = options.get("tool-display") or request.headers.get("X-Tool-Display")
    if chosen and chosen not in TOOL_DISPLAYS:
        raise BadRequest(f"X-Tool-Display must be one of {', '.join(TOOL_DISPLAYS)}.",
                         param="X-Tool-Display")
    return chosen or gateway.settings.tool_display


def _start(gateway: Gateway, chat: ChatRequest, found: Continuation, prompt: str) -> Turn:
    """Start the CLI with the user's message, earlier turns as context if no session has them."""
    texts = [context_text(found.context)] if found.context else []
    if prompt.strip():
        texts.append(prompt)
    content = [*({"type": "text", "text": text} for text in texts), *chat.messages[-1].images]
    return Turn(gateway, _turn_options(gateway, chat, found), content)


def _turn_options(gateway: Gateway, chat: ChatRequest, found: Continuation) -> TurnOptions:
    options = found.options
    systems = [m.text for m in chat.messages if m.role == "system" and m.text.strip()]
    if options.get("system-prompt"):
        systems.append(options["system-prompt"])
    model = options.get("model")
    return TurnOptions(
        names={"session-id": "X-Session-Id"} if found.source == "header" else {},
        workspace=options.get("workspace"), session_id=found.session_id,
        system_prompt="\n\n".join(systems) or None,
        allowed_tools=tuple(options.get("allowed-tools", ())),
        disallowed_tools=tuple(options.get("disallowed-tools", ())),
        mcp_allowed_tools=tuple(options.get("mcp-allowed-tools", ())),
        skip_permissions=options.get("dangerously-skip-permissions", False),
        permission_mode=options.get("permission-mode"),
        model=resolve_model(model, gateway.settings.model_aliases) if model else chat.cli_model,
        effort=options.get("effort") or chat.effort,
        max_turns=options.get("max-turns"))
