"""Where a turn sees the files of its workspace: inside its sandbox a workspace is mounted at
/workspace/<name> (the default one at /workspace), so scripted tool calls name those paths,
as a model that reads the CLI's system prompt would."""

from pathlib import Path

from app.shared.key_folders import KeyFolders
from app.shared.keys import digest

INSIDE = Path("/workspace")


def inside(path: Path, base: Path) -> str:
    """The path a turn sees for a host path in a workspace under the workspace base `base`,
    shared (workspace/<name>, shared_workspace) or a key's own (keys/<id>/...)."""
    parts = path.resolve().relative_to(base.resolve()).parts
    if parts[0] == "keys":
        parts = parts[2:]
    if parts[0] == "workspace":
        return str(INSIDE.joinpath(*parts[1:]))
    return str(INSIDE.joinpath(*parts[1:]))  # shared_workspace/...


def config_folder(state_dir: Path, key: str | None) -> Path:
    """The Claude config folder of the key (None: a keyless server's one owner)."""
    return KeyFolders(state_dir, Path("/nonexistent")).config(digest(key))
