"""Which Claude Code CLI versions the gateway supports, as package.json says.

package.json is the one place the range is written: `dependencies` pins the version
npm installs and the end-to-end tests (tests/cli) run, and `cliMinimum` names the
oldest version those tests also passed against. A CLI from the minimum on that is not
the pin should work, but was not tested as it is; one older than the minimum lacks
something the gateway relies on.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE_JSON = Path(__file__).resolve().parents[2] / "package.json"
CLI_PACKAGE = "@anthropic-ai/claude-code"
PINNED, SUPPORTED, TOO_OLD, UNKNOWN = "pinned", "supported", "too old", "unknown"
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Support:
    """The supported range: from `minimum` on, tested at `pinned`."""
    minimum: str
    pinned: str

    def verdict(self, version: str) -> str:
        """Place a `claude --version` answer ("2.1.332 (Claude Code)") in the range."""
        found = parse(version)
        if found is None:
            return UNKNOWN
        if found == parse(self.pinned):
            return PINNED
        floor = parse(self.minimum)
        return TOO_OLD if floor is not None and found < floor else SUPPORTED


def parse(version: str) -> tuple[int, ...] | None:
    """The leading major.minor.patch of a version string, as numbers, so 2.1.332 > 2.1.197."""
    match = _VERSION.match(version.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def support(path: Path = PACKAGE_JSON) -> Support | None:
    """Read the range from package.json; None when the project's package.json is not here."""
    try:
        package = json.loads(path.read_text())
        return Support(str(package["cliMinimum"]), str(package["dependencies"][CLI_PACKAGE]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
