"""`POST /v1/chat/completions`: OpenAI-compatible, steered by in-prompt option lines."""

from flask import Blueprint, request

from app.chat.answer import open_answer
from app.chat.converse import ChatAsk
from app.surfaces.openai.reply import ChatReply
from app.surfaces.openai.request import parse_chat
from app.web.auth import principal
from app.web.bodies import read_json
from app.web.chat_http import answer_headers, display_header, respond, session_header
from app.web.context import current

bp = Blueprint("chat", __name__, url_prefix="/v1")


@bp.post("/chat/completions")
def completions():
    """Run one conversation turn and answer as a chat completion (streamed or not)."""
    gateway = current()
    chat = parse_chat(read_json(request), gateway.settings.model_aliases)
    ask = ChatAsk(chat.messages, chat.cli_model, chat.effort, session_header(),
                  principal(), chat.stream, chat.json_schema, chat.tools,
                  chat.tool_guidance)
    # JSON answers carry no echo header: continuity rests on X-Session-Id and fingerprints
    answer = open_answer(gateway, ask, display_header(), echo=not chat.json_mode)
    reply = ChatReply(answer, chat)
    return respond(answer, reply, chat.stream, answer_headers(answer, chat.ignored))
