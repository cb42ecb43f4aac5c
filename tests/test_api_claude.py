"""POST /api/claude with the fake CLI: streaming, results, argv and sessions."""

import json

from tests.support.streams import first_cli_event, result_json, sse_events


def post(client, **body):
    return client.post("/api/claude", json=body)


def test_stream_passes_every_cli_event_and_ends_with_result(client):
    response = post(client, prompt="hello there")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    events = sse_events(response.get_data(as_text=True))
    assert events[0] == {"type": "run", "run_id": response.headers["X-Run-Id"]}
    assert events[1]["type"] == "system" and events[1]["subtype"] == "init"
    deltas = [e["event"]["delta"]["text"] for e in events
              if e["type"] == "stream_event" and e["event"]["type"] == "content_block_delta"]
    assert "".join(deltas) == "echo: hello there"
    assert [e["type"] for e in events].count("assistant") == 1
    assert events[-1]["type"] == "result" and events[-1]["result"] == "echo: hello there"


def test_non_streaming_returns_the_final_result(client):
    response = post(client, prompt="hello", stream=False)
    assert response.status_code == 200
    body = response.get_json()
    assert body["result"] == "echo: hello" and body["is_error"] is False
    assert body["usage"]["input_tokens"] == 11 and body["num_turns"] == 1
    assert body["total_cost_usd"] == 0.0123 and body["session_id"]


def test_prompt_goes_on_stdin_never_argv(client):
    prompt = "fake:argv --version " + "x" * 300_000
    events = sse_events(post(client, prompt=prompt).get_data(as_text=True))
    seen = result_json(events)
    assert seen["stdin"]["message"]["content"] == [{"type": "text", "text": prompt}]
    assert not any("--version" in arg or "xxx" in arg for arg in seen["argv"])


def test_options_become_validated_flags(client):
    events = sse_events(post(
        client, prompt="fake:argv", allowed_tools=["Bash(git *)", "Write"],
        **{"disallowed-tools": ["WebFetch"], "system-prompt": "Be terse.\n--model x",
           "model": "sonnet", "effort": "high", "max-turns": 3}).get_data(as_text=True))
    seen = result_json(events)
    argv = seen["argv"]
    assert "--allowedTools=Bash(git *),Write" in argv
    assert "--disallowedTools=WebFetch" in argv
    assert {"--model=sonnet", "--effort=high", "--max-turns=3"} <= set(argv)
    assert seen["files"]["--append-system-prompt-file"] == "Be terse.\n--model x"
    assert "--dangerously-skip-permissions" not in argv


def test_system_prompt_replaces_when_operator_says_so(make_app):
    client = make_app(SYSTEM_PROMPT_MODE="replace").test_client()
    seen = result_json(sse_events(post(client, prompt="fake:argv", **{
        "system-prompt": "You are a pirate."}).get_data(as_text=True)))
    assert seen["files"] == {"--system-prompt-file": "You are a pirate."}


def test_gateway_keys_never_reach_the_cli(make_app, monkeypatch):
    monkeypatch.setenv("API_KEY", "secret-key-123")
    client = make_app(API_KEY="secret-key-123").test_client()
    response = client.post("/api/claude", json={"prompt": "fake:argv"},
                           headers={"Authorization": "Bearer secret-key-123"})
    seen = result_json(sse_events(response.get_data(as_text=True)))
    assert seen["env"]["API_KEY"] is None


def test_workspace_is_the_cwd_and_is_created(client, config):
    seen = result_json(sse_events(post(client, prompt="fake:argv", workspace="demo")
                                  .get_data(as_text=True)))
    assert seen["cwd"] == f"{config['WORKSPACE_BASE_PATH']}/workspace/demo"
    seen = result_json(sse_events(post(client, prompt="fake:argv").get_data(as_text=True)))
    assert seen["cwd"] == f"{config['WORKSPACE_BASE_PATH']}/shared_workspace"


def test_skip_permissions_passes_when_operator_allows(make_app):
    client = make_app(ALLOW_DANGEROUS_SKIP_PERMISSIONS="true").test_client()
    seen = result_json(sse_events(post(client, prompt="fake:argv",
                                       dangerously_skip_permissions=True)
                                  .get_data(as_text=True)))
    assert "--dangerously-skip-permissions" in seen["argv"]
    assert not any(arg.startswith("--permission-mode") for arg in seen["argv"])


def test_mcp_config_passed_only_when_mcp_tools_are_used(make_app, tmp_path):
    config_file = tmp_path / "mcp.json"
    config_file.write_text(json.dumps({"mcpServers": {"github": {"command": "true"}}}))
    client = make_app(MCP_CONFIG_PATH=str(config_file)).test_client()
    plain = result_json(sse_events(post(client, prompt="fake:argv").get_data(as_text=True)))
    assert not any(arg.startswith("--mcp-config") for arg in plain["argv"])
    used = result_json(sse_events(post(client, prompt="fake:argv", **{
        "mcp-allowed-tools": ["mcp__github__get_repo"]}).get_data(as_text=True)))
    assert f"--mcp-config={config_file}" in used["argv"]
    assert "--allowedTools=mcp__github__get_repo" in used["argv"]


def test_resume_runs_in_the_sessions_workspace(client, config):
    first = sse_events(post(client, prompt="hi", workspace="proj").get_data(as_text=True))
    session = first[-1]["session_id"]
    seen = result_json(sse_events(post(client, prompt="fake:argv", **{"session-id": session})
                                  .get_data(as_text=True)))
    assert f"--resume={session}" in seen["argv"]
    assert seen["cwd"].endswith("/workspace/proj")


def test_resume_in_another_workspace_is_409(client):
    session = sse_events(post(client, prompt="hi", workspace="proj")
                         .get_data(as_text=True))[-1]["session_id"]
    response = post(client, prompt="again", workspace="other", **{"session-id": session})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert "proj" in error["message"] and error["param"] == "workspace"


def test_unknown_session_is_404(client):
    response = post(client, prompt="hi", **{"session-id": "00000000-0000-4000-8000-000000000000"})
    assert response.status_code == 404
    assert "not found" in response.get_json()["error"]["message"]


def test_second_request_on_a_busy_session_gets_409(make_app):
    client = make_app(SESSION_WAIT_MS="100").test_client()
    session = sse_events(post(client, prompt="hi").get_data(as_text=True))[-1]["session_id"]
    running = client.post("/api/claude", json={"prompt": "fake:hang", "session-id": session},
                          buffered=False)
    try:
        busy = post(client, prompt="again", **{"session-id": session})
        assert busy.status_code == 409
        assert "busy" in busy.get_json()["error"]["message"]
    finally:
        running.close()
    assert post(client, prompt="later", **{"session-id": session}).status_code == 200


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = client.get("/health")
    assert len(made.headers["X-Request-Id"]) == 32


def test_a_prompt_with_a_lone_surrogate_still_runs(client):
    seen = result_json(sse_events(post(client, prompt="fake:argv \ud800 end")
                                  .get_data(as_text=True)))
    assert seen["stdin"]["message"]["content"][0]["text"] == "fake:argv \ud800 end"


def test_only_the_operators_settings_and_mcp_servers_load(make_app, tmp_path):
    operator = tmp_path / "operator-settings.json"
    operator.write_text('{"permissions": {"deny": ["WebFetch"]}, "crossSessionInbound": "x"}')
    client = make_app(CLAUDE_SETTINGS_PATH=str(operator)).test_client()
    argv = result_json(sse_events(post(client, prompt="fake:argv").get_data(as_text=True)))["argv"]
    assert "--strict-mcp-config" in argv and "--setting-sources=" in argv
    settings = next(json.loads(a.split("=", 1)[1]) for a in argv if a.startswith("--settings="))
    assert settings == {"permissions": {"deny": ["WebFetch"]},
                        "crossSessionInbound": "refuse"}  # no messages from peers


def test_a_new_session_is_held_while_its_first_turn_runs(make_app):
    client = make_app(SESSION_WAIT_MS="100").test_client()
    running = client.post("/api/claude", json={"prompt": "fake:hang"}, buffered=False)
    try:
        init = first_cli_event(line for chunk in running.response
                               for line in chunk.decode().splitlines())
        busy = post(client, prompt="again", **{"session-id": init["session_id"]})
        assert busy.status_code == 409
    finally:
        running.close()
