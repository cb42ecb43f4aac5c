"""Workspace names to directories, kept inside the configured base.

Clients never name a path: a workspace is a short plain name, resolved under
`<base>/workspace/<name>` and checked for containment after symlinks are followed.
"""

import re
from pathlib import Path

from app.errors import BadRequest, ServiceUnavailable

SHARED = "shared_workspace"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


def check_name(name: str, param: str = "workspace") -> str:
    """Return the name if it is a plain workspace name, else refuse it."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise BadRequest(
            f"Invalid workspace name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
            "not starting with '.' or '-'; paths are not accepted.", param=param)
    return name


def resolve(base: Path, name: str | None, param: str = "workspace") -> Path:
    """Create (on first use) and return the directory of a workspace."""
    root = base.resolve()
    target = root / SHARED if not name else root / "workspace" / check_name(name, param)
    try:
        root.mkdir(parents=True, exist_ok=True)
        (target.parent if name else root).mkdir(exist_ok=True)
    except OSError as exc:
        raise _unusable_base(exc) from None
    try:
        target.mkdir(exist_ok=True)
    except FileExistsError:
        pass  # a dangling or foreign link: the containment check below refuses it
    except OSError as exc:
        raise _unusable_base(exc) from None
    real = target.resolve()
    if not real.is_relative_to(root) or not real.is_dir():
        raise BadRequest(f"Workspace {name!r} leads outside the workspace base.", param=param)
    return real


def _unusable_base(exc: OSError) -> ServiceUnavailable:
    """The operator's folder cannot hold workspaces: say which setting, not the path."""
    return ServiceUnavailable(f"The workspace base (the WORKSPACE_BASE_PATH setting) is not "
                              f"usable: {exc.strerror or exc}.", code="workspace_base_unusable")
