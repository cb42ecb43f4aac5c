"""Health checks: the CLI answers, the workspace base is writable, MCP config is sound."""

import subprocess
import tempfile
import threading
import time
from pathlib import Path

from loguru import logger

from app.claude import versions
from app.claude.deep_check import TURN_SECONDS
from app.claude.locate import find_cli
from app.turns import mcp

CLI_CACHE_SECONDS = 30.0
CLI_TIMEOUT_SECONDS = 10.0
_cache: dict[str, tuple[float, dict]] = {}
_cache_lock = threading.Lock()


def check_cli(configured: str) -> dict:
    """Run `claude --version`, remembering the answer for a short while."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(configured)
        if cached and now - cached[0] < CLI_CACHE_SECONDS:
            return cached[1]
    result = _cli_version(find_cli(configured))
    with _cache_lock:
        _cache[configured] = (now, result)
    return result


def _cli_version(executable: str | None) -> dict:
    if executable is None:
        return {"status": "fail", "detail": "claude executable not found (set CLAUDE_PATH)"}
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"status": "fail", "detail": f"{executable} --version failed: {exc}"}
    if done.returncode != 0:
        return {"status": "fail", "detail": f"{executable} --version exited with "
                                            f"{done.returncode}: {done.stderr.strip()[-300:]}"}
    return {"status": "pass", "version": done.stdout.strip(), **_placed(done.stdout.strip())}


def _placed(version: str) -> dict:
    """Where the version sits in the range package.json supports, for a person reading
    /health (a CLI outside it still runs: `flask doctor` says what to do)."""
    support = versions.support()
    if support is None:
        return {}
    return {"supported": {"minimum": support.minimum, "pinned": support.pinned},
            "range": support.verdict(version)}


def check_workspace_base(base: Path) -> dict:
    """Create and remove a file under the base, as every run will need to."""
    try:
        base.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=base, prefix=".health-"):
            pass
    except OSError as exc:
        return {"status": "fail", "detail": f"{base} is not writable: {exc}"}
    return {"status": "pass"}


def check_mcp_config(path: Path | None) -> dict:
    """Absent is fine; present must parse and name servers."""
    if path is None:
        return {"status": "pass", "detail": "no MCP config (MCP_CONFIG_PATH unset)"}
    try:
        servers = mcp.load_servers(path)
    except ValueError as exc:
        return {"status": "warn", "detail": str(exc)}
    return {"status": "pass", "servers": len(servers)}


def check_sandbox(confiner) -> dict:
    """Whether turns run confined: a sandbox that cannot be built fails (turns are refused)."""
    if not confiner.confined:
        return {"status": "warn", "detail": "turns run unconfined (SANDBOX=off): every key's "
                "tools act as the server's user"}
    problem = confiner.problem()
    if problem is not None:
        return {"status": "fail", "detail": f"turns are refused: {problem}"}
    return {"status": "pass", "detail": f"turns run in bubblewrap, network "
                                        f"{confiner.plan.network}"}


def check_credential(proxy) -> dict:
    """Whether the gateway holds an Anthropic credential to add to its turns' calls."""
    if proxy.credential is None:
        return {"status": "warn", "detail": "no Anthropic credential: set ANTHROPIC_API_KEY or "
                "CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`), or log the server's "
                "user in with `claude`"}
    return {"status": "pass", "detail": f"from {proxy.credential.source}"}


def hosts(cluster) -> list[dict]:
    """The cluster's live hosts as /health lists them (each reports its own processes)."""
    try:
        alive = cluster.registry.alive()
    except Exception as exc:  # Redis down: say so rather than fail the health check
        return [{"error": str(exc)}]
    return [{"id": host.id, "url": host.url, "last_seen": round(host.beat_at, 3),
             "self": host.id == cluster.me.id} for host in alive]


def overall(checks: dict) -> str:
    """unhealthy if any check failed, degraded if any warned, else healthy."""
    states = {check["status"] for check in checks.values()}
    if "fail" in states:
        return "unhealthy"
    return "degraded" if "warn" in states else "healthy"


def check_state(db) -> dict:
    """The state folder and the state database answer (made again if STATE_DIR was removed)."""
    try:
        db.check()
    except Exception as exc:  # any failure here is what the check reports
        return {"status": "warn", "detail": str(exc)}  # it names STATE_DIR or DATABASE_URL
    return {"status": "pass"}


def log_startup_turn(deep) -> None:
    """At start-up, in the background: say in the log whether Claude can work."""
    def check() -> None:
        outcome = deep.verdict(TURN_SECONDS + 10)
        log = logger.info if outcome["status"] in ("pass", "skip") else logger.warning
        log("start-up check of Claude Code: {}", outcome["detail"])
    threading.Thread(target=check, daemon=True, name="startup-check").start()
