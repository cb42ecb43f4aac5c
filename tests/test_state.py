"""State that heals where it safely can (a removed STATE_DIR of a keyless server is made
again, old rows and stale lock files are pruned) and fails closed where it cannot: a server
with managed keys never answers without a key because its database went missing, read-only
or corrupt, before or after a restart."""

import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from app.shared import dialects

from app.shared.key_folders import KeyFolders
from app.shared.keys import KeyStore
from app.shared.retention import prune_files
from app.shared.state import FileLock
from tests.support.postgres import both_databases


def remove(folder: str) -> None:
    """Take STATE_DIR away at once (housekeeping may make it again before rmtree ends)."""
    gone = folder + ".gone"
    Path(folder).rename(gone)
    shutil.rmtree(gone)


def ask(client, headers=None, **body):
    return client.post("/api/claude", json={"stream": False, **body}, headers=headers or {})


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


def keyed_server(make_app):
    """A server with managed keys only, and one key's headers."""
    app = make_app()
    key = app.extensions["gateway"].keys.create("alice", ["chat"])
    assert ask(app.test_client(), prompt="hi").status_code == 401
    return app, {"Authorization": f"Bearer {key}"}


def refused_without_a_key(client) -> bool:
    """Every way in without a key is refused (401, or 503 while the key store is gone)."""
    codes = {ask(client, prompt="hi").status_code,
             client.get("/api/claude/sessions").status_code,
             client.post("/v1/chat/completions", json={
                 "model": "claude-code", "messages": [{"role": "user", "content": "hi"}]
             }).status_code}
    return codes <= {401, 503}


def test_managed_keys_never_go_keyless_when_state_dir_is_removed(make_app, config):
    app, alice = keyed_server(make_app)
    client = app.test_client()
    remove(config["STATE_DIR"])
    assert refused_without_a_key(client)
    gone = ask(client, prompt="hi", headers=alice)
    assert gone.status_code == 503 and gone.get_json()["error"]["code"] == "state_unavailable"


def test_managed_keys_hold_on_a_read_only_state_dir(make_app, config):
    app, alice = keyed_server(make_app)
    client = app.test_client()
    state = Path(config["STATE_DIR"])
    state.chmod(0o500)
    (state / "gateway.sqlite3").chmod(0o400)
    try:
        assert refused_without_a_key(client)
    finally:
        state.chmod(0o700)
        (state / "gateway.sqlite3").chmod(0o600)


def test_a_database_corrupted_while_running_or_before_a_restart_refuses(make_app, config):
    app, alice = keyed_server(make_app)
    database = Path(config["STATE_DIR"]) / "gateway.sqlite3"
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    database.write_bytes(b"\x00garbage, not a database" * 100)
    assert refused_without_a_key(app.test_client())
    restarted = make_app().test_client()
    assert refused_without_a_key(restarted)
    answer = ask(restarted, prompt="hi")
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "state_unavailable"
    assert database.read_bytes().startswith(b"\x00garbage")  # kept for the operator


@both_databases
def test_prune_forgets_old_rows_and_stale_lock_files_only(state_db):
    db = state_db
    locks = db.folder("locks")
    old, fresh = time.time() - 40 * 86400, time.time()
    with db.connect() as connection:
        for sid, used in (("old", old), ("fresh", fresh)):
            row = {"sid": sid, "used": used, "fp": f"fp-{sid}"}
            connection.execute(text("INSERT INTO sessions (session_id, workspace, created_at, "
                                    "used_at) VALUES (:sid, '', :used, :used)"), row)
            connection.execute(text("INSERT INTO conversations (fingerprint, session_id, "
                                    "options, used_at) VALUES (:fp, :sid, '{}', :used)"), row)
    (locks / "left-by-a-dead-worker.lock").touch()
    held = FileLock.try_acquire(locks / "running.lock")
    assert db.prune(30) == 2
    with db.connect() as connection:
        assert connection.execute(text("SELECT session_id FROM sessions")).scalars().all() == \
            ["fresh"]
    assert sorted(p.name for p in locks.iterdir()) == ["running.lock"]
    held.release()


@both_databases
def test_retention_removes_old_captures_transcripts_and_revoked_keys_folders(state_db, tmp_path):
    db = state_db
    folders = KeyFolders(tmp_path / "state", tmp_path / "ws")
    keys = KeyStore(db)
    keys.create("gone", ["chat"])
    keys.create("kept", ["chat"])
    with db.connect() as connection:
        ids = dict(connection.execute(text("SELECT name, id FROM api_keys")).all())
    keys.revoke("gone")
    old = time.time() - 40 * 86400
    with db.connect() as connection:
        connection.execute(text("UPDATE api_keys SET revoked_at = :old WHERE name = 'gone'"),
                           {"old": old})
    stale, fresh = (db.folder("captures") / f"{n}.jsonl" for n in ("stale", "fresh"))
    project = folders.home(ids["kept"]) / ".claude" / "projects" / "-workspace"
    project.mkdir(parents=True)
    talk, new_talk = project / "old-session.jsonl", project / "new-session.jsonl"
    for path in (stale, fresh, talk, new_talk):
        path.write_text("{}\n")
    for path in (stale, talk):
        os.utime(path, (old, old))
    (folders.workspaces(ids["gone"]) / "workspace" / "w").mkdir(parents=True)
    folders.home(ids["gone"])
    assert prune_files(db, folders, 30) == 4
    assert not stale.exists() and fresh.exists() and not talk.exists() and new_talk.exists()
    assert not folders.root(ids["gone"]).exists() and not folders.workspaces(ids["gone"]).exists()
    assert folders.root(ids["kept"]).exists() and keys.any_active()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_on_postgresql_a_removed_state_dir_is_made_again_and_keys_still_work(make_app, config):
    app, alice = keyed_server(make_app)
    remove(config["STATE_DIR"])
    answer = ask(app.test_client(), prompt="hi", headers=alice)
    assert answer.status_code == 200 and answer.get_json()["result"] == "echo: hi"
    assert (Path(config["STATE_DIR"]) / "locks").is_dir()
    assert not (Path(config["STATE_DIR"]) / "gateway.sqlite3").exists()


def test_an_unreachable_postgresql_is_a_quick_503_and_health_says_degraded(make_app,
                                                                          monkeypatch):
    monkeypatch.setattr(dialects, "CONNECT_SECONDS", 2)  # libpq's shortest
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"postgresql://gateway:secret@127.0.0.1:{silent.getsockname()[1]}/gateway"
        client = make_app(DATABASE_URL=url).test_client()
        refused = ask(client, prompt="hi")  # libpq gives up after CONNECT_SECONDS
        health = client.get("/health").get_json()
    assert refused.status_code == 503
    error = refused.get_json()["error"]
    assert error["code"] == "state_unavailable" and "DATABASE_URL" in error["message"]
    assert "secret" not in error["message"] and "127.0.0.1" not in error["message"]
    assert health["status"] == "degraded" and health["checks"]["state"]["status"] == "warn"
