"""The state database's schema under Alembic, on SQLite and on PostgreSQL: a new database made
at the newest revision, one made before migrations taken over, workers starting at once,
`flask --app app db upgrade`, and a database a newer release upgraded refused."""

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from alembic.config import Config
from click.testing import CliRunner
from sqlalchemy import inspect, text

from app.commands import db_group
from app.shared import migrations
from app.shared.dialects import PostgreSQL
from app.shared.keys import KeyStore, digest
from app.shared.state import StateDB, StateUnavailable
from tests.support.postgres import both_databases

pytestmark = both_databases

# What the gateway made before migrations (app/shared/state.py's _SCHEMA, then the columns it
# added to older databases as it started), less the tables and columns a release at the
# time of the first keys already had.
BEFORE_MIGRATIONS = """
CREATE TABLE sessions (session_id TEXT PRIMARY KEY, workspace TEXT NOT NULL,
    created_at REAL NOT NULL, used_at REAL NOT NULL);
CREATE TABLE conversations (fingerprint TEXT PRIMARY KEY, session_id TEXT NOT NULL,
    options TEXT NOT NULL, used_at REAL NOT NULL);
CREATE TABLE api_keys (name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL,
    rpm INTEGER, daily_tokens INTEGER, daily_usd REAL, capture INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, revoked_at REAL);
CREATE TABLE usage (key TEXT NOT NULL, day TEXT NOT NULL, turns INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0, PRIMARY KEY (key, day));
ALTER TABLE sessions ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT ''
"""
COLUMNS = {
    "sessions": {"session_id", "workspace", "created_at", "used_at", "turns", "owner",
                 "last_message", "title", "cost_usd", "fork_of", "fork_at"},
    "conversations": {"fingerprint", "session_id", "options", "used_at", "turns", "message"},
    "api_keys": {"name", "hash", "scopes", "rpm", "daily_tokens", "daily_usd", "capture",
                 "created_at", "revoked_at", "id"},
    "usage": {"key", "day", "turns", "input_tokens", "output_tokens", "cost_usd", "calls",
              "largest_call_tokens", "largest_call_usd"},
    "spend_holds": {"id", "key", "tokens", "usd", "until"},
    "key_requests": {"key", "at"},
    "approvals": {"id", "owner", "session_id", "worker", "request", "created_at", "expires_at",
                  "status", "answer", "host"},
}


@pytest.fixture
def unopened(tmp_path, database_url):
    """A StateDB whose schema nobody has upgraded yet (raw access to an empty database)."""
    db = StateDB(tmp_path / "state", PostgreSQL(database_url) if database_url else None,
                 migrate=False)
    yield db
    db.close()


def opened(unopened: StateDB) -> StateDB:
    """The same database as a starting worker opens it."""
    return StateDB(unopened.dir, unopened.dialect)


def schema(db: StateDB) -> dict[str, set[str]]:
    with db.engine.connect() as connection:
        found = inspect(connection)
        return {table: {column["name"] for column in found.get_columns(table)}
                for table in found.get_table_names() if table != "alembic_version"}


def revision(db: StateDB) -> str | None:
    with db.engine.connect() as connection:
        return migrations.revision(connection)


def upgrade_command(db: StateDB, database_url: str):
    env = {"STATE_DIR": str(db.dir), "DATABASE_URL": database_url}
    return CliRunner().invoke(db_group, ["upgrade"], env=env)


def test_a_new_database_is_made_whole_at_the_newest_revision(unopened, database_url):
    db = opened(unopened)
    assert schema(db) == COLUMNS and revision(db) == migrations.head()
    again = upgrade_command(db, database_url)
    assert again.exit_code == 0, again.output
    assert f"schema at revision {migrations.head()} (already the newest)" in again.stdout
    db.close()


def test_a_database_made_before_migrations_is_taken_over(unopened):
    with unopened.engine.begin() as connection:
        for statement in BEFORE_MIGRATIONS.split(";"):
            connection.exec_driver_sql(statement)
        connection.execute(text("INSERT INTO api_keys (name, hash, scopes, created_at) VALUES "
                                "('old', :hash, '[\"chat\"]', 1.5)"), {"hash": digest("k")})
        connection.execute(text("INSERT INTO sessions (session_id, workspace, created_at, "
                                "used_at, owner) VALUES ('s', 'w', 1, 2, 'o')"))
    with unopened.engine.connect() as connection:
        assert migrations.predates_migrations(connection) is True
    db = opened(unopened)
    assert schema(db) == COLUMNS and revision(db) == migrations.head()
    found = KeyStore(db).find("k")
    assert found.name == "old" and found.owner == \
        hashlib.sha256(b"key-name:old").hexdigest()  # the id its sessions were kept under
    with db.connect() as connection:
        assert connection.execute(text("SELECT owner, turns, cost_usd FROM sessions")).one() \
            == ("o", 0, 0)
    db.close()


def test_a_database_at_the_first_revision_is_brought_to_the_newest(unopened):
    with unopened.engine.begin() as connection:
        config = Config(attributes={"connection": connection})
        config.set_main_option("script_location", str(migrations.HERE))
        command.upgrade(config, migrations.FIRST)
        connection.execute(text("INSERT INTO approvals (id, owner, worker, request, created_at, "
                                "expires_at, status) VALUES ('q', 'o', 1, '{}', 1, 2, 'pending')"))
    db = opened(unopened)
    assert revision(db) == migrations.head() != migrations.FIRST
    assert schema(db) == COLUMNS
    with db.connect() as connection:  # a question made before hosts were recorded is this one's
        assert connection.execute(text("SELECT host FROM approvals")).scalar_one() == ""
    db.close()


def test_workers_starting_at_once_upgrade_it_once(unopened):
    start = threading.Barrier(6)

    def worker(_) -> StateDB:
        start.wait()
        return StateDB(unopened.dir, unopened.dialect)
    with ThreadPoolExecutor(6) as pool:
        started = list(pool.map(worker, range(6)))
    assert all(db._ready for db in started)
    with unopened.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == \
            [(migrations.head(),)]
    for db in started:
        db.close()


def test_the_db_upgrade_command_upgrades_by_hand(unopened, database_url):
    done = upgrade_command(unopened, database_url)
    assert done.exit_code == 0, done.output
    assert f"schema at revision {migrations.head()} (upgraded from nothing)" in done.stdout
    assert schema(unopened) == COLUMNS


def test_a_database_a_newer_release_upgraded_is_refused(unopened, database_url):
    opened(unopened).close()
    with unopened.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    db = opened(unopened)
    with pytest.raises(StateUnavailable):
        KeyStore(db).any_active()
    refused = upgrade_command(db, database_url)
    assert refused.exit_code == 1 and "revision 9999, which this release does not know" in \
        refused.output
    db.close()
