"""Fixtures: an app wired to the fake CLI, a test client, live gunicorn servers, and the state
database on SQLite or on a real PostgreSQL (tests parametrized with `both_databases`)."""

import json

import pytest

from app import create_app
from app.shared.dialects import PostgreSQL
from app.shared.state import StateDB
from tests.support.fake_cli import FAKE_CLAUDE
from tests.support.postgres import PostgresServer, binaries
from tests.support.server import GatewayServer


@pytest.fixture(autouse=True)
def cli_config_dir(tmp_path, monkeypatch):
    """The fake CLI keeps its session files here, never in the real home."""
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server, started the first time a test needs it, stopped at the end."""
    found = binaries()
    if found is None:
        pytest.fail("PostgreSQL is not installed: run scripts/install-system-packages --tests")
    server = PostgresServer(found)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def backend(request) -> str:
    """The database a test's state lives in: SQLite, unless `both_databases` runs it on each."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(request, backend) -> str:
    """The test's DATABASE_URL: empty on SQLite; on PostgreSQL a fresh database of its own."""
    if backend == "sqlite":
        yield ""
        return
    server = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def state_db(tmp_path, database_url) -> StateDB:
    """The state database of one test, as the server opens it, its schema upgraded."""
    db = StateDB(tmp_path / "state", PostgreSQL(database_url) if database_url else None)
    yield db
    db.close()


@pytest.fixture
def config(tmp_path, database_url) -> dict:
    """Settings for one test: private state and workspaces, the fake CLI, short timers."""
    return {
        "DATABASE_URL": database_url,  # never the developer's own
        "STATE_DIR": str(tmp_path / "state"),
        "WORKSPACE_BASE_PATH": str(tmp_path / "ws"),
        "CLAUDE_PATH": str(FAKE_CLAUDE),
        "KEEPALIVE_INTERVAL_MS": "5000",
        "PROCESS_KILL_TIMEOUT_MS": "2000",
        "LOG_LEVEL": "WARNING",
        "WARM_POOL_SIZE": "0",  # tests of the pool and live processes turn them on
        "LIVE_IDLE_MS": "0",
        "STARTUP_CHECK": "false",  # its own tests turn it on
        # The fake CLI writes its records outside any workspace: it runs unconfined, with the
        # same clean environment; the sandbox is tested with the real CLI.
        "SANDBOX": "off",
        "SANDBOX_ENV": "FAKE_CLAUDE_RECORD,FAKE_CLAUDE_MUTE_INITIALIZE",
    }


@pytest.fixture
def make_app(config):
    """Build an app from the test config plus overrides; its processes end with the test."""
    apps = []

    def build(**overrides):
        apps.append(create_app({**config, **overrides}))
        return apps[-1]

    yield build
    for app in apps:
        app.extensions["gateway"].close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_server(tmp_path, config):
    """Start gunicorn (gthread) on a free port with the test config; stop it afterwards."""
    servers = []

    def start(**overrides) -> GatewayServer:
        server = GatewayServer({**config, **overrides}, workdir=tmp_path)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def record(tmp_path, monkeypatch):
    """What the fake CLI recorded: `record("turns")`, `record("controls")`, `record("calls")`."""
    folder = tmp_path / "record"
    folder.mkdir()
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(folder))

    def read(name: str) -> list[dict]:
        path = folder / f"{name}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []
    return read


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis on loopback, for the whole test session."""
    from tests.support.redis_server import RedisServer
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """A clean Redis for one test."""
    redis_server.flush()
    return redis_server.url
