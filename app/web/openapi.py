"""The OpenAPI 3.1 description of every endpoint: each view's docstring is its summary, and
its operations come from operations.yaml beside this module, by endpoint name.

Request bodies there name our marshmallow schemas by class (`schema: ClaudeRequest`);
responses may name the components below (`429: TooManyRequests`; every operation gets
`default: Error` unless it says otherwise). A route missing from the file is left out, and
tests/test_openapi.py fails.
"""

import copy
import functools
from pathlib import Path

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask
from marshmallow import Schema, fields
from werkzeug.routing import Rule

from app.errors import TooManyRequests
from app.settings import TOOL_DISPLAYS

OPERATIONS = Path(__file__).with_name("operations.yaml")
TITLE = "Claude Code Gateway"
VERSION = "0.1.0"  # setup.cfg's
UNDOCUMENTED_METHODS = {"HEAD", "OPTIONS"}  # Flask answers these itself
DESCRIPTION = (
    "Claude Code behind an HTTP API: its own events as Server-Sent Events (`/api/claude`) "
    "and OpenAI-compatible endpoints (`/v1`). Send the key as `Authorization: Bearer <key>` "
    "or `x-api-key: <key>`; a server started without keys (loopback only) asks for none.")
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key"},
}
EVENT_STREAM = {
    "type": "string",
    "description": "Server-Sent Events: each event a `data: <JSON>` line and a blank line; "
                   "`: keep-alive` comments while Claude is silent; `/v1` streams end with "
                   "`data: [DONE]`.",
}

PAGES = ("console", "docs")  # blueprints of HTML pages, not part of the API


SESSION = {
    "type": "object",
    "description": "One of the key's sessions; `workspace` is null for the shared one.",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "object": {"type": "string", "enum": ["session"]},
        "workspace": {"type": ["string", "null"]},
        "created_at": {"type": "integer"}, "last_turn_at": {"type": "integer"},
        "turns": {"type": "integer"}, "total_cost_usd": {"type": "number"},
        "title": {"type": ["string", "null"]},
        "forked_from": {"type": ["string", "null"], "format": "uuid"}},
}


_TIME = {"type": ["number", "null"], "description": "Unix seconds."}
RUN = {
    "type": "object",
    "description": "One turn as a run: where it stands, what it waits for, how it ended.",
    "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["run"]},
        "status": {"type": "string", "enum": ["queued", "running", "waiting", "completed",
                                              "failed", "cancelled", "incomplete"]},
        "session_id": {"type": ["string", "null"]}, "workspace": {"type": ["string", "null"]},
        "surface": {"type": "string", "enum": ["claude", "chat", "messages",
                                                          "responses"]},
        "created_at": {"type": "number"}, "started_at": _TIME, "ended_at": _TIME,
        "waiting": {"type": ["object", "null"],
                    "description": "While waiting: `kind` approval (with `request_id`, "
                                   "`tool_name`, `input`) or function_results."},
        "result": {"type": ["object", "null"], "description": "Once ended: its result."}}}
USAGE = {"type": "object", "properties": {
    "turns": {"type": "integer"}, "input_tokens": {"type": "integer"},
    "output_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"},
    "cost_usd": {"type": "number"}}}


class ErrorDetailSchema(Schema):
    """What went wrong, and which field or option caused it."""
    message = fields.String(required=True)
    type = fields.String(required=True, metadata={"examples": ["invalid_request_error"]})
    param = fields.String(required=True, allow_none=True)
    code = fields.String(required=True, allow_none=True)


class ErrorBodySchema(Schema):
    """The error shape of every endpoint but the Anthropic API's."""
    error = fields.Nested(ErrorDetailSchema, required=True)


class AnthropicErrorDetailSchema(Schema):
    """What went wrong, the field at fault named first in the message."""
    type = fields.String(required=True, metadata={"examples": ["invalid_request_error"]})
    message = fields.String(required=True)


class AnthropicErrorSchema(Schema):
    """The Anthropic API's error shape, on /v1/messages."""
    type = fields.Constant("error", required=True)
    error = fields.Nested(AnthropicErrorDetailSchema, required=True)


def document(app: Flask) -> dict:
    """The app's description, built once: routes do not change once the app serves."""
    if "openapi" not in app.extensions:
        app.extensions["openapi"] = build(app)
    return app.extensions["openapi"]


def build(app: Flask) -> dict:
    """Describe every route whose view documents itself."""
    spec = APISpec(TITLE, VERSION, "3.1.0", plugins=[FlaskPlugin(), MarshmallowPlugin()],
                   info={"description": DESCRIPTION},
                   security=[{name: []} for name in SECURITY_SCHEMES])
    _add_components(spec)
    rules = _rules(app)
    for rule in rules:
        spec.path(view=app.view_functions[rule.endpoint], app=app,
                  operations=copy.deepcopy(_operations().get(rule.endpoint, {})),
                  parameters=_path_parameters(rule))
    described = spec.to_dict()
    for rule in rules:
        _complete(described["paths"], rule, app.view_functions[rule.endpoint].__doc__)
    described["paths"] = {path: item for path, item in described["paths"].items()
                          if set(item) - {"parameters"}}  # no operation: left undocumented
    return {"openapi": described.pop("openapi"), **described}


@functools.cache
def _operations() -> dict:
    """Every endpoint's operations, read once."""
    return yaml.safe_load(OPERATIONS.read_text(encoding="utf-8"))


def _add_components(spec: APISpec) -> None:
    """The error shape, the event stream and the key schemes, for views to refer to."""
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    spec.components.schema("Error", schema=ErrorBodySchema)
    spec.components.schema("EventStream", EVENT_STREAM)
    error = {"application/json": {"schema": ErrorBodySchema}}
    spec.components.response("Error", {"description": "An error, in the one shape every "
                                                      "endpoint uses.", "content": error})
    _add_chat_components(spec)
    spec.components.schema("Session", SESSION)
    spec.components.schema("Usage", USAGE)
    spec.components.schema("Run", RUN)
    spec.components.schema("AnthropicError", schema=AnthropicErrorSchema)
    spec.components.response("AnthropicError", {
        "description": "An error, in the Anthropic API's shape.",
        "content": {"application/json": {"schema": AnthropicErrorSchema}}})
    spec.components.response("TooManyRequests", {
        "description": "No Claude process came free in time, or the queue is full.",
        "headers": {"Retry-After": {"description": "Seconds to wait before trying again.",
                                    "schema": {"type": "integer",
                                               "examples": [TooManyRequests.retry_after]}}},
        "content": error})


def _add_chat_components(spec: APISpec) -> None:
    """The headers every chat surface reads and sets."""
    spec.components.parameter("SessionHeader", "header", {
        "name": "X-Session-Id", "schema": {"type": "string", "format": "uuid"},
        "description": "Continue this Claude Code session."})
    spec.components.parameter("ToolDisplayHeader", "header", {
        "name": "X-Tool-Display", "schema": {"type": "string", "enum": list(TOOL_DISPLAYS)},
        "description": "How Claude Code's own tools and thinking show (an option line wins)."})
    spec.components.header("SessionId", {"schema": {"type": "string"},
                                         "description": "The session that answered."})
    spec.components.header("IgnoredParams", {"schema": {"type": "string"},
                                             "description": "Fields not acted on."})


def _rules(app: Flask) -> list[Rule]:
    """One rule per endpoint (the FlaskPlugin finds a view's first), static files and the
    pages for people (the console, the API viewer) aside."""
    seen: dict[str, Rule] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static" and rule.endpoint.split(".")[0] not in PAGES:
            seen.setdefault(rule.endpoint, rule)
    return list(seen.values())


def _path_parameters(rule: Rule) -> list[dict]:
    """Each `<name>` of the rule, as the path parameter OpenAPI requires it to be."""
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in sorted(rule.arguments)]


def _complete(paths: dict, rule: Rule, docstring: str | None) -> None:
    """Give the rule's operations a summary, a tag, an id and the error response."""
    item = paths.get(FlaskPlugin.flaskpath2openapi(rule.rule), {})
    methods = sorted(set(rule.methods or ()) - UNDOCUMENTED_METHODS)
    for method in methods:
        operation = item.get(method.lower())
        if operation is None:
            continue
        operation.setdefault("summary", (docstring or "").strip().split("\n")[0])
        operation.setdefault("tags", [rule.endpoint.split(".")[0]])
        operation.setdefault("operationId", rule.endpoint.replace(".", "_") +
                             (f"_{method.lower()}" if len(methods) > 1 else ""))
        operation.setdefault("responses", {}).setdefault("default", {
            "$ref": "#/components/responses/Error"})
