"""What one run asks of the CLI, checked, and the argv that asks it.

Every value put on argv is validated here first and passed in `--flag=value`
form, so nothing a client sends can be read as a flag. Prompts never go on argv.
"""

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.claude import client_tools
from app.claude.client_tools import ClientTool
from app.claude.errors import InvalidValue

# --strict-mcp-config: only the operator's MCP servers, never the login's or a project's.
# --setting-sources= (none): no settings file that Claude's tools can write (a workspace's
# .claude/settings.json, the key's own config folder) changes permissions or adds hooks;
# the operator's settings come with --settings, with the gateway's own (FIXED_SETTINGS).
BASE_ARGS = ("-p", "--verbose", "--output-format=stream-json", "--input-format=stream-json",
             "--include-partial-messages", "--strict-mcp-config", "--setting-sources=")
# crossSessionInbound=refuse: 2.1.332 takes user messages from any process of the same OS
# user on /tmp/cc-socks/<pid>.sock, with no token, and runs them; every session here runs
# as that user, so one client's Bash could otherwise prompt another client's session (a
# sandbox's /tmp is its own, so this guards SANDBOX=off).
FIXED_SETTINGS = {"crossSessionInbound": "refuse"}
EFFORTS = ("low", "medium", "high", "xhigh", "max")
_TOOL_RULE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,127}(\([^\x00-\x1f()]{0,512}\))?")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\[\]-]{0,127}")


@dataclass(frozen=True)
class RunSpec:
    """A validated request for one CLI run; paths are resolved by the caller."""
    cwd: Path  # the workspace, on the host
    home: Path | None = None  # the key's own home on the host; its .claude is the config folder
    workspace_name: str = ""  # the client's name of the workspace ("" for the default one)
    resume: str | None = None
    system_prompt: str | None = None
    replace_system_prompt: bool = False
    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    mcp_config: Path | None = None
    settings: str = json.dumps(FIXED_SETTINGS)  # --settings: the operator's, then the fixed ones
    permission_mode: str | None = None
    skip_permissions: bool = False
    model: str | None = None
    effort: str | None = None
    max_turns: int | None = None
    persist_session: bool = True  # False: --no-session-persistence (health checks)
    json_schema: str | None = None  # compact JSON, checked by json.loads before it goes on argv
    fork_at: str | None = None  # resume only up to this message (a UUID), as a new session
    fork_as: str | None = None  # fork the resumed session into this new session id (a UUID)
    approvals: bool = False  # ask the gateway (can_use_tool) where rules do not allow a tool
    client_tools: tuple[ClientTool, ...] = ()  # functions the client serves, via the gateway
    tools: tuple[str, ...] | None = None  # the built-in tools that exist at all (None: every one)


def load_operator_settings(path: Path | None) -> dict:
    """The operator's Claude Code settings file (CLAUDE_SETTINGS_PATH); ValueError says why
    it cannot be used."""
    if path is None:
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} is not a JSON object of Claude Code settings")
    return value


def cli_settings(operator: dict) -> str:
    """The --settings of every turn: the operator's settings with the fixed ones over them,
    as compact JSON (the operator's file, never client text)."""
    return json.dumps({**operator, **FIXED_SETTINGS}, separators=(",", ":"))


def check_tool_rules(rules, param: str) -> tuple[str, ...]:
    """Return the rules if each is a tool name with an optional `(pattern)`."""
    if not isinstance(rules, (list, tuple)):
        raise InvalidValue(f"{param} must be a list of tool rules.", param=param)
    for rule in rules:
        if not isinstance(rule, str) or not _TOOL_RULE.fullmatch(rule):
            raise InvalidValue(f"Invalid tool rule {rule!r} in {param}: expected a tool name "
                             "such as Bash, or a rule such as Bash(git *).", param=param)
    return tuple(rules)


def check_session_id(value: str, param: str = "session-id") -> str:
    """Return the id in canonical form if it is a UUID, as the CLI's ids are."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidValue(f"Invalid session id {value!r}: expected a UUID.", param=param) from None


def check_model(value: str, param: str = "model") -> str:
    """Return a model name that is safe to pass to `--model`."""
    if not isinstance(value, str) or not _MODEL.fullmatch(value):
        raise InvalidValue(f"Invalid model name {value!r}.", param=param)
    return value


def build_argv(executable: str, spec: RunSpec, see: Callable[[Path], str],
               prompt_file: Path | None) -> list[str]:
    """Translate a run spec into the CLI's argv; `prompt_file` holds the system prompt, and
    `see` says where the CLI finds a file of the host (inside its sandbox)."""
    argv = [executable, *BASE_ARGS, f"--settings={spec.settings}"]
    if spec.resume:
        argv.append(f"--resume={spec.resume}")
        if spec.fork_at:
            argv.append(f"--resume-session-at={uuid.UUID(spec.fork_at)}")
        if spec.fork_at or spec.fork_as:
            argv.append("--fork-session")
        if spec.fork_as:  # the CLI keeps this id for the fork
            argv.append(f"--session-id={uuid.UUID(spec.fork_as)}")
    if prompt_file is not None:
        flag = "system-prompt-file" if spec.replace_system_prompt else "append-system-prompt-file"
        argv.append(f"--{flag}={see(prompt_file)}")
    allowed = [*spec.allowed_tools, *(client_tools.PREFIX + client_tools.check_name(t.name, "tools")
                                      for t in spec.client_tools)]
    if allowed:
        argv.append("--allowedTools=" + ",".join(allowed))
    if spec.disallowed_tools:
        argv.append("--disallowedTools=" + ",".join(spec.disallowed_tools))
    if spec.mcp_config is not None:
        argv.append(f"--mcp-config={see(spec.mcp_config)}")
    if spec.client_tools:
        argv.append(f"--mcp-config={client_tools.MCP_CONFIG}")  # a constant: no client text
    if spec.approvals:
        argv.append("--permission-prompt-tool=stdio")
    if spec.skip_permissions:
        argv.append("--dangerously-skip-permissions")
    elif spec.permission_mode:
        argv.append(f"--permission-mode={spec.permission_mode}")
    if spec.json_schema is not None:
        argv.append("--json-schema=" + json.dumps(json.loads(spec.json_schema),
                                                  separators=(",", ":")))
    if not spec.persist_session:
        argv.append("--no-session-persistence")
    if spec.tools is not None:
        argv.append("--tools=" + ",".join(spec.tools))
    for flag, value in (("--model", spec.model), ("--effort", spec.effort),
                        ("--max-turns", spec.max_turns)):
        if value is not None:
            argv.append(f"{flag}={value}")
    return argv
