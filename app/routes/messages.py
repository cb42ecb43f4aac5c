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
    """Run one conversation turn and answer as an Anthropic message (streamed or not).
    ---
    post:
      description: >-
        Anthropic's Messages API (the `anthropic` SDKs work unchanged); options travel as
        leading `key=value` lines of the newest user message. Fields not acted on are named
        back in `X-Ignored-Params`; errors come in Anthropic's shape.
      parameters: [SessionHeader, ToolDisplayHeader]
      requestBody:
        required: true
        content:
          application/json:
            schema: MessagesSchema
      responses:
        200:
          description: >-
            A `message`, or with `stream` true its events (`message_start` ...
            `message_stop`) as named Server-Sent Events.
          headers: {X-Session-Id: SessionId, X-Ignored-Params: IgnoredParams}
          content:
            application/json:
              schema: {type: object}
            text/event-stream:
              schema: {$ref: '#/components/schemas/EventStream'}
        default: AnthropicError
    """
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
    """Estimate the input tokens of a Messages request (no turn runs).
    ---
    post:
      description: >-
        About four characters a token, plus a flat cost per image and message; Claude
        Code's own system prompt and tools are not counted.
      requestBody:
        required: true
        content:
          application/json:
            schema: MessagesSchema
      responses:
        200:
          description: The estimate.
          headers:
            X-Token-Count: {schema: {const: estimate}}
          content:
            application/json:
              schema:
                type: object
                properties: {input_tokens: {type: integer}}
        default: AnthropicError
    """
    asked = parse_messages(read_json(request), current().settings.model_aliases)
    return jsonify({"input_tokens": estimate(asked.messages, asked.tools)}), 200, \
        {"X-Token-Count": "estimate"}
