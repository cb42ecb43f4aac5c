"""The client's functions as every chat surface offers them to Claude: each definition
checked the same way, and the client's tool choice told to Claude as guidance (the CLI
has no way to force a call, nor to forbid parallel ones)."""

import json

from app.claude.client_tools import ClientTool, check_name
from app.errors import BadRequest

MAX_SCHEMA_BYTES = 65536  # a schema goes to the CLI (as MCP tools/list, or on argv)
MAX_TOOLS = 128
AUTO, NONE, REQUIRED, NAMED = "auto", "none", "required", "named"
EMPTY_SCHEMA = {"type": "object", "properties": {}}


def define(name, description, parameters, taken: list[ClientTool], name_param: str,
           schema_param: str) -> ClientTool:
    """One function definition, checked: a safe and unique name, a JSON Schema object."""
    name = check_name(name, name_param)
    parameters = EMPTY_SCHEMA if parameters is None else parameters
    description = description or ""
    if not isinstance(parameters, dict) or not isinstance(description, str):
        raise BadRequest(f"{schema_param} must be a JSON Schema object and the description a "
                         "string.", param=schema_param)
    schema = json.dumps(parameters, separators=(",", ":"))
    if len(schema) > MAX_SCHEMA_BYTES:
        raise BadRequest(f"{schema_param} is over {MAX_SCHEMA_BYTES} bytes.", param=schema_param)
    if any(tool.name == name for tool in taken):
        raise BadRequest(f"Two tools are named {name!r}.", param=name_param)
    if len(taken) >= MAX_TOOLS:
        raise BadRequest(f"At most {MAX_TOOLS} tools may be given.", param="tools")
    return ClientTool(name, description, schema)


def offer(tools: tuple[ClientTool, ...], mode: str, name: str | None = None,
          parallel: bool | None = None) -> tuple[tuple[ClientTool, ...], str | None]:
    """(the functions offered, guidance for Claude) for a tool choice: auto, none, required,
    or one named function; `parallel` False asks for one call per message."""
    if mode == NONE or not tools:
        return (), None
    guidance = None
    if mode == REQUIRED:
        guidance = "In this reply, call at least one of the user's functions (the " \
                   "mcp__client__ tools) before you answer."
    elif mode == NAMED:
        guidance = f"In this reply, call the user's function mcp__client__{name}."
    if parallel is False:
        guidance = " ".join(filter(None, [guidance, "Call the user's functions one at a time: "
                                          "at most one per message."]))
    return tools, guidance


def is_offered(tools: tuple[ClientTool, ...], name) -> bool:
    """Whether a tool choice names one of the request's functions."""
    return any(tool.name == name for tool in tools)


def choose(choice, tools: tuple[ClientTool, ...], parallel: bool | None, named: str | None,
           hint: str) -> tuple[tuple[ClientTool, ...], str | None]:
    """An OpenAI-style choice: "auto", "none", "required", or an object naming a function
    (`named`, read from it by the surface); `hint` says what is valid."""
    if choice is None or choice in (AUTO, NONE, REQUIRED):
        return offer(tools, choice or AUTO, parallel=parallel)
    if not is_offered(tools, named):
        raise BadRequest(hint, param="tool_choice")
    return offer(tools, NAMED, named, parallel)
