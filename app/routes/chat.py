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
    """Run one conversation turn and answer as a chat completion (streamed or not).
    ---
    post:
      description: >-
        OpenAI's chat completions; options travel as leading `key=value` lines
        of the newest user message. Fields not listed are accepted and named back in
        `X-Ignored-Params`.
      parameters: [SessionHeader, ToolDisplayHeader]
      requestBody:
        required: true
        content:
          application/json:
            schema: ChatSchema
      responses:
        200:
          description: >-
            A `chat.completion`, or with `stream` true its `chat.completion.chunk`
            events as Server-Sent Events.
          headers: {X-Session-Id: SessionId, X-Ignored-Params: IgnoredParams}
          content:
            application/json:
              schema: {type: object}
            text/event-stream:
              schema: {$ref: '#/components/schemas/EventStream'}
        429: TooManyRequests
    """
    gateway = current()
    chat = parse_chat(read_json(request), gateway.settings.model_aliases)
    ask = ChatAsk(chat.messages, chat.cli_model, chat.effort, session_header(),
                  principal(), chat.stream, chat.json_schema, chat.tools,
                  chat.tool_guidance)
    # JSON answers carry no echo header: continuity rests on X-Session-Id and fingerprints
    answer = open_answer(gateway, ask, display_header(), echo=not chat.json_mode)
    reply = ChatReply(answer, chat)
    return respond(answer, reply, chat.stream, answer_headers(answer, chat.ignored))
