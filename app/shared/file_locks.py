"""Session locks on one host: a file lock per session under STATE_DIR, which the kernel frees
when its holder dies, even by SIGKILL (the embedded SessionLocks)."""

from pathlib import Path

from app.errors import Conflict
from app.shared.state import FileLock


def busy(session_id: str) -> Conflict:
    """The answer to a request for a session another turn holds past the wait."""
    return Conflict(f"Session {session_id} is busy with another request; retry when it has "
                    "finished.", param="session-id", code="session_busy")


class FileSessionLocks:
    """One turn per session at a time, across the workers of this host."""

    def __init__(self, folder: Path):
        self._folder = folder

    def lock(self, session_id: str, wait_seconds: float) -> FileLock:
        """Hold the session for one turn, waiting a bounded time for a running one."""
        return FileLock.acquire(self._folder / f"{session_id}.lock", wait_seconds,
                                lambda: busy(session_id))

    def is_running(self, session_id: str) -> bool:
        """Tell whether a turn of the session runs now, in any worker."""
        return FileLock.is_held(self._folder / f"{session_id}.lock")
