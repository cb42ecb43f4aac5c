"""What STATE_RETENTION_DAYS removes from disk, beside the database rows it forgets: debug
captures, the CLI's session files no turn has touched since, and every folder of a key
revoked that long ago (its home and its own workspaces; its row stays, so a server that
had keys never turns keyless)."""

import shutil
import time
from pathlib import Path

from sqlalchemy import text

from app.shared.key_folders import KeyFolders
from app.shared.state import StateDB

DAY = 86400


def prune_files(db: StateDB, folders: KeyFolders, retention_days: int) -> int:
    """Remove what is older than the retention; return how many files and folders went."""
    cutoff = time.time() - retention_days * DAY
    removed = sum(_remove_if_older(path, cutoff) for path in _captures(db))
    for transcript in folders.state_dir.glob("keys/*/home/.claude/projects/*/*.jsonl"):
        if _remove_if_older(transcript, cutoff):
            shutil.rmtree(transcript.with_suffix(""), ignore_errors=True)  # its tool output
            removed += 1
    for owner in _revoked_before(db, cutoff):
        for folder in (folders.root(owner), folders.workspaces(owner)):
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed


def _captures(db: StateDB) -> list[Path]:
    folder = db.dir / "captures"
    return list(folder.glob("*.jsonl")) if folder.is_dir() else []


def _remove_if_older(path: Path, cutoff: float) -> bool:
    try:
        if path.stat().st_mtime >= cutoff:
            return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _revoked_before(db: StateDB, cutoff: float) -> list[str]:
    """The ids of keys revoked before the cutoff."""
    with db.connect() as connection:
        ids = connection.execute(text("SELECT id FROM api_keys WHERE revoked_at IS NOT NULL AND "
                                      "revoked_at < :cutoff"), {"cutoff": cutoff}).scalars()
        return [owner for owner in ids if owner]
