"""Every setting in one table: its environment name, default, parser and check.

Nothing here reads the environment at import time; `load_settings` is called by
`create_app` (and by gunicorn.conf.py) with the mapping to read from.
"""

import base64
import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions")
TOOL_DISPLAYS = ("hidden", "narrated", "reasoning")
PUBLIC_HOST = "0.0.0.0"
# scheme://host[:port], as a browser sends it in Origin: no path, no trailing slash
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?", re.I)


# Names that hold secrets, which SANDBOX_ENV may not pass to turns (app/sandbox/environment.py).
CREDENTIAL_NAME = re.compile(r".*(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL|AUTH|COOKIE|PRIVATE).*"
                             r"|AWS_.*|GOOGLE_.*|AZURE_.*|DATABASE_URL|REDIS_URL|.*_DSN")


class SettingsError(ValueError):
    """A setting has a value the server cannot run with."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be a whole number, 0 or more")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError("must be a port number from 1 to 65535")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        for option in allowed:
            if text.strip().lower() == option.lower():
                return option
        raise ValueError(f"must be one of {', '.join(allowed)}")
    return parse


def _keys(text: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in text.split(",") if key.strip())


def _origins(text: str) -> tuple[str, ...]:
    origins = _keys(text)
    if "*" in origins and len(origins) > 1:
        raise ValueError("'*' (any origin) must stand alone")
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise ValueError(f"{origin!r} is not an origin: give scheme://host[:port] with no "
                             "path or trailing slash, e.g. https://chat.example.com")
    return origins


def _directory(text: str) -> Path:
    return Path(text).expanduser().resolve()


def _existing_file(text: str) -> Path | None:
    if not text.strip():
        return None
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"names {path}, which is not a file")
    return path


def _paths(text: str) -> tuple[Path, ...]:
    paths = tuple(Path(part).expanduser().resolve() for part in text.split(":") if part.strip())
    for path in paths:
        if not path.is_dir():
            raise ValueError(f"names {path}, which is not a folder")
    return paths


def _env_names(text: str) -> tuple[str, ...]:
    names = _keys(text)
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{name!r} is not an environment variable name")
    return names


def _tool_names(text: str) -> tuple[str, ...]:
    names = _keys(text)
    for name in names:
        if name != "*" and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", name):
            raise ValueError(f"{name!r} is not a tool name (Bash, Read, Write, ...)")
    return names


def _url_of(schemes: tuple[str, ...], example: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        text = text.strip()
        if text and text.split("://", 1)[0] not in schemes:
            raise ValueError(f"must be a URL such as {example}")
        return text
    return parse


def _webhook_secret(text: str) -> str:
    text = text.strip()
    try:
        if text and len(base64.b64decode(text.removeprefix("whsec_"), validate=True)) < 24:
            raise ValueError
    except ValueError:
        raise ValueError("must be whsec_ and 24 or more random bytes in base64 (python3 -c "
                         "\"import base64,os; print('whsec_'+base64.b64encode(os.urandom(32))"
                         ".decode())\")") from None
    return text


_database_url = _url_of(("postgresql", "postgresql+psycopg", "postgres"),
                        "postgresql://gateway:secret@db.internal/gateway")
_redis_url = _url_of(("redis", "rediss", "unix"), "redis://:secret@redis.internal:6379/0")
_node_url = _url_of(("http", "https"), "http://10.0.0.5:3000")


def _aliases(text: str) -> dict[str, str]:
    if not text.strip():
        return {}
    value = json.loads(text)
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError('must be a JSON object of names to models, e.g. {"fast": "haiku"}')
    return value


@dataclass(frozen=True)
class Setting:
    """One environment variable: where it goes and how it is read."""
    env: str
    attr: str
    default: str
    parse: Callable[[str], Any]
    help: str


SETTINGS = (
    Setting("PORT", "port", "3000", _port, "TCP port to listen on"),
    Setting("HOST", "host", "127.0.0.1", str, "address to listen on"),
    Setting("STATE_DIR", "state_dir", ".state", _directory, "where the session database lives"),
    Setting("STATE_RETENTION_DAYS", "state_retention_days", "30", _count,
            "sessions and conversations unused this long are forgotten (0: never)"),
    Setting("API_KEY", "api_key", "", _keys, "one key clients must send"),
    Setting("API_KEYS", "api_keys", "", _keys, "several keys, comma-separated"),
    Setting("WORKSPACE_BASE_PATH", "workspace_base", "workspaces", _directory,
            "folder under which workspaces are created"),
    Setting("MCP_CONFIG_PATH", "mcp_config_path", "", _existing_file,
            "the operator's MCP servers file"),
    Setting("CLAUDE_PATH", "claude_path", "", str, "the claude executable"),
    Setting("CLAUDE_SETTINGS_PATH", "claude_settings_path", "", _existing_file,
            "the operator's Claude Code settings file, given to every turn read-only"),
    Setting("SANDBOX", "sandbox", "bwrap", _choice("bwrap", "off"),
            "confine every claude process with bubblewrap (off: run turns unconfined)"),
    Setting("SANDBOX_NETWORK", "sandbox_network", "isolated", _choice("isolated", "host"),
            "isolated: turns reach only the Anthropic API, through the gateway; host: the "
            "host's network too"),
    Setting("SANDBOX_READ_ONLY_PATHS", "sandbox_read_only", "", _paths,
            "extra host folders turns may read, colon-separated (tool chains, shared data)"),
    Setting("SANDBOX_ENV", "sandbox_env", "", _env_names,
            "extra environment variables passed to turns, comma-separated (never credentials)"),
    Setting("CLIENT_ALLOWED_TOOLS", "client_allowed_tools", "*", _tool_names,
            "the built-in tools clients may allow, comma-separated (*: all)"),
    Setting("CLAUDE_TOTAL_TIMEOUT_MS", "total_timeout_ms", "3600000", _positive_int,
            "longest a run may take"),
    Setting("CLAUDE_INACTIVITY_TIMEOUT_MS", "inactivity_timeout_ms", "300000", _positive_int,
            "longest the CLI may stay silent"),
    Setting("PROCESS_KILL_TIMEOUT_MS", "kill_timeout_ms", "5000", _positive_int,
            "grace between SIGTERM and SIGKILL"),
    Setting("KEEPALIVE_INTERVAL_MS", "keepalive_ms", "15000", _positive_int,
            "how often a silent stream gets a keep-alive comment"),
    Setting("SESSION_WAIT_MS", "session_wait_ms", "10000", _positive_int,
            "how long a request waits for its session to be free before 409"),
    Setting("MAX_CLAUDE_PROCESSES", "max_processes", "8", _positive_int,
            "most claude processes on this host at once, across workers"),
    Setting("QUEUE_TIMEOUT_MS", "queue_timeout_ms", "30000", _count,
            "how long a request waits for a process before 429"),
    Setting("QUEUE_MAX", "queue_max", "64", _count, "most requests waiting for a process"),
    Setting("WARM_POOL_SIZE", "warm_pool_size", "1", _count,
            "processes started in advance per worker for new conversations (0: off)"),
    Setting("LIVE_IDLE_MS", "live_idle_ms", "300000", _count,
            "how long a finished turn's process stays loaded for the next turn (0: off)"),
    Setting("STARTUP_CHECK", "startup_check", "true", _bool,
            "whether each worker runs one tiny real turn at start and logs if Claude works"),
    Setting("APPROVALS", "approvals", "on", _bool,
            "whether clients may have a person approve tools that rules do not allow"),
    Setting("APPROVAL_TIMEOUT_MS", "approval_timeout_ms", "300000", _positive_int,
            "how long a permission question waits for an answer before it is denied"),
    Setting("TOOL_RESULT_TIMEOUT_MS", "tool_result_timeout_ms", "300000", _positive_int,
            "how long a turn waits for the results of the client's functions"),
    Setting("CORS_ORIGINS", "cors_origins", "", _origins,
            "browser origins allowed to call the API, comma-separated (* any; empty: no CORS)"),
    Setting("RUN_LOG_MINUTES", "run_log_minutes", "60", _positive_int,
            "how long a run's events are kept after it ends, for clients that reconnect"),
    Setting("WEBHOOK_ALLOWED_HOSTS", "webhook_allowed_hosts", "", _keys,
            "hosts (host or host:port) that runs may name as their webhook, comma-separated"),
    Setting("WEBHOOK_SECRET", "webhook_secret", "", _webhook_secret,
            "the Standard Webhooks secret (whsec_...) webhook events are signed with"),
    Setting("MAX_BODY_BYTES", "max_body_bytes", "26214400", _positive_int,
            "largest request body accepted"),
    Setting("DATABASE_URL", "database_url", "", _database_url,
            "PostgreSQL for what hosts share (keys, sessions, usage); empty: SQLite in STATE_DIR"),
    Setting("REDIS_URL", "redis_url", "", _redis_url,
            "Redis for session locks, signals between hosts and the host registry"),
    Setting("NODE_URL", "node_url", "", _node_url,
            "this host's own URL, where other hosts forward requests for its sessions"),
    Setting("CLUSTER_SECRET", "cluster_secret", "", str,
            "the secret hosts of one cluster prove themselves to each other with"),
    Setting("SHARED_VOLUMES", "shared_volumes", "false", _bool,
            "whether every host sees the same workspaces and STATE_DIR/keys (a shared volume)"),
    Setting("LOG_LEVEL", "log_level", "INFO", _choice(*LOG_LEVELS), "loguru level"),
    Setting("LOG_FORMAT", "log_format", "text", _choice("text", "json"), "log line format"),
    Setting("METRICS_PUBLIC", "metrics_public", "false", _bool,
            "whether GET /metrics answers without a key (else it needs the metrics scope)"),
    Setting("CLAUDE_MODEL", "default_model", "", str, "model used when a request names none"),
    Setting("CLAUDE_PERMISSION_MODE", "permission_mode", "default",
            _choice(*PERMISSION_MODES), "the CLI's --permission-mode"),
    Setting("ALLOW_DANGEROUS_SKIP_PERMISSIONS", "allow_skip_permissions", "false", _bool,
            "whether clients may ask for --dangerously-skip-permissions"),
    Setting("SYSTEM_PROMPT_MODE", "system_prompt_mode", "append", _choice("append", "replace"),
            "whether client system prompts extend or replace Claude Code's own"),
    Setting("TOOL_DISPLAY", "tool_display", "hidden", _choice(*TOOL_DISPLAYS),
            "how /v1 answers show tool use and thinking"),
    Setting("OPTIONS_ECHO", "options_echo", "true", _bool,
            "whether /v1 replies start with the effective-options header"),
    Setting("MODEL_ALIASES", "model_aliases", "", _aliases,
            "extra /v1 model names mapped to CLI models (JSON object)"),
)


@dataclass(frozen=True)
class Settings:
    """The validated configuration the app runs with."""
    port: int
    host: str
    state_dir: Path
    state_retention_days: int
    api_key: tuple[str, ...]
    api_keys: tuple[str, ...]
    workspace_base: Path
    mcp_config_path: Path | None
    claude_path: str
    claude_settings_path: Path | None
    sandbox: str
    sandbox_network: str
    sandbox_read_only: tuple[Path, ...]
    sandbox_env: tuple[str, ...]
    client_allowed_tools: tuple[str, ...]
    total_timeout_ms: int
    inactivity_timeout_ms: int
    kill_timeout_ms: int
    keepalive_ms: int
    session_wait_ms: int
    max_processes: int
    queue_timeout_ms: int
    queue_max: int
    warm_pool_size: int
    live_idle_ms: int
    startup_check: bool
    approvals: bool
    approval_timeout_ms: int
    tool_result_timeout_ms: int
    cors_origins: tuple[str, ...]
    run_log_minutes: int
    webhook_allowed_hosts: tuple[str, ...]
    webhook_secret: str
    max_body_bytes: int
    database_url: str
    redis_url: str
    node_url: str
    cluster_secret: str
    shared_volumes: bool
    log_level: str
    log_format: str
    metrics_public: bool
    default_model: str
    permission_mode: str
    allow_skip_permissions: bool
    system_prompt_mode: str
    tool_display: str
    options_echo: bool
    model_aliases: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every accepted client key, from API_KEY and API_KEYS together."""
        return self.api_key + self.api_keys


def load_settings(environ: Mapping[str, Any]) -> Settings:
    """Read and check every setting, naming the first bad one in the error."""
    settings = read_settings(environ)
    platform = on_platform(environ)
    if not settings.keys and not is_loopback(settings.host):
        where = ("the platform (Heroku) set PORT, so the server would listen on 0.0.0.0"
                 if platform else f"HOST={settings.host!r} is not a loopback address")
        raise SettingsError(f"{where}: set API_KEY or API_KEYS before serving on a network")
    credentials = [name for name in settings.sandbox_env if CREDENTIAL_NAME.fullmatch(name)]
    if credentials:
        raise SettingsError(f"SANDBOX_ENV names {', '.join(credentials)}: credentials never "
                            "enter a turn (the gateway's API proxy adds Anthropic's)")
    if (settings.node_url or settings.redis_url) and not (settings.database_url and
                                                          settings.redis_url):
        raise SettingsError("several hosts need both DATABASE_URL (PostgreSQL) and REDIS_URL; "
                            "one host needs neither")
    if settings.node_url and len(settings.cluster_secret) < 16:
        raise SettingsError("NODE_URL needs CLUSTER_SECRET, 16 characters or more, the same on "
                            "every host")
    if settings.webhook_allowed_hosts and not settings.webhook_secret:
        raise SettingsError("WEBHOOK_ALLOWED_HOSTS needs WEBHOOK_SECRET, which signs every "
                            "webhook event")
    if "*" in settings.cors_origins and not settings.keys:
        raise SettingsError("CORS_ORIGINS='*' lets any web page call the server: set API_KEY or "
                            "API_KEYS first")
    return settings


def read_settings(environ: Mapping[str, Any]) -> Settings:
    """Parse every setting (and the platform's host), before the policy checks that follow."""
    values = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        text = setting.default if raw is None else str(raw)
        try:
            values[setting.attr] = setting.parse(text)
        except ValueError as exc:
            raise SettingsError(f"{setting.env}={text!r} is invalid: {exc}") from None
    if on_platform(environ):
        values["host"] = PUBLIC_HOST
    return Settings(**values)


def on_platform(environ: Mapping[str, Any]) -> bool:
    """Heroku-style hosting: the platform sets PORT (and DYNO) and routes to 0.0.0.0:PORT;
    HOST, when given, still wins."""
    return environ.get("HOST") is None and bool(environ.get("PORT")) and bool(environ.get("DYNO"))


def is_loopback(host: str) -> bool:
    """Tell whether an address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
