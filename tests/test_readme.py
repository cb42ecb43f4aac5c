"""The README's commands work as written from a fresh clone: the two set-up commands at the
top (the second is what `.ci/run` runs), every Python tool called through the project's
.venv (an inactive venv otherwise answers `No module named ...`, or runs another Python's
tools), and the operator's flask commands run as written."""

import os
import re
import subprocess

from tests.support.server import ROOT

README = (ROOT / "README.md").read_text()
BARE_TOOL = re.compile(r"(?:^|\$\(|&&\s*|;\s*|\|\s*)"
                       r"(flask|gunicorn|pip3?|pytest|python -m pytest)\s")
PROSE = {"pip install",  # what a sandboxed turn cannot do
         "gunicorn 'app:create_app()'"}  # what the Procfile runs, on Heroku's own PATH


def commands() -> list[str]:
    """Every line of the README's code blocks, and every inline code span."""
    blocks = README.split("```")[1::2]
    lines = [line for block in blocks for line in block.splitlines()[1:]]
    return lines + re.findall(r"`([^`\n]+)`", README)


def test_the_top_has_exactly_two_set_up_commands_install_start_and_test():
    top = README[:README.index("\n## ")]
    blocks = [block.strip() for block in top.split("```")[1::2]]
    first_two = blocks[:2]
    assert first_two[0].endswith(".venv/bin/gunicorn 'app:create_app()'")
    assert first_two[1].endswith(".venv/bin/python -m pytest")
    assert top.count("Install everything") == 2


def test_python_tools_are_called_through_the_venv():
    bare = [line for line in commands()
            if BARE_TOOL.search(line.strip()) and line.strip() not in PROSE]
    assert bare == [], "use .venv/bin/... so these work without an active venv"


def test_the_operators_flask_commands_run_as_written(tmp_path):
    """The README's `.venv/bin/flask` commands for keys, the database and a new key, run as
    an operator would type them in the project folder (the keys block in an order that can
    run: revoking last)."""
    lines = [line.split("#")[0].strip() for block in README.split("```")[1::2]
             for line in block.splitlines() if line.startswith(".venv/bin/flask --app app ")]
    lines = sorted(lines, key=lambda line: " revoke " in line) + \
        [".venv/bin/flask --app app gen-key"]
    assert any("keys create" in line for line in lines) and any("db upgrade" in line
                                                                for line in lines)
    environment = {**os.environ, "STATE_DIR": str(tmp_path / "state"), "API_KEY": "",
                   "API_KEYS": ""}
    for line in lines:
        done = subprocess.run(["bash", "-c", line], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env=environment)
        assert done.returncode == 0, (line, done.stdout, done.stderr[-2000:])
        if "keys create" in line or "gen-key" in line:
            assert re.search(r"[A-Za-z0-9_-]{24,}", done.stdout), (line, done.stdout)
