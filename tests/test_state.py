"""State that heals: a removed STATE_DIR is made again, a corrupt database is moved aside,
old rows and stale lock files are pruned."""

import shutil
import sqlite3
import time
from pathlib import Path

from app.state import FileLock, StateDB


def remove(folder: str) -> None:
    """Take STATE_DIR away at once (housekeeping may make it again before rmtree ends)."""
    gone = folder + ".gone"
    Path(folder).rename(gone)
    shutil.rmtree(gone)


def ask(client, **body):
    return client.post("/api/claude", json={"stream": False, **body})


def test_a_state_dir_removed_while_running_is_made_again(make_app, config):
    client = make_app().test_client()
    assert ask(client, prompt="before").status_code == 200
    remove(config["STATE_DIR"])
    first = ask(client, prompt="after")
    assert first.status_code == 200 and first.get_json()["result"] == "echo: after"
    again = ask(client, prompt="resumed", **{"session-id": first.get_json()["session_id"]})
    assert again.status_code == 200 and again.get_json()["result"] == "echo: resumed"
    assert (Path(config["STATE_DIR"]) / "gateway.sqlite3").exists()
    assert client.get("/health").get_json()["checks"]["state"]["status"] == "pass"


def test_an_unusable_state_dir_is_503_and_health_says_degraded(make_app, config):
    app = make_app()
    client = app.test_client()
    app.extensions["gateway"].pool.close()  # its housekeeping would make the folder again
    remove(config["STATE_DIR"])
    Path(config["STATE_DIR"]).write_text("a file where the state folder should be")
    refused = ask(client, prompt="hi")
    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "state_unavailable"
    assert "STATE_DIR" in refused.get_json()["error"]["message"]
    health = client.get("/health").get_json()
    assert health["status"] == "degraded" and health["checks"]["state"]["status"] == "warn"


def test_a_corrupt_database_is_moved_aside_and_a_fresh_one_used(make_app, config):
    state = Path(config["STATE_DIR"])
    state.mkdir()
    (state / "gateway.sqlite3").write_bytes(b"\x00garbage, not a database" * 100)
    client = make_app().test_client()
    assert ask(client, prompt="hi").status_code == 200
    (aside,) = state.glob("gateway.sqlite3.corrupt-*")
    assert aside.read_bytes().startswith(b"\x00garbage")


def test_prune_forgets_old_rows_and_stale_lock_files_only(tmp_path):
    db = StateDB(tmp_path)
    locks = db.folder("locks")
    old, fresh = time.time() - 40 * 86400, time.time()
    with db.connect() as connection:
        for sid, used in (("old", old), ("fresh", fresh)):
            connection.execute("INSERT INTO sessions (session_id, workspace, created_at, "
                               "used_at) VALUES (?, '', ?, ?)", (sid, used, used))
            connection.execute("INSERT INTO conversations (fingerprint, session_id, options, "
                               "used_at) VALUES (?, ?, '{}', ?)", (f"fp-{sid}", sid, used))
    (locks / "left-by-a-dead-worker.lock").touch()
    held = FileLock.try_acquire(locks / "running.lock")
    assert db.prune(30) == 2
    with db.connect() as connection:
        assert [r[0] for r in connection.execute("SELECT session_id FROM sessions")] == ["fresh"]
    assert sorted(p.name for p in locks.iterdir()) == ["running.lock"]
    held.release()


def test_an_older_database_gains_the_new_columns(tmp_path):
    path = tmp_path / "gateway.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE sessions (session_id TEXT PRIMARY KEY, workspace TEXT "
                           "NOT NULL, created_at REAL NOT NULL, used_at REAL NOT NULL)")
    connection.close()
    db = StateDB(tmp_path)
    with db.connect() as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(sessions)")}
    assert {"turns", "owner", "last_message"} <= columns
