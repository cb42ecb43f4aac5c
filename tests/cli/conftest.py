"""The real Claude Code CLI behind a real gunicorn, talking to the stand-in API.

The CLI is the pinned one npm installs (node_modules/.bin/claude), or the one
CLAUDE_CLI_UNDER_TEST names, to check another version before moving the pin.
"""

import subprocess
from pathlib import Path

import pytest

from tests.support.anthropic_standin import AnthropicStandIn
from tests.support.real_cli import REAL_CLAUDE, cli_environment
from tests.support.server import GatewayServer


@pytest.fixture(scope="session", autouse=True)
def cli_version() -> str:
    """What the CLI under test answers to --version; if it does not run, every test here says so."""
    try:
        done = subprocess.run([REAL_CLAUDE, "--version"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"the CLI under test, {REAL_CLAUDE}, does not run: {exc}")
    if done.returncode != 0:
        pytest.fail(f"{REAL_CLAUDE} --version exited {done.returncode}: {done.stderr[-500:]}")
    return done.stdout.strip()


@pytest.fixture(scope="session")
def standin():
    with AnthropicStandIn() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_script(standin):
    """Every test starts with an empty script and no recorded requests."""
    standin.reset()


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-home")


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def gateway(request, standin, cli_home):
    """A gunicorn gateway (two workers of each kind) running the real CLI."""
    home = cli_home / request.param
    settings = {
        "STATE_DIR": str(home / "state"),
        "WORKSPACE_BASE_PATH": str(home / "ws"),
        "CLAUDE_PATH": str(REAL_CLAUDE),
        "API_KEY": "gateway-test-key",
        "ALLOW_DANGEROUS_SKIP_PERMISSIONS": "true",
        "KEEPALIVE_INTERVAL_MS": "1000",
        "LOG_LEVEL": "INFO",
        "STARTUP_CHECK": "false",  # its turn would take a scripted reply
    }
    home.mkdir()
    env = {**cli_environment(standin, home), "GUNICORN_WORKER_CLASS": request.param,
           "WEB_CONCURRENCY": "2"}
    server = GatewayServer(settings, workdir=home, env=env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ws(gateway):
    """The workspace base of the running gateway."""
    return Path(gateway.env["WORKSPACE_BASE_PATH"])


def pytest_collection_modifyitems(items):
    """Every test here drives the real CLI: marked `cli`, so `pytest -m "not cli"` is the
    fast loop."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.cli)
