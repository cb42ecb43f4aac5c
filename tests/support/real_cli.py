"""The real Claude Code CLI the end-to-end tests run, and the environment that points it at the
stand-in Anthropic API, isolated in a home of its own.

The CLI is the pinned one npm installs (node_modules/.bin/claude), or the one
CLAUDE_CLI_UNDER_TEST names, to check another version before moving the pin.
"""

import os
from pathlib import Path

from tests.support.anthropic_standin import AnthropicStandIn
from tests.support.server import ROOT

REAL_CLAUDE = Path(os.environ.get("CLAUDE_CLI_UNDER_TEST")
                   or ROOT / "node_modules" / ".bin" / "claude").absolute()


def cli_environment(standin: AnthropicStandIn, home) -> dict:
    """What the CLI needs to run offline against the stand-in, isolated in `home`."""
    return {
        "ANTHROPIC_BASE_URL": standin.url,
        "ANTHROPIC_API_KEY": "test-key-for-standin",
        "CLAUDE_CONFIG_DIR": str(home / "claude-config"),
        "HOME": str(home),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "IS_SANDBOX": "1",  # tests run as root; lets the CLI accept skip-permissions
    }
