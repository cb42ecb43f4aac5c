"""The code passes its linters: ruff (pycodestyle and pyflakes) and mypy (set in setup.cfg),
the venv's own pinned copies, run as CI runs the tests."""

import subprocess
import sys
from pathlib import Path

from tests.support.server import ROOT

BIN = Path(sys.executable).parent  # the venv's bin, where requirements-dev.txt put them
# ruff reads no setup.cfg: its settings are these flags.
RUFF = ["check", "--no-cache", "--line-length", "100", "--select", "E,F,W",
        "app", "tests", "bench", "gunicorn.conf.py"]


def run(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_ruff_finds_nothing():
    done = run("ruff", *RUFF)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing():
    done = run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr
