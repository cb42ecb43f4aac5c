"""Settings are validated at start-up; a bad one stops the server with one clear line."""

import json
import os
import subprocess
import sys

import pytest
import requests

from app.settings import SettingsError
from tests.support.server import ROOT, GatewayServer, free_port


@pytest.mark.parametrize("overrides, named", [
    ({"CLAUDE_TOTAL_TIMEOUT_MS": "-5"}, "CLAUDE_TOTAL_TIMEOUT_MS"),
    ({"CLAUDE_INACTIVITY_TIMEOUT_MS": "soon"}, "CLAUDE_INACTIVITY_TIMEOUT_MS"),
    ({"PORT": "70000"}, "PORT"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ({"MCP_CONFIG_PATH": "/no/such/mcp.json"}, "MCP_CONFIG_PATH"),
    ({"ALLOW_DANGEROUS_SKIP_PERMISSIONS": "maybe"}, "ALLOW_DANGEROUS_SKIP_PERMISSIONS"),
    ({"HOST": "0.0.0.0"}, "API_KEY"),
    ({"MODEL_ALIASES": "[1]"}, "MODEL_ALIASES"),
])
def test_bad_setting_is_refused_by_name(make_app, overrides, named):
    with pytest.raises(SettingsError) as refused:
        make_app(**overrides)
    assert named in str(refused.value) and "\n" not in str(refused.value)


def test_invalid_mcp_config_is_refused(make_app, tmp_path):
    broken = tmp_path / "mcp.json"
    broken.write_text("{not json")
    with pytest.raises(SettingsError, match="MCP_CONFIG_PATH"):
        make_app(MCP_CONFIG_PATH=str(broken))


def test_network_host_is_fine_with_a_key(make_app):
    assert make_app(HOST="0.0.0.0", API_KEY="k" * 20) is not None


def gunicorn(tmp_path, *args, **env):
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), *args,
         "app:create_app()"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "API_KEY": "", "API_KEYS": "", **env})


def test_gunicorn_refuses_a_bad_setting_in_one_line(tmp_path):
    done = gunicorn(tmp_path, CLAUDE_TOTAL_TIMEOUT_MS="-1")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "claude-code-gateway: refusing to start: CLAUDE_TOTAL_TIMEOUT_MS='-1' is invalid: "
        "must be a positive whole number"]


def test_gunicorn_refuses_a_network_bind_without_a_key(tmp_path):
    done = gunicorn(tmp_path, "--bind", "0.0.0.0:0")
    assert done.returncode != 0
    assert "refusing to bind 0.0.0.0 without API_KEY" in done.stderr


def test_dotenv_fills_but_never_overrides(tmp_path):
    (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\nPORT=4321\n")
    script = ("import os, json; from app import create_app; a = create_app(); "
              "s = a.extensions['gateway'].settings; print(json.dumps([s.port, s.log_level]))")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "PORT": "5555",
                               "STATE_DIR": str(tmp_path / "s"),
                               "WORKSPACE_BASE_PATH": str(tmp_path / "w")})
    assert json.loads(done.stdout) == [5555, "DEBUG"], done.stderr


def test_on_heroku_the_server_listens_publicly_only_with_a_key(config):
    from app.settings import load_settings
    platform = {**config, "PORT": "5123", "DYNO": "web.1"}
    settings = load_settings({**platform, "API_KEY": "k-0001"})
    assert (settings.host, settings.port) == ("0.0.0.0", 5123)
    with pytest.raises(SettingsError) as refused:
        load_settings(platform)
    assert "API_KEY" in str(refused.value) and "PORT" in str(refused.value)
    assert load_settings({**platform, "HOST": "127.0.0.1"}).host == "127.0.0.1"
    assert load_settings({**config, "PORT": "5123"}).host == "127.0.0.1"  # not a platform


def test_the_procfile_as_heroku_runs_it(tmp_path):
    """`gunicorn 'app:create_app()'` with PORT and DYNO set and no HOST: public with a key."""
    port = free_port()
    platform = {"PORT": str(port), "DYNO": "web.1", "STATE_DIR": str(tmp_path / "s"),
                "WORKSPACE_BASE_PATH": str(tmp_path / "w"), "STARTUP_CHECK": "false",
                "WARM_POOL_SIZE": "0"}
    environ = {k: v for k, v in os.environ.items() if k != "HOST"}
    refused = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
         "app:create_app()"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**environ, "PYTHONPATH": str(ROOT), "API_KEY": "", "API_KEYS": "", **platform})
    assert refused.returncode != 0 and "set API_KEY" in refused.stderr
    server = GatewayServer({**platform, "API_KEY": "heroku-key-0001"}, workdir=tmp_path)
    server.env.pop("HOST")
    server.start()
    try:
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
        assert f"Listening at: http://0.0.0.0:{server.port}" in server.log.read_text()
    finally:
        server.stop()
