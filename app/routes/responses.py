"""`POST /v1/responses`: OpenAI's Responses API, steered by the same option lines as
/v1/chat/completions, continued by `previous_response_id`."""

from flask import Blueprint, request

from app.chat.answer import open_answer
from app.chat.converse import ChatAsk
from app.surfaces.responses import stored
from app.surfaces.responses.reply import ResponsesReply
from app.surfaces.responses.request import parse_responses
from app.web.auth import principal
from app.web.bodies import read_json
from app.web.chat_http import answer_headers, display_header, respond, session_header
from app.web.context import current

bp = Blueprint("responses", __name__, url_prefix="/v1")


@bp.post("/responses")
def create():
    """Run one conversation turn and answer as a response (streamed or not)."""
    gateway = current()
    asked = parse_responses(read_json(request), gateway.settings.model_aliases)
    caller = principal()
    previous = stored.find(gateway.conversations, asked.previous_response_id, caller.owner)
    ask = ChatAsk(asked.messages, asked.cli_model, asked.effort, session_header(), caller,
                  asked.stream, tools=asked.tools, tool_guidance=asked.tool_guidance,
                  previous=previous)
    answer = open_answer(gateway, ask, display_header())
    reply = ResponsesReply(answer, asked)
    return respond(answer, reply, asked.stream, answer_headers(answer, asked.ignored))
