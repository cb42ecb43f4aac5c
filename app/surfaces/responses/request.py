"""An OpenAI Responses request, checked and reduced to the chat core's messages.

`input` is a string or a list of items: messages (with input_text, output_text and
input_image parts), function calls and their outputs. Reasoning items are Claude's
own and are not resent. Tools other than functions (web search, file search, ...)
are Claude Code's own business: they are left out and named in `X-Ignored-Params`,
like the fields the gateway cannot honour.
"""

from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema, fields, validate

from app.chat import functions
from app.chat.images import image_block
from app.chat.message import Message, ToolCall, joined_texts
from app.chat.models import DEFAULT_MODEL, resolve_model
from app.claude.client_tools import ClientTool
from app.errors import BadRequest
from app.surfaces.openai.request import EFFORT_BY_REASONING
from app.web.bodies import validate as load_with
from app.web.schemas import StrictBoolean

HANDLED = {"model", "input", "instructions", "stream", "previous_response_id", "store",
           "tools", "tool_choice", "parallel_tool_calls", "reasoning", "background"}
ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
SKIPPED_ITEMS = ("reasoning",)
MAX_ID = 200


class ResponsesSchema(Schema):
    """The fields of a Responses request that the gateway acts on."""

    class Meta:
        unknown = EXCLUDE

    model = fields.String(load_default=DEFAULT_MODEL)
    input = fields.Raw(required=True)
    instructions = fields.String(load_default=None, allow_none=True)
    stream = StrictBoolean(load_default=False, allow_none=True)
    previous_response_id = fields.String(load_default=None, allow_none=True,
                                         validate=validate.Length(min=1, max=MAX_ID))
    store = StrictBoolean(load_default=True, allow_none=True)
    background = StrictBoolean(load_default=False, allow_none=True)
    tools = fields.List(fields.Raw(), load_default=None, allow_none=True)
    tool_choice = fields.Raw(load_default=None, allow_none=True)
    parallel_tool_calls = StrictBoolean(load_default=None, allow_none=True)
    reasoning = fields.Dict(load_default=None, allow_none=True)


responses_schema = ResponsesSchema()


@dataclass(frozen=True)
class ResponsesRequest:
    """What a Responses request asks for, in plain values."""
    model: str
    cli_model: str | None
    messages: list[Message]
    stream: bool
    store: bool
    background: bool
    previous_response_id: str | None
    instructions: str | None
    effort: str | None = None
    tools: tuple[ClientTool, ...] = ()
    tool_guidance: str | None = None
    echoed: dict = field(default_factory=dict)  # the settings the response repeats
    ignored: list[str] = field(default_factory=list)


def parse_responses(payload: dict, aliases: dict[str, str]) -> ResponsesRequest:
    """Check a request body and reduce it to a ResponsesRequest."""
    body = load_with(payload, responses_schema)
    messages = [Message("system", body["instructions"])] if body["instructions"] else []
    messages += _items(body["input"])
    if not messages or messages[-1].role not in ("user", "tool"):
        raise BadRequest("The input must end with a user message (or the outputs of the "
                         "functions Claude called): there is nothing to answer otherwise.",
                         param="input")
    if body["background"] and body["store"] is False:
        raise BadRequest("Background responses must be stored: drop store=false.",
                         param="store")
    tools, skipped = _tools(body["tools"])
    offered, guidance = _tool_choice(body["tool_choice"], tools, body["parallel_tool_calls"])
    effort = (body["reasoning"] or {}).get("effort")
    return ResponsesRequest(
        model=body["model"], cli_model=resolve_model(body["model"], aliases),
        messages=messages, stream=bool(body["stream"]), store=body["store"] is not False,
        background=bool(body["background"]),
        previous_response_id=body["previous_response_id"], instructions=body["instructions"],
        effort=EFFORT_BY_REASONING.get(effort) if isinstance(effort, str) else None,
        tools=offered, tool_guidance=guidance,
        echoed=_echoed(payload, body),
        ignored=sorted(set(payload) - HANDLED) + skipped)


def _echoed(payload: dict, body: dict) -> dict:
    """The request's settings as the response object repeats them."""
    metadata = payload.get("metadata")
    return {"instructions": body["instructions"],
            "previous_response_id": body["previous_response_id"],
            "store": body["store"] is not False, "tools": body["tools"] or [],
            "background": bool(body["background"]),
            "tool_choice": body["tool_choice"] or "auto",
            "parallel_tool_calls": body["parallel_tool_calls"] is not False,
            "reasoning": body["reasoning"] or {"effort": None, "summary": None},
            "metadata": metadata if isinstance(metadata, dict) else {},
            "text": {"format": {"type": "text"}}, "truncation": "disabled",
            "temperature": None, "top_p": None, "max_output_tokens": None}


def _items(value) -> list[Message]:
    """The input as messages: a function call joins the assistant message before it."""
    if isinstance(value, str):
        return [Message("user", value)]
    if not isinstance(value, list) or not value:
        raise BadRequest("input must be a string or a non-empty list of items.", param="input")
    messages: list[Message] = []
    for index, raw in enumerate(value):
        where = f"input[{index}]"
        kind = raw.get("type", "message") if isinstance(raw, dict) else None
        if kind == "message":
            messages.append(_message(where, raw))
        elif kind == "function_call":
            messages.append(_with_call(messages, _call(where, raw)))
        elif kind == "function_call_output":
            messages.append(_output(where, raw))
        elif kind not in SKIPPED_ITEMS:
            raise BadRequest(f"{where} must be a message, function_call, function_call_output "
                             "or reasoning item.", param=where)
    return messages


def _with_call(messages: list[Message], call: ToolCall) -> Message:
    """The assistant message a call belongs to: the one just before it, or a new one."""
    if messages and messages[-1].role == "assistant":
        last = messages.pop()
        return Message("assistant", last.text, tool_calls=(*last.tool_calls, call))
    return Message("assistant", "", tool_calls=(call,))


def _message(where: str, raw: dict) -> Message:
    given = raw.get("role")
    role = ROLES.get(given) if isinstance(given, str) else None
    if role is None:
        raise BadRequest(f"{where}.role must be one of {', '.join(ROLES)}.",
                         param=f"{where}.role")
    content = raw.get("content")
    if isinstance(content, str):
        return Message(role, content)
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content must be a string or a list of parts.",
                         param=f"{where}.content")
    texts, images = [], []
    for number, part in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "input_image" and role == "user":
            images.append(image_block(at, part.get("image_url")))
        elif kind != "refusal":
            raise BadRequest(f"{at} must be an input_text, output_text or input_image part "
                             "(images as data URLs).", param=at)
    return Message(role, ("" if role == "assistant" else "\n").join(texts), tuple(images))


def _call(where: str, raw: dict) -> ToolCall:
    call_id, name, arguments = raw.get("call_id"), raw.get("name"), raw.get("arguments", "{}")
    if not (isinstance(call_id, str) and call_id and isinstance(name, str) and name
            and isinstance(arguments, str)):
        raise BadRequest(f"{where}: a function_call needs a call_id, a name and arguments "
                         "(a JSON string).", param=where)
    return ToolCall(call_id, name, arguments)


def _output(where: str, raw: dict) -> Message:
    """A function's output, as text (text parts joined), for the call it answers."""
    call_id, output = raw.get("call_id"), raw.get("output")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"{where}.call_id must name the call this output answers.",
                         param=f"{where}.call_id")
    if isinstance(output, list):
        texts = [p.get("text") if isinstance(p, dict) and p.get("type") in
                 ("input_text", "output_text") else None for p in output]
        output = joined_texts(texts)
    if not isinstance(output, str):
        raise BadRequest(f"{where}.output must be a string or a list of text parts.",
                         param=f"{where}.output")
    return Message("tool", output, tool_call_id=call_id)


def _tools(value) -> tuple[tuple[ClientTool, ...], list[str]]:
    """The function tools, checked, and a note of each other tool left out."""
    tools: list[ClientTool] = []
    skipped = []
    for index, raw in enumerate(value or []):
        where = f"tools[{index}]"
        if not isinstance(raw, dict):
            raise BadRequest(f"{where} must be a tool object.", param=where)
        if raw.get("type") != "function":
            skipped.append(f"{where} ({raw.get('type')})")
            continue
        tools.append(functions.define(raw.get("name"), raw.get("description"),
                                      raw.get("parameters"), tools, f"{where}.name",
                                      f"{where}.parameters"))
    return tuple(tools), skipped


def _tool_choice(choice, tools: tuple[ClientTool, ...], parallel: bool | None
                 ) -> tuple[tuple[ClientTool, ...], str | None]:
    """The functions offered and Claude's guidance, from tool_choice and parallel_tool_calls."""
    named = choice.get("name") if isinstance(choice, dict) and \
        choice.get("type") == "function" else None
    return functions.choose(choice, tools, parallel, named,
                            "tool_choice must be \"auto\", \"none\", \"required\" or "
                            "{\"type\": \"function\", \"name\": ...} naming one of the tools.")


class RetrieveQuery(Schema):
    """The query string of `GET /v1/responses/{id}`: whole, or its events from a number on."""

    class Meta:
        unknown = EXCLUDE  # `include[]` and the like: the response has what it has

    stream = fields.Boolean(load_default=False)
    starting_after = fields.Integer(load_default=None, strict=False,
                                    validate=validate.Range(min=-1))


retrieve_query = RetrieveQuery()
