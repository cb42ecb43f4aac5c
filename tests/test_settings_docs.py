"""The README's settings table and .env.example name every setting of app/settings.py, each
with its default, and nothing that is not one."""

import re

from app.settings import SETTINGS
from tests.support.server import ROOT

ROW = re.compile(r"\| `([A-Z0-9_]+)` \| (`[^`]*`)? *\| *(.*?) *\|")
ASSIGNMENT = re.compile(r"([A-Z0-9_]+)=(.*)")


def readme_rows() -> dict[str, tuple[str, str]]:
    """The settings table of README.md: name -> (default, description)."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| setting | default | what it does |"):].split("\n\n")[0]
    rows = {}
    for line in table.splitlines()[2:]:
        match = ROW.fullmatch(line.strip())
        assert match, f"README settings table: cannot read the row {line!r}"
        rows[match[1]] = ((match[2] or "``")[1:-1], match[3])
    return rows


def env_example() -> list[tuple[str, str]]:
    """The NAME=value lines of .env.example that are not comments."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return [ASSIGNMENT.fullmatch(line).groups() for line in lines
            if line.strip() and not line.lstrip().startswith("#")]


def row_for(setting) -> str:
    default = f"`{setting.default}`" if setting.default else ""
    return f"| `{setting.env}` | {default} | {setting.help} |"


def test_readme_table_lists_every_setting_with_its_default():
    rows = readme_rows()
    for setting in SETTINGS:
        assert setting.env in rows, f"README lacks {setting.env}'s row, e.g.\n{row_for(setting)}"
        default, description = rows[setting.env]
        assert default == setting.default, f"README gives {setting.env} the default {default!r}"
        assert description, f"README's row for {setting.env} says nothing about it"
    assert set(rows) == {setting.env for setting in SETTINGS}, "README names a removed setting"


def test_env_example_sets_every_setting_to_its_default_once():
    assignments = env_example()
    names = [name for name, _ in assignments]
    for setting in SETTINGS:
        assert names.count(setting.env) == 1, f".env.example should set {setting.env} once"
        assert dict(assignments)[setting.env] == setting.default, (
            f".env.example should show {setting.env}={setting.default}")
    assert set(names) == {setting.env for setting in SETTINGS}, ".env.example sets a non-setting"

