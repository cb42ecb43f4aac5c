"""The CLI's own session files, and waiting until a live process has written its last turn.

A live process appends a turn to `<config dir>/projects/<cwd>/<session>.jsonl` a few
tens of milliseconds after it prints the turn's `result`. A cold resume in another
process reads that file, so it waits until the file holds the last message the
previous turn printed (each line carries the `uuid` the CLI printed on stdout).
"""

import os
import time
from pathlib import Path

POLL_SECONDS = 0.02
TAIL_BYTES = 1 << 20  # the last turn's messages are at the end of the file


def config_dir(environ=os.environ) -> Path:
    """Where the CLI keeps its state: CLAUDE_CONFIG_DIR, else ~/.claude."""
    configured = environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured) if configured else Path(environ.get("HOME", "~")).expanduser() \
        / ".claude"


def find(session_id: str, base: Path | None = None) -> Path | None:
    """The session's file, in whichever project folder the CLI put it."""
    projects = (base or config_dir()) / "projects"
    return next(iter(projects.glob(f"*/{session_id}.jsonl")), None)


def wait_for_message(session_id: str, message_uuid: str, seconds: float) -> bool:
    """Wait until the session's file holds the message; tell whether it came in time."""
    deadline = time.monotonic() + seconds
    needle = f'"uuid":"{message_uuid}"'.encode()
    path = None
    while True:
        path = path or find(session_id)
        if path is not None and needle in _tail(path):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def _tail(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - TAIL_BYTES))
            return handle.read()
    except OSError:
        return b""
