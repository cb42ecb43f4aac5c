"""The deep health check runs one tiny real turn: healthy when Claude answers, degraded with
the cause and the CLI's own message when it cannot reach its API, and an answer within a load
balancer's patience (10 s) whatever the API does."""

import requests

from tests.support.anthropic_standin import Text
from tests.support.real_cli import REAL_CLAUDE, cli_environment
from tests.support.server import GatewayServer, free_port


def start(standin, home, **env) -> GatewayServer:
    home.mkdir()
    settings = {"STATE_DIR": str(home / "state"), "WORKSPACE_BASE_PATH": str(home / "ws"),
                "CLAUDE_PATH": str(REAL_CLAUDE), "WARM_POOL_SIZE": "0",
                "STARTUP_CHECK": "false"}
    server = GatewayServer(settings, workdir=home,
                           env={**cli_environment(standin, home), "WEB_CONCURRENCY": "1", **env})
    server.start()
    return server


LOAD_BALANCER_SECONDS = 10


def deep(server) -> dict:
    return requests.get(server.url + "/health?deep=1", timeout=LOAD_BALANCER_SECONDS).json()


def test_deep_health_passes_when_a_real_turn_answers_and_is_cached(standin, tmp_path):
    server = start(standin, tmp_path / "ok")
    try:
        standin.script(Text("OK"))
        first = deep(server)
        assert first["status"] == "healthy" and first["checks"]["claude"]["status"] == "pass"
        calls = len(standin.requests)
        assert deep(server)["checks"]["claude"] == first["checks"]["claude"]
        assert len(standin.requests) == calls  # cached: no second turn within the minute
        assert "claude" not in requests.get(server.url + "/health", timeout=30).json()["checks"]
    finally:
        server.stop()


def test_deep_health_is_degraded_with_the_clis_message_when_the_api_is_unreachable(
        standin, tmp_path):
    server = start(standin, tmp_path / "down",
                   ANTHROPIC_BASE_URL=f"http://127.0.0.1:{free_port()}")
    try:
        report = deep(server)
        assert report["status"] == "degraded"
        check = report["checks"]["claude"]
        assert check["status"] == "warn" and "a test turn failed" in check["detail"]
        assert check["detail"].startswith("cannot reach the Anthropic API: ")
        plain = requests.get(server.url + "/health", timeout=LOAD_BALANCER_SECONDS).json()
        assert plain["status"] == "degraded" and plain["checks"]["claude"] == check
    finally:
        server.stop()


def test_deep_health_answers_in_seconds_while_the_api_hangs(standin, tmp_path):
    server = start(standin, tmp_path / "slow")
    standin.delta_delay = 20.0  # every event of the reply takes 20 s
    try:
        report = deep(server)  # within the load balancer's patience, or this raises
        assert report["status"] == "degraded"
        assert "has not answered within" in report["checks"]["claude"]["detail"]
    finally:
        standin.delta_delay = 0.0
        server.stop()
