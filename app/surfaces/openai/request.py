"""An OpenAI chat-completions request, checked and turned into plain values.

Unknown fields are ignored (OpenAI clients send many) and reported back in the
`X-Ignored-Params` header; what we cannot honour is refused with a 400 whose
`param` names the field.
"""

import json
from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema, fields, validate

from app.chat import functions
from app.chat.images import image_block
from app.chat.message import Message, ToolCall, joined_texts
from app.chat.models import DEFAULT_MODEL, resolve_model
from app.claude.client_tools import ClientTool
from app.errors import BadRequest
from app.web.bodies import validate as load_with
from app.web.schemas import StrictBoolean

HANDLED = {"model", "messages", "stream", "stream_options", "reasoning_effort",
           "response_format", "tools", "tool_choice", "parallel_tool_calls"}
ROLES = ("system", "developer", "user", "assistant", "tool")
EFFORT_BY_REASONING = {"none": "low", "minimal": "low", "low": "low", "medium": "medium",
                       "high": "high", "xhigh": "xhigh", "max": "max"}


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
    tools = fields.List(fields.Raw(), load_default=None, allow_none=True)
    tool_choice = fields.Raw(load_default=None, allow_none=True)
    parallel_tool_calls = StrictBoolean(load_default=None, allow_none=True)


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
    tools: tuple[ClientTool, ...] = ()  # the client's functions offered to Claude
    tool_guidance: str | None = None  # tool_choice and parallel_tool_calls, told to Claude
    ignored: list[str] = field(default_factory=list)


def parse_chat(payload: dict, aliases: dict[str, str]) -> ChatRequest:
    """Check a request body and reduce it to a ChatRequest."""
    body = load_with(payload, chat_schema)
    messages = [_message(i, raw) for i, raw in enumerate(body["messages"])]
    if messages[-1].role not in ("user", "tool"):
        raise BadRequest("The last message must be from the user (or the results of the "
                         "functions Claude called): there is nothing to answer otherwise.",
                         param=f"messages[{len(messages) - 1}].role")
    _check_results(messages)
    json_mode, json_schema = _response_format(body["response_format"])
    tools = _tools(body["tools"])
    offered, guidance = _tool_choice(body["tool_choice"], tools, body["parallel_tool_calls"])
    return ChatRequest(
        json_mode=json_mode, json_schema=json_schema, tools=offered, tool_guidance=guidance,
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
    if len(text) > functions.MAX_SCHEMA_BYTES:
        raise BadRequest(f"response_format's schema is over {functions.MAX_SCHEMA_BYTES} bytes.",
                         param="response_format.json_schema.schema")
    return True, text


def _tools(value) -> tuple[ClientTool, ...]:
    """The request's function tools, checked; their names reach Claude unchanged."""
    tools: list[ClientTool] = []
    for index, raw in enumerate(value or []):
        where = f"tools[{index}]"
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or raw.get("type") != "function" \
                or not isinstance(function, dict):
            raise BadRequest(f"{where} must be {{\"type\": \"function\", \"function\": "
                             "{\"name\": ..., \"parameters\": {...}}}: only function tools "
                             "are supported.", param=where)
        tools.append(functions.define(function.get("name"), function.get("description"),
                                      function.get("parameters"), tools,
                                      f"{where}.function.name", f"{where}.function.parameters"))
    return tuple(tools)


def _tool_choice(choice, tools: tuple[ClientTool, ...], parallel: bool | None
                 ) -> tuple[tuple[ClientTool, ...], str | None]:
    """(the functions offered, guidance for Claude) from tool_choice and parallel_tool_calls."""
    function = choice.get("function") if isinstance(choice, dict) and \
        choice.get("type") == "function" else None
    return functions.choose(choice, tools, parallel,
                            function.get("name") if isinstance(function, dict) else None,
                            "tool_choice must be \"auto\", \"none\", \"required\" or "
                            "{\"type\": \"function\", \"function\": {\"name\": ...}} naming "
                            "one of the tools.")


def _check_results(messages: list[Message]) -> None:
    """Function results must answer calls of the assistant message before them."""
    calls: set[str] = set()
    for index, message in enumerate(messages):
        if message.role == "assistant":
            calls = {call.id for call in message.tool_calls}
        elif message.role == "tool" and message.tool_call_id not in calls:
            raise BadRequest(f"messages[{index}] answers tool call "
                             f"{message.tool_call_id!r}, which the assistant message before it "
                             "did not make.", param=f"messages[{index}].tool_call_id")


def _tool_calls(where: str, value) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    calls = []
    for number, raw in enumerate(value if isinstance(value, list) else [None]):
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not isinstance(raw.get("id"), str) \
                or not isinstance(function.get("name"), str):
            raise BadRequest(f"{where}.tool_calls[{number}] must have an id and a function "
                             "with a name and arguments.", param=f"{where}.tool_calls")
        arguments = function.get("arguments")
        calls.append(ToolCall(raw["id"], function["name"], arguments
                              if isinstance(arguments, str) else json.dumps(arguments)))
    return tuple(calls)


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
    if role == "tool":
        return _tool_result(where, raw)
    calls = _tool_calls(where, raw.get("tool_calls")) if role == "assistant" else ()
    if isinstance(content, str):
        return Message("system" if role == "developer" else role, content, tool_calls=calls)
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content must be a string or an array of parts.",
                         param=f"{where}.content")
    texts: list[str] = []
    images: list[dict] = []
    for number, part in enumerate(content):
        found = _part(f"{where}.content[{number}]", part)
        if isinstance(found, str):
            texts.append(found)
        else:
            images.append(found)
    return Message("system" if role == "developer" else role, "\n".join(texts), tuple(images),
                   calls)


def _tool_result(where: str, raw: dict) -> Message:
    """A function's result, as text (parts joined) for the call it answers."""
    content, call_id = raw.get("content"), raw.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"{where}.tool_call_id must name the call this message answers.",
                         param=f"{where}.tool_call_id")
    if isinstance(content, list):
        texts = [part.get("text") for part in content
                 if isinstance(part, dict) and part.get("type") == "text"]
        content = joined_texts(texts)
    if not isinstance(content, str):
        raise BadRequest(f"{where}.content must be a string or an array of text parts.",
                         param=f"{where}.content")
    return Message("tool", content, tool_call_id=call_id)


def _part(where: str, part) -> str | dict:
    """A content part as its text, or as a Claude image block."""
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return part["text"]
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return image_block(where, url)
    raise BadRequest(f"{where} must be a text part or an image_url part.", param=where)
