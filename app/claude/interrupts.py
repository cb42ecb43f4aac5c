"""Interrupt requests that reach any worker, for a turn that runs in whichever worker it does.

A request is a file named by the session id under STATE_DIR; the worker running
that session's turn finds it within a housekeeping tick and interrupts the turn.
"""

import os
from pathlib import Path


class InterruptBox:
    """The folder of pending interrupt requests, shared by every worker."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._folder = folder

    def request(self, session_id: str) -> None:
        """Ask whichever worker runs the session's turn to interrupt it."""
        (self._folder / session_id).touch()

    def pending(self) -> list[str]:
        return os.listdir(self._folder)

    def clear(self, session_id: str) -> None:
        """Forget a request: it was carried out, or it is older than the turn now starting."""
        (self._folder / session_id).unlink(missing_ok=True)
