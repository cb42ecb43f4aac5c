"""GET /health: healthy, degraded or unhealthy, with each check's detail."""

import json

from tests.support.waiting import wait_until


def test_healthy(make_app):
    client = make_app(SANDBOX="bwrap", ANTHROPIC_API_KEY="sk-ant-test").test_client()
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "healthy"
    assert body["checks"]["cli"]["version"] == "9.9.9 (Claude Code)"
    assert body["checks"]["cli"]["range"] == "supported"  # newer than the pin: untested
    assert set(body["checks"]["cli"]["supported"]) == {"minimum", "pinned"}
    assert body["checks"]["workspace_base"]["status"] == "pass"


def test_mcp_config_broken_after_start_is_degraded(make_app, tmp_path):
    config_file = tmp_path / "mcp.json"
    config_file.write_text(json.dumps({"mcpServers": {"fs": {"command": "true"}}}))
    client = make_app(MCP_CONFIG_PATH=str(config_file)).test_client()
    assert client.get("/health").get_json()["checks"]["mcp_config"]["servers"] == 1
    config_file.write_text("{oops")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"


def test_unwritable_workspace_base_is_unhealthy(make_app, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    client = make_app(WORKSPACE_BASE_PATH=str(blocker / "ws")).test_client()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["checks"]["workspace_base"]["status"] == "fail"


def test_deep_health_runs_one_real_turn_and_start_up_logs_it(make_app, capsys):
    client = make_app(STARTUP_CHECK="true", LOG_LEVEL="INFO").test_client()
    assert wait_until(lambda: "start-up check of Claude Code: a test turn answered"
                      in capsys.readouterr().err, seconds=20)
    report = client.get("/health?deep=1").get_json()
    assert report["checks"]["claude"]["status"] == "pass"
    assert "claude" not in client.get("/health").get_json()["checks"]


def test_the_deep_check_makes_room_like_a_request_instead_of_saying_busy(make_app):
    client = make_app(MAX_CLAUDE_PROCESSES="1", LIVE_IDLE_MS="600000").test_client()
    turn = client.post("/api/claude", json={"prompt": "hi", "stream": False})
    assert turn.status_code == 200
    assert client.get("/health").get_json()["processes"]["idle"] == 1  # the cap is full
    check = client.get("/health?deep=1").get_json()["checks"]["claude"]
    assert check["status"] == "pass", check
    assert client.get("/health").get_json()["processes"]["idle"] == 0
