"""The README's commands work as written from a fresh clone: the two set-up commands at the
top, and every Python tool called through the project's .venv (an inactive venv otherwise
answers `No module named ...`, or runs another Python's tools)."""

import re

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
