"""Bad requests to /api/claude: each gets its status and a message naming the problem."""

import json
import os

import pytest


@pytest.mark.parametrize("body, param, words", [
    ({}, "prompt", "Missing data"),
    ({"prompt": ""}, "prompt", "empty"),
    ({"prompt": "   \n"}, "prompt", "empty"),
    ({"prompt": 42}, "prompt", "Not a valid string"),
    ({"prompt": "hi", "bogus": 1}, "bogus", "Unknown field"),
    ({"prompt": "hi", "allowed-tools": "Bash"}, "allowed-tools", "Not a valid list"),
    ({"prompt": "hi", "allowed-tools": ["--help"]}, "allowed-tools", "Invalid tool rule"),
    ({"prompt": "hi", "disallowed-tools": ["Bash\n"]}, "disallowed-tools", "Invalid tool rule"),
    ({"prompt": "hi", "dangerously-skip-permissions": "true"}, "dangerously-skip-permissions",
     "Not a valid boolean"),
    ({"prompt": "hi", "stream": "no"}, "stream", "Not a valid boolean"),
    ({"prompt": "hi", "session-id": "--help"}, "session-id", "expected a UUID"),
    ({"prompt": "hi", "workspace": "../x"}, "workspace", "Invalid workspace name"),
    ({"prompt": "hi", "workspace": "/etc"}, "workspace", "Invalid workspace name"),
    ({"prompt": "hi", "workspace": "a/b"}, "workspace", "Invalid workspace name"),
    ({"prompt": "hi", "workspace": ".."}, "workspace", "Invalid workspace name"),
    ({"prompt": "hi", "workspace": "-rf"}, "workspace", "Invalid workspace name"),
    ({"prompt": "hi", "mcp-allowed-tools": ["mcp__github__x"]}, "mcp-allowed-tools",
     "configured MCP server"),
    ({"prompt": "hi", "mcp-allowed-tools": ["Bash"]}, "mcp-allowed-tools", "not an MCP tool"),
    ({"prompt": "hi", "model": "--dangerously-skip-permissions"}, "model", "Invalid model"),
    ({"prompt": "hi", "effort": "extreme"}, "effort", "Must be one of"),
    ({"prompt": "hi", "max-turns": 0}, "max-turns", "greater than or equal to 1"),
    ({"prompt": "hi", "session_id": "x", "session-id": "y"}, "session-id", "not both"),
])
def test_bad_body_is_400_naming_the_field(client, body, param, words):
    response = client.post("/api/claude", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == param
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("data, content_type, status, words", [
    ("not json", "application/json", 400, "not valid JSON"),
    ("[1, 2]", "application/json", 400, "JSON object"),
    ("prompt=hi", "application/x-www-form-urlencoded", 415, "application/json"),
])
def test_body_that_is_not_a_json_object(client, data, content_type, status, words):
    response = client.post("/api/claude", data=data, content_type=content_type)
    assert response.status_code == status
    assert words in response.get_json()["error"]["message"]


def test_symlink_out_of_the_base_is_refused(client, config):
    links = os.path.join(config["WORKSPACE_BASE_PATH"], "workspace")
    os.makedirs(links)
    os.symlink("/etc", os.path.join(links, "escape"))
    response = client.post("/api/claude", json={"prompt": "hi", "workspace": "escape"})
    assert response.status_code == 400
    assert "outside" in response.get_json()["error"]["message"]


def test_skip_permissions_without_operator_consent_is_403(client):
    for body in ({"dangerously-skip-permissions": True},):
        response = client.post("/api/claude", json={"prompt": "hi", **body})
        assert response.status_code == 403
        error = response.get_json()["error"]
        assert "ALLOW_DANGEROUS_SKIP_PERMISSIONS" in error["message"]
        assert error["param"] == "dangerously-skip-permissions"


def test_body_too_large_is_413(make_app):
    client = make_app(MAX_BODY_BYTES="1000").test_client()
    response = client.post("/api/claude", json={"prompt": "x" * 5000})
    assert response.status_code == 413
    assert response.get_json()["error"]["message"] == "Request body is too large."


def test_unknown_route_and_method_are_json(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/nope").get_json()["error"]["type"] == "invalid_request_error"
    wrong = client.get("/api/claude")
    assert wrong.status_code == 405 and "error" in wrong.get_json()


def test_mcp_tools_in_allowed_tools_are_refused(client):
    response = client.post("/api/claude", json={"prompt": "hi",
                                                "allowed-tools": ["mcp__github__get_repo"]})
    assert response.status_code == 400
    assert "mcp-allowed-tools" in response.get_json()["error"]["message"]


def test_a_permission_mode_wider_than_the_operators_is_403(make_app):
    client = make_app(CLAUDE_PERMISSION_MODE="plan").test_client()
    wider = client.post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": "permission-mode=acceptEdits\n\nhi"}]})
    assert wider.status_code == 403
    assert "CLAUDE_PERMISSION_MODE=plan" in wider.get_json()["error"]["message"]
    narrower = make_app().test_client().post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": "permission-mode=plan\n\nhi"}]})
    assert narrower.status_code == 200


def test_json_nested_too_deep_is_400(client):
    response = client.post("/api/claude", data="[" * 200_000, content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["error"]["message"]


def test_api_claude_takes_a_narrower_permission_mode_and_refuses_a_wider_one(make_app):
    client = make_app(CLAUDE_PERMISSION_MODE="default").test_client()
    narrower = client.post("/api/claude", json={"prompt": "fake:argv", "stream": False,
                                                "permission-mode": "plan"})
    assert narrower.status_code == 200
    assert "--permission-mode=plan" in json.loads(narrower.get_json()["result"])["argv"]
    wider = client.post("/api/claude", json={"prompt": "hi", "permission_mode": "acceptEdits"})
    assert wider.status_code == 403 and wider.get_json()["error"]["param"] == "permission-mode"
    unknown = client.post("/api/claude", json={"prompt": "hi", "permission-mode": "yolo"})
    assert unknown.status_code == 400


def test_an_unusable_workspace_base_is_the_operators_503_naming_the_setting(make_app,
                                                                            tmp_path):
    base = tmp_path / "not-a-folder"
    base.write_text("a file where the workspace base should be")
    client = make_app(WORKSPACE_BASE_PATH=str(base), WARM_POOL_SIZE="0").test_client()
    for body in ({"prompt": "hi"}, {"prompt": "hi", "workspace": "demo"}):
        response = client.post("/api/claude", json=body)
        assert response.status_code == 503
        error = response.get_json()["error"]
        assert "WORKSPACE_BASE_PATH" in error["message"] and str(base) not in error["message"]
        assert error["code"] == "workspace_base_unusable"
