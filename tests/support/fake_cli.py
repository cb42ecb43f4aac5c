"""The fake `claude` the unit and server tests run instead of the real CLI."""

from pathlib import Path

FAKE_CLAUDE = Path(__file__).resolve().parent / "fake_claude"
