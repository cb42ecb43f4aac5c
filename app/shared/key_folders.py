"""Each key's own folders on the host: its home and its private workspaces.

A key's home (STATE_DIR/keys/<id>/home) is the HOME of its turns, and its .claude the
CLI's config folder there: transcripts, settings, memory. What one key's tools write
there never reaches another key's turns. A key's private workspaces live under the
workspace base, in keys/<id>/, laid out as the shared ones are at the base itself.
"""

import re
from pathlib import Path

KEYS = "keys"
_OWNER = re.compile(r"[A-Za-z0-9_-]{1,64}")
FOLDER_CHARS = 32  # of an owner id: enough to tell keys apart, short enough for paths


class KeyFolders:
    """Where a key's home and private workspaces are, made on first use."""

    def __init__(self, state_dir: Path, workspace_base: Path):
        self.state_dir = state_dir
        self.workspace_base = workspace_base

    def root(self, owner: str) -> Path:
        """The key's folder in STATE_DIR (not made)."""
        return self.state_dir / KEYS / _folder(owner)

    def home(self, owner: str) -> Path:
        """The key's home, with its .claude config folder (private to the server's user)."""
        home = self.root(owner) / "home"
        (home / ".claude").mkdir(parents=True, exist_ok=True, mode=0o700)
        return home

    def config(self, owner: str) -> Path:
        """The key's Claude config folder, where its transcripts are."""
        return self.root(owner) / "home" / ".claude"

    def workspaces(self, owner: str) -> Path:
        """The base of the key's private workspaces."""
        return self.workspace_base / KEYS / _folder(owner)


def _folder(owner: str) -> str:
    """An owner id as a folder name; ids are hex digests or random hex, never paths."""
    if not _OWNER.fullmatch(owner):
        raise ValueError(f"not an owner id: {owner!r}")
    return owner[:FOLDER_CHARS]
