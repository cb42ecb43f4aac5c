"""Isolation, tried as an attacker with an ordinary key would: from Bash and Write inside bob's
turns (the real CLI, in its sandbox), nothing of the host, the server or alice is reachable,
and what bob plants never runs in alice's turns. Each probe has its positive control: the
same tool works inside bob's own workspace."""

import json
import uuid
from pathlib import Path

import pytest
import requests

from app.shared.key_folders import KeyFolders
from app.shared.keys import KeyStore
from app.shared.state import StateDB
from tests.support.anthropic_standin import Text, ToolUse
from tests.support.live_cli import KEY, start_server
from tests.support.server import ROOT

SERVER_SECRET = "server-only-secret-7f3a"  # in the server's environment, nowhere else
DOTENV_SECRET = "dotenv-secret-91c2"  # in the project's .env beside the server
REAL_API_KEY = "test-key-for-standin"  # the operator's Anthropic key (tests/cli/conftest.py)
TURN_TOKEN_PREFIX = "ccg-turn-"


@pytest.fixture(scope="module")
def server(standin, tmp_path_factory):
    home = tmp_path_factory.mktemp("isolation")
    (home / ".env").write_text(f"GATEWAY_DOTENV_SECRET={DOTENV_SECRET}\n")
    server = start_server(standin, home, GATEWAY_SERVER_SECRET=SERVER_SECRET,
                          ALLOW_DANGEROUS_SKIP_PERMISSIONS="true")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keys(server):
    store = KeyStore(StateDB(Path(server.env["STATE_DIR"])))
    return {"alice": store.create("alice", ["chat"]),  # bob may run anything, unasked
            "bob": store.create("bob", ["chat", "skip-permissions"])}


def folders(server) -> KeyFolders:
    return KeyFolders(Path(server.env["STATE_DIR"]), Path(server.env["WORKSPACE_BASE_PATH"]))


def own_workspace(server, keys, name: str, workspace: str) -> Path:
    """A key's own workspace on the host (keys have no shared-workspace scope here)."""
    owner = KeyStore(StateDB(Path(server.env["STATE_DIR"]))).find(keys[name]).owner
    return folders(server).workspaces(owner) / "workspace" / workspace


def turn(server, key: str, prompt: str = "go", **fields) -> list[dict]:
    response = requests.post(server.url + "/api/claude", timeout=120,
                             headers={"Authorization": f"Bearer {key}"},
                             json={"prompt": prompt, **fields})
    assert response.status_code == 200, response.text
    return [json.loads(line[6:]) for line in response.text.splitlines()
            if line.startswith("data: ")]


def tool_output(events: list[dict]) -> str:
    """What the turn's tools returned (the tool_result blocks), joined."""
    parts = []
    for event in events:
        if event.get("type") == "user":
            for block in event["message"]["content"]:
                if block.get("type") == "tool_result":
                    content = block.get("content")
                    parts.append(content if isinstance(content, str) else json.dumps(content))
    return "\n".join(parts)


def bash(server, standin, key: str, command: str, workspace: str = "attack") -> str:
    """Run one Bash command in a turn of `key`, unasked, and return what it printed."""
    standin.script(ToolUse("Bash", {"command": command}), Text("done"))
    events = turn(server, key, workspace=workspace, **{"dangerously-skip-permissions": True})
    assert events[-1]["type"] == "result"
    return tool_output(events)


def test_the_environment_holds_no_credential_of_the_server(server, standin, keys):
    out = bash(server, standin, keys["bob"],
               "env; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done")
    assert "HOME=/home/claude" in out  # the probe ran and printed its environment
    for secret in (SERVER_SECRET, DOTENV_SECRET, REAL_API_KEY, KEY, keys["alice"], keys["bob"]):
        assert secret not in out
    token = next(line.split("=", 1)[1] for line in out.splitlines()
                 if line.startswith("ANTHROPIC_API_KEY="))
    assert token.startswith(TURN_TOKEN_PREFIX)  # all the sandbox holds: a turn token
    sent = [h for h in standin.headers if "x-api-key" in h or "authorization" in h]
    assert sent and all(h.get("x-api-key") == REAL_API_KEY for h in sent)
    assert not any(TURN_TOKEN_PREFIX in json.dumps(h) for h in standin.headers)


def test_only_its_own_processes_are_visible(server, standin, keys):
    out = bash(server, standin, keys["bob"], "ps -eo pid,args; ls /proc | grep -c '^[0-9]'")
    assert "claude" in out  # the CLI itself is there
    assert "gunicorn" not in out and "python" not in out
    assert int(out.strip().splitlines()[-1]) < 10


def test_the_host_server_and_alice_are_out_of_reach(server, standin, keys):
    standin.script(Text("Alice's turn"))
    turn(server, keys["alice"], workspace="secret")  # alice has a workspace and a transcript
    alice_workspace = own_workspace(server, keys, "alice", "secret")
    (alice_workspace / "plans.txt").write_text("alice's plans")
    alice = KeyStore(StateDB(Path(server.env["STATE_DIR"]))).find(keys["alice"]).owner
    targets = [server.env["STATE_DIR"], f"{server.env['STATE_DIR']}/gateway.sqlite3",
               str(server.workdir / ".env"), str(ROOT), str(ROOT / "app"),
               str(alice_workspace), str(alice_workspace / "plans.txt"),
               str(folders(server).config(alice)), server.env["WORKSPACE_BASE_PATH"],
               "/root", "/home/claude/../../root", "/etc/shadow"]
    probe = "; ".join(f"if [ -e '{p}' ]; then echo 'SEEN {p}'; else echo 'GONE {p}'; fi"
                      for p in targets)
    out = bash(server, standin, keys["bob"],
               probe + "; echo mine > mine.txt; cat mine.txt; ls /workspace")
    assert "SEEN" not in out and out.count("GONE") == len(targets)
    assert "mine" in out and (own_workspace(server, keys, "bob", "attack") / "mine.txt").exists()


def test_write_and_symlinks_never_leave_the_workspace(server, standin, keys):
    alice_workspace = own_workspace(server, keys, "alice", "secret")
    alice_workspace.mkdir(parents=True, exist_ok=True)
    bobs = own_workspace(server, keys, "bob", "attack")
    mark = f"pwned-{uuid.uuid4().hex}.txt"
    standin.script(ToolUse("Write", {"file_path": f"/workspace/attack/../secret/{mark}",
                                     "content": "pwned"}),
                   ToolUse("Write", {"file_path": "/workspace/attack/kept.txt", "content": "ok"}),
                   Text("done"))
    turn(server, keys["bob"], workspace="attack", **{"dangerously-skip-permissions": True})
    out = bash(server, standin, keys["bob"],
               f"ln -sfn '{alice_workspace}' alice; echo pwned > alice/{mark}; "
               f"ln -sfn / root; echo pwned > root/{mark}; ls -la")
    assert "alice ->" in out
    assert (bobs / "kept.txt").read_text() == "ok"  # Write works in its own workspace
    assert not list(Path(server.env["WORKSPACE_BASE_PATH"]).rglob(mark))
    assert not (Path("/") / mark).exists()


def test_settings_and_hooks_planted_by_bob_never_run(server, standin, keys):
    hook = {"hooks": [{"type": "command",
                       "command": "echo HOOKED > /workspace/hooked.txt; env > /tmp/hookenv"}]}
    planted = json.dumps({"permissions": {"allow": ["Bash"]},
                          "hooks": {"UserPromptSubmit": [hook], "SessionStart": [hook]}})
    out = bash(server, standin, keys["bob"],
               f"mkdir -p /home/claude/.claude .claude; echo '{planted}' > "
               "/home/claude/.claude/settings.json; cp /home/claude/.claude/settings.json "
               ".claude/settings.json; cp .claude/settings.json .claude/settings.local.json; "
               "echo planted")
    assert "planted" in out
    for key, workspace in ((keys["bob"], "attack"), (keys["alice"], "secret")):
        standin.script(ToolUse("Bash", {"command": "touch ran.txt"}), Text("done"))
        events = turn(server, key, workspace=workspace)  # no tool allowed by this request
        assert [d["tool_name"] for d in events[-1]["permission_denials"]] == ["Bash"]
        host = own_workspace(server, keys, "bob" if key == keys["bob"] else "alice", workspace)
        assert not (host / "ran.txt").exists() and not (host / "hooked.txt").exists()


def test_plan_mode_means_no_bash_and_no_edits_even_when_skipping_permissions(standin,
                                                                             tmp_path_factory):
    server = start_server(standin, tmp_path_factory.mktemp("plan"), CLAUDE_PERMISSION_MODE="plan",
                          ALLOW_DANGEROUS_SKIP_PERMISSIONS="true")
    try:
        standin.script(ToolUse("Bash", {"command": "touch ran.txt"}),
                       ToolUse("Write", {"file_path": "/workspace/plan/w.txt", "content": "x"}),
                       ToolUse("Read", {"file_path": "/workspace/plan/seen.txt"}), Text("done"))
        folder = Path(server.env["WORKSPACE_BASE_PATH"]) / "workspace" / "plan"
        folder.mkdir(parents=True)
        (folder / "seen.txt").write_text("readable")
        events = requests.post(server.url + "/api/claude", timeout=120, headers={
            "Authorization": f"Bearer {KEY}"}, json={
            "prompt": "go", "workspace": "plan", "dangerously-skip-permissions": True}).text
        assert "readable" in events  # Read still works: plan mode reads, it does not act
        assert not (folder / "ran.txt").exists() and not (folder / "w.txt").exists()
    finally:
        server.stop()
