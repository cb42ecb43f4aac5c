"""`flask --app app doctor` with the real CLI: a good set-up exits 0 and names the CLI's
version (ok for the pinned one, a warning for another supported one); an unreachable API
is a problem with the login/network fix."""

import os
import subprocess
import sys

from app.claude import versions
from app.settings import SETTINGS
from tests.support.anthropic_standin import Text
from tests.support.real_cli import REAL_CLAUDE, cli_environment
from tests.support.server import ROOT, free_port


def doctor(standin, home, **env) -> subprocess.CompletedProcess:
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    env = {**clean, **cli_environment(standin, home), "PYTHONPATH": str(ROOT),
           "STATE_DIR": str(home / "state"), "WORKSPACE_BASE_PATH": str(home / "ws"),
           "CLAUDE_PATH": str(REAL_CLAUDE), **env}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "doctor"], cwd=home,
                          env=env, capture_output=True, text=True, timeout=180)


def test_a_good_set_up_exits_0_and_names_the_cli(standin, tmp_path, cli_version):
    standin.script(Text("OK"))
    done = doctor(standin, tmp_path / "good")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    [cli] = [line for line in lines if " claude cli: " in line]
    assert len(lines) == 8 and all(line.startswith("ok       ") for line in lines if line != cli)
    assert "ok       sandbox: turns run in bubblewrap, network isolated" in lines
    assert "ok       credential: from ANTHROPIC_API_KEY" in lines
    if versions.support().verdict(cli_version) == versions.PINNED:
        assert cli == f"ok       claude cli: {REAL_CLAUDE}, version {cli_version}"
    else:  # CLAUDE_CLI_UNDER_TEST names another version
        assert cli.startswith(f"warning  claude cli: {REAL_CLAUDE} is {cli_version}, untested: ")
    assert any(line.startswith("ok       claude turn: a test turn answered in") for line in lines)
    assert len(standin.requests) >= 1  # the turn really reached the API


def test_an_unreachable_api_is_a_problem_with_its_fix(standin, tmp_path):
    done = doctor(standin, tmp_path / "down", ANTHROPIC_BASE_URL=f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    [turn] = [line for line in done.stdout.splitlines() if " claude turn: " in line]
    assert turn.startswith("problem  claude turn: cannot reach the Anthropic API: a test turn "
                           "failed: ")
    assert turn.endswith("-- fix: log the CLI in as the server's user (run `claude` once, or set "
                         "ANTHROPIC_API_KEY) and check that this machine reaches the API "
                         "(ANTHROPIC_BASE_URL, proxy)")
