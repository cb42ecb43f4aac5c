"""An Anthropic Messages request, checked and reduced to the chat core's messages.

Fields the gateway cannot honour through Claude Code (sampling, stop sequences,
max_tokens, thinking budgets) and Anthropic's server tools are accepted and named in
`X-Ignored-Params`; what it cannot take at all (an image by URL) is a 400 naming the
field.
"""

import json
from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema, fields, validate

from app.chat import functions
from app.chat.images import base64_block
from app.chat.message import Message, ToolCall, joined_texts
from app.chat.models import resolve_model
from app.claude.client_tools import ClientTool
from app.errors import BadRequest
from app.web.bodies import validate as load_with
from app.web.schemas import StrictBoolean

HANDLED = {"model", "messages", "system", "stream", "tools", "tool_choice"}
SKIPPED_BLOCKS = ("thinking", "redacted_thinking")  # Claude's earlier thoughts: not resent


class MessagesSchema(Schema):
    """The body of `POST /v1/messages` (and of `count_tokens`, which ignores `stream`)."""

    class Meta:
        unknown = EXCLUDE

    model = fields.String(required=True)
    messages = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1))
    max_tokens = fields.Integer(strict=True, validate=validate.Range(min=1))
    system = fields.Raw(load_default=None, allow_none=True)
    stream = StrictBoolean(load_default=False)
    tools = fields.List(fields.Raw(), load_default=None, allow_none=True)
    tool_choice = fields.Dict(load_default=None, allow_none=True)
    metadata = fields.Dict(allow_none=True)
    stop_sequences = fields.List(fields.String(), allow_none=True)
    temperature = fields.Float(allow_none=True, validate=validate.Range(min=0, max=1))


messages_schema = MessagesSchema()


@dataclass(frozen=True)
class MessagesRequest:
    """What a Messages request asks for, in plain values."""
    model: str
    cli_model: str | None
    messages: list[Message]
    stream: bool
    tools: tuple[ClientTool, ...] = ()
    tool_guidance: str | None = None
    ignored: list[str] = field(default_factory=list)


def parse_messages(payload: dict, aliases: dict[str, str]) -> MessagesRequest:
    """Check a request body and reduce it to a MessagesRequest."""
    body = load_with(payload, messages_schema)
    messages = [*_system(body["system"])]
    for index, raw in enumerate(body["messages"]):
        messages += _message(index, raw)
    if body["messages"][-1].get("role") != "user":
        raise BadRequest("The last message must be from the user (or hold the results of the "
                         "tools Claude called): there is nothing to answer otherwise.",
                         param=f"messages.{len(body['messages']) - 1}.role")
    tools, skipped = _tools(body["tools"])
    tools, guidance = _offer(tools, body["tool_choice"])
    return MessagesRequest(model=body["model"], cli_model=resolve_model(body["model"], aliases),
                           messages=messages, stream=body["stream"], tools=tools,
                           tool_guidance=guidance,
                           ignored=sorted(set(payload) - HANDLED) + skipped)


def _system(value) -> list[Message]:
    """The system prompt, a string or text blocks, as a system message."""
    if value is None:
        return []
    if isinstance(value, str):
        return [Message("system", value)]
    if isinstance(value, list) and all(isinstance(b, dict) and b.get("type") == "text"
                                       and isinstance(b.get("text"), str) for b in value):
        return [Message("system", "\n\n".join(block["text"] for block in value))]
    raise BadRequest("system must be a string or a list of text blocks.", param="system")


def _message(index: int, raw) -> list[Message]:
    """One Anthropic message as core messages: a user turn's tool results come first, each
    as a tool message; its text and images follow as the user's message."""
    where = f"messages.{index}"
    if not isinstance(raw, dict) or raw.get("role") not in ("user", "assistant"):
        raise BadRequest(f"{where} must be an object with role 'user' or 'assistant' and "
                         "content.", param=f"{where}.role")
    role, content = raw["role"], raw.get("content")
    if isinstance(content, str):
        return [Message(role, content)]
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content must be a string or a list of content blocks.",
                         param=f"{where}.content")
    texts, images, calls, results = [], [], [], []
    for number, block in enumerate(content):
        at = f"{where}.content.{number}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "image" and role == "user":
            images.append(_image(at, block))
        elif kind == "tool_use" and role == "assistant":
            calls.append(_call(at, block))
        elif kind == "tool_result" and role == "user":
            results.append(_result(at, block))
        elif kind not in SKIPPED_BLOCKS:
            raise BadRequest(f"{at}: a {role} message may hold text"
                             f"{', image and tool_result' if role == 'user' else ' and tool_use'}"
                             " blocks; this one is not supported.", param=at)
    text = "".join(texts) if role == "assistant" else "\n".join(texts)
    if role == "assistant":
        return [Message(role, text, tool_calls=tuple(calls))]
    if results and (text or images):  # words beside the results travel with the last one
        last = results[-1]
        results[-1] = Message("tool", "\n\n".join(filter(None, [last.text, text])),
                              tool_call_id=last.tool_call_id)
        return results
    return results or [Message(role, text, tuple(images))]


def _image(where: str, block: dict) -> dict:
    """A base64 image block, checked; images by URL are not fetched."""
    source = block.get("source")
    if not isinstance(source, dict):
        source = {}
    if source.get("type") != "base64":
        raise BadRequest(f"{where}: only base64 images are accepted (source type 'base64').",
                         param=f"{where}.source")
    return base64_block(f"{where}.source", source.get("media_type"), source.get("data"))


def _call(where: str, block: dict) -> ToolCall:
    if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
        raise BadRequest(f"{where}: a tool_use block needs an id and a name.", param=where)
    return ToolCall(block["id"], block["name"], json.dumps(block.get("input") or {}))


def _result(where: str, block: dict) -> Message:
    """A tool's result as text (text blocks joined), for the call it answers."""
    call_id, content = block.get("tool_use_id"), block.get("content", "")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"{where}.tool_use_id must name the tool_use this result answers.",
                         param=f"{where}.tool_use_id")
    if isinstance(content, list):
        texts = [b.get("text") if isinstance(b, dict) and b.get("type") == "text" else None
                 for b in content]
        content = joined_texts(texts)
    if not isinstance(content, str):
        raise BadRequest(f"{where}.content must be a string or a list of text blocks.",
                         param=f"{where}.content")
    if block.get("is_error") is True:
        content = f"Error: {content}"
    return Message("tool", content, tool_call_id=call_id)


def _tools(value) -> tuple[tuple[ClientTool, ...], list[str]]:
    """The client tools, checked, and a note of each server tool left out (Claude Code
    searches the web and runs code with tools of its own)."""
    tools: list[ClientTool] = []
    skipped = []
    for index, raw in enumerate(value or []):
        where = f"tools.{index}"
        if not isinstance(raw, dict):
            raise BadRequest(f"{where} must be a tool object.", param=where)
        if raw.get("type", "custom") != "custom":
            skipped.append(f"{where} ({raw.get('type')})")
            continue
        tools.append(functions.define(raw.get("name"), raw.get("description"),
                                      raw.get("input_schema"), tools, f"{where}.name",
                                      f"{where}.input_schema"))
    return tuple(tools), skipped


def _offer(tools: tuple[ClientTool, ...], choice: dict | None
           ) -> tuple[tuple[ClientTool, ...], str | None]:
    """The tools offered and Claude's guidance, from tool_choice (auto, any, tool, none)."""
    choice = choice or {"type": "auto"}
    parallel = False if choice.get("disable_parallel_tool_use") is True else None
    kind, name = choice.get("type"), choice.get("name")
    modes = {"auto": functions.AUTO, "any": functions.REQUIRED, "none": functions.NONE}
    if kind in modes:
        return functions.offer(tools, modes[kind], parallel=parallel)
    if kind == "tool" and functions.is_offered(tools, name):
        return functions.offer(tools, functions.NAMED, name, parallel)
    raise BadRequest("tool_choice must be {\"type\": \"auto\"}, {\"type\": \"any\"}, "
                     "{\"type\": \"none\"} or {\"type\": \"tool\", \"name\": ...} naming one "
                     "of the tools.", param="tool_choice")
