"""The console in headless Chromium against a real gunicorn running the real CLI, which talks
to the stand-in Anthropic API. Keys: the operator's, and two managed ones ("viewer" with
daily limits, "other" whose sessions the viewer must never see)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import browser
from tests.support.anthropic_standin import AnthropicStandIn
from tests.support.real_cli import REAL_CLAUDE, cli_environment
from tests.support.server import GatewayServer

OPERATOR = "operator-key-for-browser-tests"
LIMITS = {"--daily-tokens": "400000", "--daily-usd": "5"}


def pytest_collection_modifyitems(items):
    """Every test here drives the real CLI and a browser: marked `cli` and `browser`, so
    `pytest -m "not cli"` (the fast loop) leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.cli)
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def standin():
    with AnthropicStandIn() as server:
        yield server


@pytest.fixture(scope="session")
def gateway(standin, tmp_path_factory):
    """One gthread gateway with two workers, for every browser test."""
    home = tmp_path_factory.mktemp("console")
    settings = {"STATE_DIR": str(home / "state"), "WORKSPACE_BASE_PATH": str(home / "ws"),
                "CLAUDE_PATH": str(REAL_CLAUDE), "API_KEY": OPERATOR, "LOG_LEVEL": "INFO",
                "KEEPALIVE_INTERVAL_MS": "1000", "STARTUP_CHECK": "false"}
    env = {**cli_environment(standin, home), "WEB_CONCURRENCY": "2"}
    server = GatewayServer(settings, workdir=home, env=env)
    server.start()
    yield server
    server.stop()


def make_key(gateway: GatewayServer, name: str, *options: str) -> str:
    """A managed key, made as an operator makes one: `flask keys create`."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "keys", "create",
                           name, *options], cwd=gateway.workdir, env=gateway.env,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.splitlines()[0]


@pytest.fixture(scope="session")
def operator() -> str:
    """The operator's key (API_KEY): every scope, and every key's usage."""
    return OPERATOR


@pytest.fixture(scope="session")
def viewer(gateway) -> str:
    return make_key(gateway, "viewer", *[part for pair in LIMITS.items() for part in pair])


@pytest.fixture(scope="session")
def other(gateway) -> str:
    return make_key(gateway, "other")


@pytest.fixture(autouse=True)
def fresh_script(standin):
    standin.reset()


@pytest.fixture(scope="session")
def chromium():
    driver = browser.chromium()
    yield driver
    driver.quit()


@pytest.fixture
def page(chromium):
    """The browser, signed out and at a desktop's size for each test."""
    chromium.set_window_size(*browser.DESKTOP)
    yield chromium
    if chromium.current_url.startswith("http"):
        chromium.execute_script("sessionStorage.clear()")
