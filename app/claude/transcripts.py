"""The CLI's own session files, and waiting until a live process has written its last turn.

A live process appends a turn to `<config dir>/projects/<cwd>/<session>.jsonl` a few
tens of milliseconds after it prints the turn's `result`. A cold resume in another
process reads that file, so it waits until the file holds the last message the
previous turn printed (each line carries the `uuid` the CLI printed on stdout).
"""

import os
import time
from pathlib import Path

POLL_SECONDS = 0.01


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
    while True:
        path = find(session_id)
        try:
            if path is not None and needle in path.read_bytes():
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
