"""The real CLI behind a real gunicorn, offline against the stand-in API: servers for a test
module, and what Claude was sent (where the CLI is and its environment: real_cli.py)."""

from tests.support.anthropic_standin import _texts
from tests.support.real_cli import REAL_CLAUDE, cli_environment
from tests.support.server import GatewayServer
from tests.support.waiting import wait_until

KEY = "gateway-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def start_server(standin, home, **settings) -> GatewayServer:
    """One gthread worker, so a session's next turn reaches the worker holding its process."""
    home.mkdir(exist_ok=True)
    base = {"STATE_DIR": str(home / "state"), "WORKSPACE_BASE_PATH": str(home / "ws"),
            "CLAUDE_PATH": str(REAL_CLAUDE), "API_KEY": KEY, "LOG_LEVEL": "INFO",
            "KEEPALIVE_INTERVAL_MS": "1000", "STARTUP_CHECK": "false"}
    env = {**cli_environment(standin, home), "WEB_CONCURRENCY": "1"}
    server = GatewayServer({**base, **settings}, workdir=home, env=env)
    server.start()
    return server


def serve(standin, tmp_path_factory, name: str, **settings):
    """A module's server, stopped when the module is done."""
    server = start_server(standin, tmp_path_factory.mktemp(name), **settings)
    yield server
    server.stop()


def serve_worker_class(request, standin, tmp_path_factory, name: str, **settings):
    """A module's server with the worker class its fixture is parametrized with."""
    yield from serve(standin, tmp_path_factory, f"{name}-{request.param}",
                     GUNICORN_WORKER_CLASS=request.param, **settings)


def openai_sdk(server):
    """The openai package pointed at a server's /v1."""
    from openai import OpenAI
    with OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=120) as sdk:
        yield sdk


def served_by(server, request_id: str) -> str:
    """Read the request's log line: 'live' for a warm or idle process, else 'cold'."""
    def line():
        return next((text for text in server.log.read_text().splitlines()
                     if f"request_id={request_id}" in text), None)
    assert wait_until(lambda: line() is not None, seconds=10)
    return "live" if "live=True" in line() else "cold"


def conversation(standin, server=None) -> list:
    """What the CLI sent in its latest agent-loop call: each message's role and texts.

    The server's workspace base reads `<workspace base>`: since 2.1.332 the CLI sends its
    working directory in a message, and the servers compared here have bases of their own.
    """
    base = server.env["WORKSPACE_BASE_PATH"] if server else None
    return [(m["role"], [t.replace(base, "<workspace base>") if base else t
                         for t in _texts(m["content"])])
            for m in standin.requests[-1]["messages"]]


def results_claude_got(standin) -> dict:
    """tool_use id -> the text of its result, from the CLI's latest call to the API."""
    found = {}
    for message in standin.requests[-1]["messages"]:
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block.get("type") == "tool_result":
                content = block.get("content")
                found[block["tool_use_id"]] = content if isinstance(content, str) else \
                    " ".join(part.get("text", "") for part in content)
    return found
