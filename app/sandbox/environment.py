"""The CLI's environment, built from an allowlist: never inherited from the server.

The server's environment holds its secrets (API keys, the Anthropic credential, database
URLs); a Bash command could print any of it. So the CLI gets a fixed base (paths,
locale, the proxy's address and its turn token) plus the names Claude Code reads for
its own behaviour, and the names the operator lists in SANDBOX_ENV, with the server's
values. Credentials are refused by name even when a pattern or the operator names them.
"""

import re
from typing import Mapping

from app.settings import CREDENTIAL_NAME

# Claude Code's own settings (model choice, retries, timeouts, telemetry), passed on as set.
CLAUDE_SETTINGS = re.compile(
    r"(CLAUDE_CODE_[A-Z0-9_]+|ANTHROPIC_(DEFAULT_[A-Z]+_MODEL|MODEL|SMALL_FAST_MODEL)"
    r"|DISABLE_[A-Z0-9_]+|MAX_THINKING_TOKENS|MAX_MCP_OUTPUT_TOKENS|MCP_TIMEOUT|MCP_TOOL_TIMEOUT"
    r"|BASH_(DEFAULT_TIMEOUT_MS|MAX_TIMEOUT_MS|MAX_OUTPUT_LENGTH)|LANG|LC_[A-Z]+|TZ)")
SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"
# Always set by the gateway: the CLI must not talk to anything but the proxy, nor update
# itself, nor keep tools the client did not ask for behind a search step.
FIXED = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "IS_SANDBOX": "1",  # the CLI accepts --dangerously-skip-permissions as root only here
}


def cli_environment(server_env: Mapping[str, str], passthrough: tuple[str, ...], home: str,
                    api_url: str, token: str, path: str = SEARCH_PATH) -> dict[str, str]:
    """The environment of one CLI process: the base, Claude Code's settings and the
    operator's names from `server_env`, then what the gateway fixes."""
    env = {name: value for name, value in server_env.items()
           if (CLAUDE_SETTINGS.fullmatch(name) or name in passthrough)
           and not CREDENTIAL_NAME.fullmatch(name)}
    env.setdefault("LANG", "C.UTF-8")
    env.update(FIXED)
    env.update({"PATH": path, "HOME": home, "CLAUDE_CONFIG_DIR": f"{home}/.claude",
                "TMPDIR": "/tmp", "SHELL": "/bin/bash", "USER": "claude",
                "ANTHROPIC_BASE_URL": api_url, "ANTHROPIC_API_KEY": token})
    return env

