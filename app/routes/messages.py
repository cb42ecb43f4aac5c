"""`POST /v1/messages`: the Anthropic Messages API, steered by the same option lines as
/v1/chat/completions; errors in Anthropic's shape."""

from flask import Blueprint, jsonify, request

from app import errors
from app.chat.answer import open_answer
from app.chat.converse import ChatAsk
from app.chat.tokens import estimate
from app.surfaces.anthropic import errors as anthropic_errors
from app.surfaces.anthropic.reply import MessagesReply
from app.surfaces.anthropic.request import parse_messages
from app.web.auth import principal
from app.web.bodies import read_json
from app.web.chat_http import answer_headers, display_header, respond, session_header
from app.web.context import current

bp = Blueprint("messages", __name__, url_prefix="/v1/messages")
errors.register(bp, anthropic_errors.body)


@bp.post("")
def create():
    """Run one conversation turn and answer as an Anthropic message (streamed or not)."""
    gateway = current()
    asked = parse_messages(read_json(request), gateway.settings.model_aliases)
    ask = ChatAsk(asked.messages, asked.cli_model, None, session_header(),
                  principal(), asked.stream, tools=asked.tools,
                  tool_guidance=asked.tool_guidance)
    answer = open_answer(gateway, ask, display_header())
    reply = MessagesReply(answer, asked.model)
    return respond(answer, reply, asked.stream, answer_headers(answer, asked.ignored))


@bp.post("/count_tokens")
def count_tokens():
    """Estimate the input tokens of a Messages request (no turn runs)."""
    asked = parse_messages(read_json(request), current().settings.model_aliases)
    return jsonify({"input_tokens": estimate(asked.messages, asked.tools)}), 200, \
        {"X-Token-Count": "estimate"}
