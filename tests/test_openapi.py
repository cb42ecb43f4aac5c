"""GET /openapi.json: a valid OpenAPI 3.1 document that documents every route the app serves."""

import re

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from app.factory import PUBLIC_ENDPOINTS
from app.web import openapi

KEY = "k" * 24
OPERATIONS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
UNDOCUMENTED = {"HEAD", "OPTIONS"}


@pytest.fixture
def keyed(make_app):
    return make_app(API_KEY=KEY)


@pytest.fixture
def document(keyed) -> dict:
    answer = keyed.test_client().get("/openapi.json")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def routed(app) -> set[tuple[str, str]]:
    """Every (OpenAPI path, method) the app answers, static files and pages aside."""
    return {(openapi_path(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
            if rule.endpoint != "static" and rule.endpoint.split(".")[0] not in openapi.PAGES
            for method in rule.methods - UNDOCUMENTED}


def documented(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items()
            for method in item if method in OPERATIONS}


def test_the_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_route_is_documented_and_nothing_else(keyed, document):
    missing = sorted(routed(keyed) - documented(document))
    assert missing == [], f"routes whose views have no OpenAPI YAML: {missing}"
    assert sorted(documented(document) - routed(keyed)) == []


def test_the_document_is_public_and_says_which_endpoints_need_a_key(keyed, document):
    """Asked without a key, exactly the operations documented as needing none answer."""
    client = keyed.test_client()
    for path, method in sorted(documented(document)):
        operation = document["paths"][path][method]
        answer = client.open(re.sub(r"{[^}]+}", "x", path), method=method.upper())
        needs_key = operation.get("security", document["security"]) != []
        assert (answer.status_code == 401) == needs_key, (path, method, answer.status_code)
    public = {rule.endpoint for rule in keyed.url_map.iter_rules()
              if rule.endpoint != "static"} & PUBLIC_ENDPOINTS
    assert public == {"health.show", "openapi.show"}


def test_both_key_schemes_are_described(document):
    schemes = document["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"} in schemes.values()
    assert {"type": "apiKey", "in": "header", "name": "x-api-key"} in schemes.values()
    assert document["security"] == [{name: []} for name in schemes]


def test_a_real_error_fits_the_documented_error_shape(keyed, document):
    error = keyed.test_client().post("/api/claude", json={"prompt": "hi", "bogus": 1},
                                     headers={"x-api-key": KEY})
    assert error.status_code == 400
    OAS31Validator({**document, "$ref": "#/components/schemas/Error"}).validate(
        error.get_json())
    defaults = {path: operation["responses"]["default"]["$ref"] for path, method in
                documented(document) for operation in [document["paths"][path][method]]}
    anthropic = {path for path in defaults if path.startswith("/v1/messages")}
    assert anthropic == {"/v1/messages", "/v1/messages/count_tokens"}
    assert {defaults[path] for path in anthropic} == {"#/components/responses/AnthropicError"}
    assert {defaults[path] for path in set(defaults) - anthropic} == {
        "#/components/responses/Error"}
    refused = keyed.test_client().post("/v1/messages", json={"model": "claude-code"},
                                       headers={"x-api-key": KEY})
    assert refused.status_code == 400
    OAS31Validator({**document, "$ref": "#/components/schemas/AnthropicError"}).validate(
        refused.get_json())


def test_request_bodies_come_from_the_marshmallow_schemas(document):
    schemas = document["components"]["schemas"]
    assert schemas["ClaudeRequest"]["required"] == ["prompt"]
    assert {"session-id", "allowed-tools", "stream"} <= set(schemas["ClaudeRequest"]["properties"])
    assert schemas["ClaudeRequest"]["additionalProperties"] is False  # unknown fields refused
    assert "additionalProperties" not in schemas["Chat"]  # OpenAI clients send extras
    body = document["paths"]["/v1/chat/completions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Chat"}


@pytest.mark.parametrize("path", ["/api/claude", "/v1/chat/completions"])
def test_streaming_answers_are_described_as_server_sent_events(document, path):
    content = document["paths"][path]["post"]["responses"]["200"]["content"]
    assert content["text/event-stream"]["schema"] == {"$ref": "#/components/schemas/EventStream"}
    assert "application/json" in content


def test_summaries_come_from_the_docstrings_first_line(document):
    operation = document["paths"]["/v1/models/{model_id}"]["get"]
    assert operation["summary"].startswith("One model: any name /v1/chat/completions accepts")
    assert document["paths"]["/v1/models/{model_id}"]["parameters"] == [
        {"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}]


def test_a_route_without_yaml_is_left_out(make_app):
    app = make_app()

    def documented_view():
        """Say hello.
        ---
        get:
          responses:
            200: {description: Hello.}
        """

    app.add_url_rule("/extra/<name>", "documented", documented_view)
    app.add_url_rule("/bare", "bare", lambda: "")
    paths = openapi.build(app)["paths"]
    assert "/bare" not in paths
    assert paths["/extra/{name}"]["get"]["summary"] == "Say hello."
