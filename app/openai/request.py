"""An OpenAI chat-completions request, checked and turned into plain values.

Unknown fields are ignored (OpenAI clients send many) and reported back in the
`X-Ignored-Params` header; what we cannot honour is refused with a 400 whose
`param` names the field.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema, fields, validate

from app.bodies import validate as load_with
from app.chat.message import Message
from app.chat.models import DEFAULT_MODEL, resolve_model
from app.errors import BadRequest
from app.schemas import StrictBoolean

HANDLED = {"model", "messages", "stream", "stream_options", "reasoning_effort",
           "response_format"}
MAX_SCHEMA_BYTES = 65536  # the schema goes on the CLI's argv (--json-schema=...)
ROLES = ("system", "developer", "user", "assistant")
EFFORT_BY_REASONING = {"none": "low", "minimal": "low", "low": "low", "medium": "medium",
                       "high": "high", "xhigh": "xhigh", "max": "max"}
_DATA_URL = re.compile(r"data:(image/(?:png|jpeg|gif|webp));base64,(.*)", re.S)


class ChatSchema(Schema):
    """The fields of a chat completion request that the gateway acts on."""

    class Meta:
        unknown = EXCLUDE

    model = fields.String(load_default=DEFAULT_MODEL)
    messages = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1))
    stream = StrictBoolean(load_default=False, allow_none=True)
    stream_options = fields.Dict(load_default=None, allow_none=True)
    reasoning_effort = fields.String(load_default=None, allow_none=True,
                                     validate=validate.OneOf(list(EFFORT_BY_REASONING)))
    response_format = fields.Dict(load_default=None, allow_none=True)


chat_schema = ChatSchema()


@dataclass(frozen=True)
class ChatRequest:
    """What a chat completion request asks for, in plain values."""
    model: str
    cli_model: str | None
    messages: list[Message]
    stream: bool
    include_usage: bool
    effort: str | None
    json_mode: bool = False  # response_format json_object or json_schema: content is JSON
    json_schema: str | None = None  # the schema, compact, for --json-schema
    ignored: list[str] = field(default_factory=list)


def parse_chat(payload: dict, aliases: dict[str, str]) -> ChatRequest:
    """Check a request body and reduce it to a ChatRequest."""
    body = load_with(payload, chat_schema)
    messages = [_message(i, raw) for i, raw in enumerate(body["messages"])]
    if messages[-1].role != "user":
        raise BadRequest("The last message must be from the user: there is nothing to "
                         "answer otherwise.", param=f"messages[{len(messages) - 1}].role")
    json_mode, json_schema = _response_format(body["response_format"])
    return ChatRequest(
        json_mode=json_mode, json_schema=json_schema,
        model=body["model"], cli_model=resolve_model(body["model"], aliases), messages=messages,
        stream=bool(body["stream"]),
        include_usage=bool((body["stream_options"] or {}).get("include_usage")),
        effort=EFFORT_BY_REASONING.get(body["reasoning_effort"] or ""),
        ignored=sorted(set(payload) - HANDLED))


def _response_format(value: dict | None) -> tuple[bool, str | None]:
    """(whether content must be JSON, the JSON schema Claude Code must answer in)."""
    kind = (value or {}).get("type", "text")
    if kind == "text":
        return False, None
    if kind == "json_object":
        return True, None
    schema = ((value or {}).get("json_schema") or {}).get("schema") if kind == "json_schema" \
        else None
    if not isinstance(schema, dict):
        raise BadRequest("response_format must be {\"type\": \"text\"}, {\"type\": "
                         "\"json_object\"} or {\"type\": \"json_schema\", \"json_schema\": "
                         "{\"name\": ..., \"schema\": {...}}}.", param="response_format")
    text = json.dumps(schema, separators=(",", ":"), ensure_ascii=True)
    if len(text) > MAX_SCHEMA_BYTES:
        raise BadRequest(f"response_format's schema is over {MAX_SCHEMA_BYTES} bytes.",
                         param="response_format.json_schema.schema")
    return True, text


def _message(index: int, raw) -> Message:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object with 'role' and 'content'.", param=where)
    role = raw.get("role")
    if role not in ROLES:
        raise BadRequest(f"{where}.role {role!r} is not supported: use one of "
                         f"{', '.join(ROLES)}.", param=f"{where}.role")
    content = raw.get("content")
    if content is None and role == "assistant":
        content = ""
    if isinstance(content, str):
        return Message("system" if role == "developer" else role, content)
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content must be a string or an array of parts.",
                         param=f"{where}.content")
    texts, images = [], []
    for number, part in enumerate(content):
        kind, value = _part(f"{where}.content[{number}]", part)
        (texts if kind == "text" else images).append(value)
    return Message("system" if role == "developer" else role, "\n".join(texts), tuple(images))


def _part(where: str, part) -> tuple[str, object]:
    """A content part as ("text", str) or ("image", Claude image block)."""
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return "text", part["text"]
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return "image", _image_block(where, url)
    raise BadRequest(f"{where} must be a text part or an image_url part.", param=where)


def _image_block(where: str, url) -> dict:
    """A base64 data URL as a Claude image block; remote URLs are not fetched."""
    match = _DATA_URL.fullmatch(url) if isinstance(url, str) else None
    if not match:
        raise BadRequest(f"{where}: only data URLs of PNG, JPEG, GIF or WebP images are "
                         "accepted (data:image/png;base64,...).", param=where)
    try:
        base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where}: the image data is not valid base64.", param=where) from None
    return {"type": "image", "source": {"type": "base64", "media_type": match.group(1),
                                        "data": match.group(2)}}
