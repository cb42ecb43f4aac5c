"""`flask --app app doctor` and `flask --app app gen-key`, run as an operator runs them.

The fake CLI answers the tiny turn and reports version 9.9.9 (newer than the pin, so its
`claude cli` line is a warning) unless FAKE_CLAUDE_VERSION says otherwise; the real CLI's
good set-up is in tests/cli/test_doctor_cli.py.
"""

import os
import subprocess
import sys

import pytest

from app.claude import versions
from app.settings import SETTINGS
from tests.support.fake_cli import FAKE_CLAUDE
from tests.support.server import ROOT


def flask(tmp_path, *args, **settings) -> subprocess.CompletedProcess:
    """Run `flask --app app ...` in a folder of its own, with only the given settings."""
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    env.update({"PYTHONPATH": str(ROOT), "STATE_DIR": str(tmp_path / "state"),
                "ANTHROPIC_API_KEY": "sk-ant-test",  # the proxy's credential (the fake needs none)
                "WORKSPACE_BASE_PATH": str(tmp_path / "ws"), "CLAUDE_PATH": str(FAKE_CLAUDE),
                **settings})
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def lines(done: subprocess.CompletedProcess) -> dict[str, str]:
    """Doctor's report: check name -> its whole line."""
    assert "Traceback" not in done.stderr, done.stderr
    return {line.split(":")[0].split(None, 1)[1]: line for line in done.stdout.splitlines()}


def test_a_sound_set_up_passes_every_check_and_warns_of_an_untested_cli(tmp_path):
    done = flask(tmp_path, "doctor")
    report = lines(done)
    assert list(report) == ["bind and keys", "mcp config", "workspace base", "state dir",
                            "claude cli", "sandbox", "credential", "claude turn"]
    support = versions.support()
    assert report["claude cli"] == (
        f"warning  claude cli: {FAKE_CLAUDE} is 9.9.9 (Claude Code), untested: package.json "
        f"pins {support.pinned} and supports {support.minimum} on -- fix: run `npm ci` and set "
        "CLAUDE_PATH to node_modules/.bin/claude, or run tests/cli against this CLI "
        "(CLAUDE_CLI_UNDER_TEST, see README.md)")
    assert all(line.startswith("ok ") for name, line in report.items() if name != "claude cli")
    assert report["claude turn"].startswith("ok       claude turn: a test turn answered")
    assert done.returncode == 0


@pytest.mark.parametrize("version, level, says, status", [
    ("pinned", "ok", ", version {pinned} (Claude Code)", 0),
    ("minimum", "warning", " is {minimum} (Claude Code), untested: package.json pins", 0),
    ("1.0.0", "problem", " is 1.0.0 (Claude Code), too old: package.json pins", 1),
    ("nonsense", "problem", " answered --version with 'nonsense (Claude Code)'", 1),
])
def test_the_cli_version_is_placed_in_the_range_package_json_sets(tmp_path, version, level,
                                                                   says, status):
    support = versions.support()
    version = {"pinned": support.pinned, "minimum": support.minimum}.get(version, version)
    done = flask(tmp_path, "doctor", FAKE_CLAUDE_VERSION=version)
    line = lines(done)["claude cli"]
    assert line.startswith(f"{level:9}claude cli: {FAKE_CLAUDE}")
    assert says.format(pinned=support.pinned, minimum=support.minimum) in line
    assert done.returncode == status


@pytest.mark.parametrize("version, verdict", [
    ("2.1.332 (Claude Code)", versions.PINNED), ("2.1.333", versions.SUPPORTED),
    ("2.1.197", versions.SUPPORTED), ("10.0.0", versions.SUPPORTED),
    ("2.1.196", versions.TOO_OLD), ("2.1.40", versions.TOO_OLD), ("", versions.UNKNOWN),
])
def test_versions_compare_as_numbers_not_as_text(version, verdict):
    assert versions.Support(minimum="2.1.197", pinned="2.1.332").verdict(version) == verdict


@pytest.fixture
def blocker(tmp_path):
    """A plain file, under which no folder can be made (root can write anywhere else)."""
    path = tmp_path / "a-file"
    path.write_text("")
    return path


@pytest.mark.parametrize("fault, check, says, fix", [
    ({"HOST": "0.0.0.0"}, "bind and keys", "HOST='0.0.0.0' is not a loopback address",
     "`flask --app app gen-key` makes one"),
    ({"API_KEY": "short"}, "bind and keys", "key 1 of API_KEY/API_KEYS has 5 characters",
     "use long random keys"),
    ({"CLAUDE_PATH": "/no/such/claude"}, "claude cli", "claude executable not found",
     "run `npm ci` in the project"),
    ({"WORKSPACE_BASE_PATH": "{blocker}/ws"}, "workspace base", "is not writable",
     "set WORKSPACE_BASE_PATH"),
    ({"STATE_DIR": "{blocker}/state"}, "state dir", "is not writable", "set STATE_DIR"),
    ({"MCP_CONFIG_PATH": "{mcp}"}, "mcp config", "cannot read", "unset MCP_CONFIG_PATH"),
])
def test_each_problem_is_one_line_with_its_fix_and_a_failing_exit(tmp_path, blocker, fault,
                                                                    check, says, fix):
    mcp = tmp_path / "mcp.json"
    mcp.write_text("{not json")
    fault = {k: v.format(blocker=blocker, mcp=mcp) for k, v in fault.items()}
    done = flask(tmp_path, "doctor", **fault)
    line = lines(done)[check]
    assert line.startswith(f"problem  {check}: ") and says in line, line
    assert fix in line.split(" -- fix: ")[1]
    assert done.returncode == 1


def test_without_a_usable_cli_the_turn_is_not_tried(tmp_path):
    report = lines(flask(tmp_path, "doctor", CLAUDE_PATH="/no/such/claude"))
    assert report["claude turn"] == ("problem  claude turn: not tried -- fix: fix the CLI, "
                                     "workspace base and STATE_DIR problems above first")


def test_a_setting_the_server_refuses_is_a_problem_line_not_a_traceback(tmp_path):
    done = flask(tmp_path, "doctor", PORT="70000")
    assert done.stdout.splitlines() == [
        "problem  settings: PORT='70000' is invalid: must be a port number from 1 to 65535 "
        "-- fix: correct it in .env or the environment (see .env.example)"]
    assert "Traceback" not in done.stderr and done.returncode == 1


def test_doctor_reads_dot_env_as_the_server_does(tmp_path):
    (tmp_path / ".env").write_text("HOST=0.0.0.0\n")
    report = lines(flask(tmp_path, "doctor"))
    assert "HOST='0.0.0.0' is not a loopback address" in report["bind and keys"]


def test_gen_key_prints_a_fresh_key_that_the_server_accepts(tmp_path, make_app):
    first, second = flask(tmp_path, "gen-key"), flask(tmp_path, "gen-key")
    assert not (tmp_path / "state").exists()  # gen-key starts nothing, makes no state
    assert first.returncode == 0 and "API_KEY=" in first.stderr
    key = first.stdout.strip()
    assert len(key) >= 40 and key != second.stdout.strip() and "\n" not in key
    client = make_app(API_KEY=key).test_client()
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/v1/models", headers={"Authorization": "Bearer other"}).status_code == 401


def test_doctor_leaves_no_claude_process_behind(tmp_path):
    assert "claude turn: a test turn answered" in flask(tmp_path, "doctor").stdout
    assert not running_in(tmp_path / "ws")


def running_in(folder) -> list[str]:
    """Processes whose working directory is under `folder` (the turn ran in the workspace)."""
    found = []
    for proc in os.listdir("/proc"):
        try:
            if proc.isdigit() and os.readlink(f"/proc/{proc}/cwd").startswith(str(folder)):
                found.append(proc)
        except OSError:
            pass  # ended meanwhile, or not ours to read
    return found
