"""`doctor`: each thing the server needs to work, checked as it would use it: ok, or a problem
and its fix.

The checks read the same settings the server reads, but never refuse them: a setting the
server would refuse becomes a problem line, so an operator sees every problem at once.
"""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from app.claude import versions
from app.claude.deep_check import TURN_SECONDS
from app.claude.locate import find_cli
from app.ops import health
from app.settings import Settings, SettingsError, load_settings, read_settings
from app.shared.state import StateUnavailable
from app.turns import mcp

MIN_KEY_LENGTH = 16
GEN_KEY = "`flask --app app gen-key` makes one"
SANDBOX_FIX = ("install bubblewrap and socat (scripts/install-system-packages), allow user "
               "namespaces in a container (see the README's Docker section), or set SANDBOX=off "
               "if every key is trusted")
INSTALL_PINNED = "run `npm ci` and set CLAUDE_PATH to node_modules/.bin/claude"
DATABASE_FIX = ("restore or remove a gateway.sqlite3 that is not a database, or make the "
                "database DATABASE_URL names reachable (the server's log says why it is not)")
LOGIN_FIX = ("log the CLI in as the server's user (run `claude` once, or set ANTHROPIC_API_KEY) "
             "and check that this machine reaches the API (ANTHROPIC_BASE_URL, proxy)")


@dataclass(frozen=True)
class Finding:
    """One check's outcome: ok, or a problem with how to fix it. A warning is ok (doctor
    still exits 0) but says what to do about it."""
    check: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False

    def line(self) -> str:
        """Render the one line doctor prints for this check."""
        if self.ok and not self.warning:
            return f"ok       {self.check}: {self.detail}"
        level = "warning" if self.ok else "problem"
        return f"{level}  {self.check}: {self.detail} -- fix: {self.fix}"


def examine(environ: Mapping[str, Any], build_gateway: Callable,
            open_state: Callable) -> list[Finding]:
    """Check the settings, then what they point at; the real turn only if it can work.
    `open_state(settings)` opens the state database as the server would (app/wiring.py)."""
    try:
        settings = read_settings(environ)
    except SettingsError as exc:
        return [Finding("settings", False, str(exc),
                        "correct it in .env or the environment (see .env.example)")]
    needed = [check_workspace_base(settings.workspace_base),
              check_state_dir(settings, open_state)]
    findings = [check_exposure(environ, settings), check_mcp(settings.mcp_config_path), *needed,
                check_cli(settings.claude_path)]
    runs = health.check_cli(settings.claude_path)["status"] == "pass"  # any version can try
    if runs and all(finding.ok for finding in needed):
        return findings + check_gateway(settings, build_gateway)
    return findings + [Finding("claude turn", False, "not tried",
                               "fix the CLI, workspace base and STATE_DIR problems above first")]


def check_exposure(environ: Mapping[str, Any], settings: Settings) -> Finding:
    """Apply the server's bind and key policy, and refuse keys too short to stay secret."""
    try:
        load_settings(environ)
    except SettingsError as exc:
        return Finding("bind and keys", False, str(exc), f"set API_KEY or API_KEYS ({GEN_KEY})")
    where = f"{settings.host}:{settings.port}"
    for number, key in enumerate(settings.keys, 1):
        if len(key) < MIN_KEY_LENGTH:
            return Finding("bind and keys", False, f"key {number} of API_KEY/API_KEYS has "
                           f"{len(key)} characters", f"use long random keys ({GEN_KEY})")
    if not settings.keys:
        return Finding("bind and keys", True, f"{where}, loopback only and no API key: only "
                       "this machine can connect")
    return Finding("bind and keys", True, f"{where} with {len(settings.keys)} API key(s)")


def check_mcp(path: Path | None) -> Finding:
    """Read the operator's MCP file as the server does at start-up."""
    if path is None:
        return Finding("mcp config", True, "none (MCP_CONFIG_PATH is unset)")
    try:
        servers = mcp.load_servers(path)
    except ValueError as exc:
        return Finding("mcp config", False, str(exc), 'make it a JSON file {"mcpServers": {...}}, '
                       "or unset MCP_CONFIG_PATH")
    return Finding("mcp config", True, f"{path}: servers {', '.join(sorted(servers)) or 'none'}")


def check_workspace_base(base: Path) -> Finding:
    """Make a file in the folder where every run's workspace is made."""
    outcome = health.check_workspace_base(base)
    if outcome["status"] != "pass":
        return Finding("workspace base", False, outcome["detail"], "make it a folder the "
                       "server's user can write, or set WORKSPACE_BASE_PATH to one")
    return Finding("workspace base", True, f"{base} is writable")


def check_state_dir(settings: Settings, open_state: Callable) -> Finding:
    """Make a file in STATE_DIR, then open the state database (upgrading its schema, as the
    server would) and query it."""
    path = settings.state_dir
    outcome = health.check_workspace_base(path)
    if outcome["status"] != "pass":
        return Finding("state dir", False, outcome["detail"],
                       "make it a folder the server's user can write, or set STATE_DIR to one")
    try:
        db = open_state(settings)
    except (OSError, StateUnavailable) as exc:
        outcome = {"status": "fail", "detail": f"{path} is not usable: {exc}"}
    else:
        outcome = health.check_state(db)
        db.close()
    if outcome["status"] != "pass":
        return Finding("state dir", False, outcome["detail"], DATABASE_FIX)
    return Finding("state dir", True, f"{path} is writable and the state database "
                   f"({db.where}) answers")


def check_cli(configured: str) -> Finding:
    """Run the CLI the server would run and place its version in the range package.json sets:
    the pin is ok, another supported version a warning, an older or unreadable one a problem."""
    executable = find_cli(configured)
    outcome = health.check_cli(configured)
    if outcome["status"] != "pass":
        return Finding("claude cli", False, outcome["detail"], "run `npm ci` in the project (it "
                       "installs the pinned CLI), or set CLAUDE_PATH to the claude executable")
    version, support = outcome["version"], versions.support()
    verdict = support.verdict(version) if support else versions.PINNED
    if verdict == versions.PINNED:
        return Finding("claude cli", True, f"{executable}, version {version}")
    assert support is not None  # without package.json's range every version counts as pinned
    if verdict == versions.UNKNOWN:
        return Finding("claude cli", False, f"{executable} answered --version with {version!r}, "
                       "not a version number", INSTALL_PINNED)
    span = f"package.json pins {support.pinned} and supports {support.minimum} on"
    if verdict == versions.TOO_OLD:
        return Finding("claude cli", False, f"{executable} is {version}, too old: {span}",
                       INSTALL_PINNED)
    return Finding("claude cli", True, f"{executable} is {version}, untested: {span}",
                   f"{INSTALL_PINNED}, or run tests/cli against this CLI "
                   "(CLAUDE_CLI_UNDER_TEST, see README.md)", warning=True)


def check_gateway(settings: Settings, build_gateway: Callable) -> list[Finding]:
    """The sandbox and the credential as the server would use them, then one tiny real turn,
    as /health?deep=1 runs it: does the CLI start confined, does the API answer?"""
    gateway = build_gateway(replace(settings, warm_pool_size=0, live_idle_ms=0), frozenset())
    try:
        sandbox = health.check_sandbox(gateway.confiner)
        credential = health.check_credential(gateway.proxy)
        findings = [
            Finding("sandbox", sandbox["status"] != "fail", sandbox["detail"], SANDBOX_FIX),
            Finding("credential", credential["status"] == "pass", credential["detail"],
                    LOGIN_FIX)]
        if sandbox["status"] == "fail":
            return findings + [Finding("claude turn", False, "not tried",
                                       "fix the sandbox problem above first")]
        return findings + [_turn_finding(gateway.deep.verdict(TURN_SECONDS + 10))]
    finally:
        gateway.close()


def _turn_finding(outcome: dict) -> Finding:
    if outcome["status"] == "pass":
        return Finding("claude turn", True, outcome["detail"])
    if outcome["status"] == "skip":
        return Finding("claude turn", False, outcome["detail"],
                       "run doctor again when the server is less busy")
    return Finding("claude turn", False, outcome["detail"], LOGIN_FIX)
