"""Managed keys: the `flask keys` commands, scopes refused and allowed, requests per minute,
daily budgets, usage, rotation keeping sessions, debug captures (Flask test client, fake
CLI)."""

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.key_commands import keys_group
from app.proxy.prices import CallUsage
from tests.support.postgres import both_databases

OPERATOR = "operator-key-for-tests"


@pytest.fixture
def app(make_app, record):
    return make_app(API_KEY=OPERATOR, ALLOW_DANGEROUS_SKIP_PERMISSIONS="true")


@pytest.fixture
def keys(app):
    return app.extensions["gateway"].keys


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def turn(client, key: str, **fields):
    return client.post("/api/claude", headers=bearer(key),
                       json={"prompt": "hi", "stream": False, **fields})


def chat(client, key: str, text: str = "hi"):
    return client.post("/v1/chat/completions", headers=bearer(key), json={
        "model": "claude-code", "messages": [{"role": "user", "content": text}]})


# --- the commands ---------------------------------------------------------------------------

@both_databases
def test_create_list_rotate_revoke_from_the_command_line(config, app, client):
    runner = CliRunner()
    env = {name: config[name] for name in ("STATE_DIR", "DATABASE_URL")}
    made = runner.invoke(keys_group, ["create", "ci", "--scopes", "chat,workspace:*",
                                      "--rpm", "30", "--daily-usd", "2.5"], env=env)
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("ccg-") and len(key) > 40
    assert turn(client, key).status_code == 200
    listed = runner.invoke(keys_group, ["list"], env=env).stdout
    assert "ci\tactive\tchat,workspace:*\trpm=30, daily-usd=2.5" in listed and key not in listed
    rotated = runner.invoke(keys_group, ["rotate", "ci"], env=env).stdout.strip()
    assert turn(client, key).status_code == 401 and turn(client, rotated).status_code == 200
    assert runner.invoke(keys_group, ["revoke", "ci"], env=env).exit_code == 0
    assert turn(client, rotated).status_code == 401
    assert "revoked" in runner.invoke(keys_group, ["list"], env=env).stdout
    again = runner.invoke(keys_group, ["revoke", "ci"], env=env)
    assert again.exit_code == 1 and "no active key named 'ci'" in again.output


@pytest.mark.parametrize("args, problem", [
    (["create", "x", "--scopes", "chat,root"], "unknown scope 'root'"),
    (["create", "bad name"], "invalid key name"),
    (["create", "x", "--rpm", "0"], "Invalid value for '--rpm'"),
])
def test_bad_key_commands_say_why(config, args, problem):
    result = CliRunner().invoke(keys_group, args, env={"STATE_DIR": config["STATE_DIR"]})
    assert result.exit_code != 0 and problem in result.output


def test_the_stored_table_holds_no_key_in_clear(config, keys):
    key = keys.create("stored")
    rotated = keys.rotate("stored")
    database = config["STATE_DIR"] + "/gateway.sqlite3"
    raw = Path(database).read_bytes()
    assert key.encode() not in raw and rotated.encode() not in raw
    assert keys.find(rotated).name == "stored" and keys.find(key) is None


# --- scopes ---------------------------------------------------------------------------------

def test_without_chat_a_key_cannot_run_turns(client, keys):
    key = keys.create("watcher", ["sessions"])
    for answer in (turn(client, key), chat(client, key)):
        assert answer.status_code == 403
        assert "lacks the scope 'chat'" in answer.get_json()["error"]["message"]
    assert client.get("/api/claude/sessions", headers=bearer(key)).status_code == 200


def test_sessions_scope_guards_the_sessions_api(client, keys):
    key = keys.create("runner", ["chat", "workspace:*"])
    assert turn(client, key).status_code == 200
    refused = client.get("/api/claude/sessions", headers=bearer(key))
    assert refused.status_code == 403 and "'sessions'" in refused.get_json()["error"]["message"]


def cwd_of(client, key: str, **fields) -> Path:
    """The folder a key's turn runs in, as the fake CLI saw it."""
    answer = turn(client, key, prompt="fake:argv", **fields)
    assert answer.status_code == 200, answer.get_json()
    return Path(json.loads(answer.get_json()["result"])["cwd"])


def test_a_key_works_in_its_own_workspaces_unless_granted_shared_ones(client, keys, config):
    base = Path(config["WORKSPACE_BASE_PATH"]).resolve()
    key = keys.create("docs-only", ["chat", "workspace:docs"])
    assert cwd_of(client, key, workspace="docs") == base / "workspace" / "docs"
    own = cwd_of(client, key, workspace="billing")
    assert own.parent.parent.parent == base / "keys" and own.name == "billing"
    assert cwd_of(client, key).parent == own.parent.parent  # its own default workspace
    other = keys.create("other", ["chat"])
    assert cwd_of(client, other, workspace="billing") != own  # nobody else's
    wide = keys.create("everywhere", ["chat", "workspace:*"])
    assert cwd_of(client, wide, workspace="billing") == base / "workspace" / "billing"


def test_skip_permissions_and_approvals_need_their_scopes(client, keys):
    plain = keys.create("plain", ["chat", "workspace:*"])
    skipping = turn(client, plain, **{"dangerously-skip-permissions": True})
    assert skipping.status_code == 403
    assert skipping.get_json()["error"]["param"] == "dangerously-skip-permissions"
    asking = turn(client, plain, approvals=True)
    assert asking.status_code == 403 and asking.get_json()["error"]["param"] == "approvals"
    chat_line = chat(client, plain, "dangerously-skip-permissions=true\n\nhi")
    assert chat_line.status_code == 403
    trusted = keys.create("trusted", ["chat", "workspace:*", "skip-permissions"])
    assert turn(client, trusted, **{"dangerously-skip-permissions": True}).status_code == 200


def test_admin_and_operator_keys_hold_every_scope(client, keys):
    admin = keys.create("root", ["admin"])
    assert turn(client, admin, workspace="any", approvals=False).status_code == 200
    assert client.get("/api/claude/sessions", headers=bearer(OPERATOR)).status_code == 200


# --- limits and usage -----------------------------------------------------------------------

@both_databases
def test_requests_per_minute_answer_429_with_retry_after(client, keys):
    key = keys.create("slow", ["chat"], rpm=2)
    assert [client.get("/v1/models", headers=bearer(key)).status_code
            for _ in range(2)] == [200, 200]
    refused = client.get("/v1/models", headers=bearer(key))
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    other = keys.create("fast", ["chat"])
    assert client.get("/v1/models", headers=bearer(other)).status_code == 200


@both_databases
def test_a_spent_daily_token_budget_gives_429_and_usage_shows_it(app, client, keys):
    key = keys.create("budget", ["chat"], daily_tokens=30)
    ledger, holder = app.extensions["gateway"].usage, keys.find(key)
    assert turn(client, key).status_code == 200
    ledger.settle(None, holder, "claude-sonnet-4-5", CallUsage(input_tokens=14, output_tokens=7))
    usage = client.get("/api/usage", headers=bearer(key)).get_json()
    assert usage["key"] == "budget" and usage["limits"]["daily_tokens"] == 30
    assert usage["today"] == {"turns": 1, "input_tokens": 14, "output_tokens": 7,
                              "total_tokens": 21, "cost_usd": 0.000147}
    assert usage["month"]["total_tokens"] == 21
    assert turn(client, key).status_code == 200  # 21 < 30: it may still start a turn
    ledger.settle(None, holder, "claude-sonnet-4-5", CallUsage(input_tokens=9))
    spent = turn(client, key)
    assert spent.status_code == 429 and spent.get_json()["error"]["code"] == \
        "daily_budget_exceeded"
    assert 0 < int(spent.headers["Retry-After"]) <= 86401
    assert client.get("/api/usage", headers=bearer(key)).get_json()["today"]["turns"] == 2
    assert client.get("/v1/models", headers=bearer(key)).status_code == 200  # not a turn


@both_databases
def test_rotation_keeps_the_key_s_sessions(client, keys):
    key = keys.create("rotating", ["chat", "workspace:*", "sessions"])
    session = turn(client, key).get_json()["session_id"]
    new_key = keys.rotate("rotating")
    resumed = turn(client, new_key, **{"session-id": session})
    assert resumed.status_code == 200 and resumed.get_json()["session_id"] == session
    other = keys.create("other", ["chat", "workspace:*"])
    assert turn(client, other, **{"session-id": session}).status_code == 404


# --- debug captures -------------------------------------------------------------------------

@both_databases
def test_a_capture_records_request_events_and_chunks_with_the_key_redacted(config, client,
                                                                           keys):
    key = keys.create("traced", ["chat", "workspace:*"], capture=True)
    answer = client.post("/api/claude", headers={**bearer(key), "X-Request-Id": "trace-1"},
                         json={"prompt": f"my key is {key}"})
    body = answer.get_data(as_text=True)  # the test client streams lazily: read it all
    assert answer.status_code == 200
    path = config["STATE_DIR"] + "/captures/trace-1.jsonl"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = Path(path).read_text()
    assert key not in text and "[redacted]" in text
    lines = [json.loads(line) for line in text.splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds[0] == "request" and "cli_event" in kinds and kinds[-1] == "sent"
    assert lines[0]["headers"]["Authorization"] == "[redacted]"
    assert [line["event"]["type"] for line in lines if line["kind"] == "cli_event"][-1] == \
        "result", kinds
    sent = "".join(line["chunk"] for line in lines if line["kind"] == "sent")
    assert sent == body.replace(key, "[redacted]")
    plain = keys.create("untraced", ["chat", "workspace:*"])
    client.post("/api/claude", headers={**bearer(plain), "X-Request-Id": "trace-2"},
                json={"prompt": "hi"})
    assert not os.path.exists(config["STATE_DIR"] + "/captures/trace-2.jsonl")


# --- the operator's tool ceiling ----------------------------------------------------------

def argv_of(client, key: str, **fields) -> list[str]:
    answer = turn(client, key, prompt="fake:argv", **fields)
    assert answer.status_code == 200, answer.get_json()
    return json.loads(answer.get_json()["result"])["argv"]


@pytest.mark.parametrize("settings, scopes", [
    ({"CLIENT_ALLOWED_TOOLS": "Read,Grep,Write"}, ["chat"]),
    ({}, ["chat", "tool:Read", "tool:Grep", "tool:Write"]),
])
def test_the_tool_ceiling_refuses_other_tools_and_is_all_a_turn_has(make_app, record, settings,
                                                                     scopes):
    client = make_app(API_KEY=OPERATOR, **settings).test_client()
    key = client.application.extensions["gateway"].keys.create("narrow", scopes)
    refused = turn(client, key, **{"allowed-tools": ["Read", "Bash(git *)"]})
    assert refused.status_code == 403
    error = refused.get_json()["error"]
    assert error["code"] == "tool_not_allowed" and error["param"] == "allowed-tools"
    assert "'Bash'" in error["message"]
    argv = argv_of(client, key, **{"allowed-tools": ["Write"]})
    assert "--tools=Grep,Read,Write" in argv and "--allowedTools=Write" in argv


def test_plan_mode_takes_edits_and_bash_away_whatever_a_client_asks(make_app, record):
    client = make_app(API_KEY=OPERATOR, CLAUDE_PERMISSION_MODE="plan",
                      ALLOW_DANGEROUS_SKIP_PERMISSIONS="true").test_client()
    key = client.application.extensions["gateway"].keys.create("planner",
                                                               ["chat", "skip-permissions"])
    refused = turn(client, key, **{"allowed-tools": ["Bash"]})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == \
        "tool_not_allowed"
    argv = argv_of(client, key, **{"dangerously-skip-permissions": True})
    denied = next(a for a in argv if a.startswith("--disallowedTools="))
    assert set(denied.split("=", 1)[1].split(",")) >= {"Bash", "Write", "Edit", "NotebookEdit"}


def test_without_a_sandbox_turns_are_refused_and_health_says_why(make_app, monkeypatch):
    import shutil
    which = shutil.which
    monkeypatch.setattr(shutil, "which",  # a host without bubblewrap
                        lambda name, path=None: None if name == "bwrap" else which(name, path=path))
    client = make_app(SANDBOX="bwrap").test_client()
    refused = client.post("/api/claude", json={"prompt": "hi", "stream": False})
    assert refused.status_code == 503
    error = refused.get_json()["error"]
    assert error["code"] == "sandbox_unavailable" and "bubblewrap is not installed" in \
        error["message"]
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["checks"]["sandbox"]["status"] == "fail"


def test_usage_shows_the_last_days_and_the_operator_sees_every_key(app, client, keys):
    key = keys.create("daily", ["chat"], daily_usd=2.5)
    ledger = app.extensions["gateway"].usage
    ledger.settle(None, keys.find(key), "claude-sonnet-4-5", CallUsage(input_tokens=5,
                                                                       output_tokens=5))
    own = client.get("/api/usage", headers=bearer(key)).get_json()
    assert len(own["days"]) == 14 and own["days"][-1]["day"] == own["day"]
    assert own["days"][-1]["total_tokens"] == 10 and own["days"][0]["total_tokens"] == 0
    assert "keys" not in own  # another key's use is the operator's to see
    every = client.get("/api/usage", headers=bearer(OPERATOR)).get_json()["keys"]
    assert {"key": "daily", "turns": 0, "total_tokens": 10, "cost_usd": 0.00009,
            "limits": {"daily_tokens": None, "daily_usd": 2.5}} in every
