"""Requests about a session's turn that reach any worker, for whichever worker runs it.

A request is a file named by the session id under STATE_DIR; the worker running
that session's turn finds it within a housekeeping tick and acts on it: interrupts
the turn (folder interrupts/), or ends the turn waiting there for its client when
another worker got the client's next request (folder handovers/).
"""

import os
import time
from pathlib import Path
from typing import Protocol

STALE_SECONDS = 10.0  # a running turn takes its request within a tick; older ones are void


class Signals(Protocol):
    """Requests about a session that whichever worker holds it acts on (interrupt it, end
    its waiting turn, forget its process); a request not taken in seconds is void. Files
    of one host here; Redis across hosts (app/shared/redis_state.py)."""

    def request(self, session_id: str) -> None: ...

    def pending(self) -> list[str]: ...

    def clear(self, session_id: str) -> None: ...


class InterruptBox:
    """The folder of pending interrupt requests, shared by every worker."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._folder = folder

    def request(self, session_id: str) -> None:
        """Ask whichever worker runs the session's turn to interrupt it."""
        (self._folder / session_id).touch()

    def pending(self) -> list[str]:
        """The sessions asked to be interrupted; requests nobody took in time are removed."""
        found, now = [], time.time()
        try:
            names = os.listdir(self._folder)
        except (FileNotFoundError, NotADirectoryError):
            return []  # STATE_DIR was removed; it is made again on the next tick
        for name in names:
            try:
                fresh = now - (self._folder / name).stat().st_mtime < STALE_SECONDS
            except FileNotFoundError:
                continue
            if fresh:
                found.append(name)
            else:
                self.clear(name)
        return found

    def clear(self, session_id: str) -> None:
        """Forget a request: it was carried out, or it is older than the turn now starting."""
        (self._folder / session_id).unlink(missing_ok=True)
