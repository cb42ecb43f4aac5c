"""Finding the `claude` executable: CLAUDE_PATH, else PATH, else the project's npm install."""

import os
import shutil
from pathlib import Path

LOCAL_INSTALL = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "claude"


def find_cli(configured: str) -> str | None:
    """Return the executable to run, or None when there is none."""
    if configured:
        return shutil.which(configured) or None
    found = shutil.which("claude")
    if found:
        return found
    return str(LOCAL_INSTALL) if os.access(LOCAL_INSTALL, os.X_OK) else None
