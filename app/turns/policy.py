"""Client options checked against operator policy, producing a runnable spec.

What the operator has not allowed is refused with a 4xx naming the option,
never silently dropped. Another key's session is refused exactly like an unknown
one, before anything about it (its workspace) can show through.
"""

from dataclasses import dataclass

from app.claude.command import RunSpec, check_model, check_session_id, check_tool_rules
from app.errors import BadRequest, Conflict, Forbidden, NotFound
from app.services import Gateway
from app.settings import PERMISSION_MODES
from app.shared.keys import SHARED_WORKSPACE, Principal
from app.turns import mcp, workspaces
from app.turns.options import TurnOptions

# From narrowest to widest; a client may narrow the operator's mode, never widen it.
_RANK = {"plan": 0, "default": 1, "acceptEdits": 2, "bypassPermissions": 3}
# What plan mode may never do, whatever a client allows: edit files or run commands.
MUTATING_TOOLS = frozenset({"Bash", "Write", "Edit", "MultiEdit", "NotebookEdit"})
EVERY_TOOL = "*"


@dataclass(frozen=True)
class Ceiling:
    """The built-in tools a turn has (None: every one) less those it may never use."""
    tools: frozenset[str] | None
    excluded: frozenset[str] = frozenset()

    def allows(self, tool: str) -> bool:
        return (self.tools is None or tool in self.tools) and tool not in self.excluded

    @property
    def listed(self) -> tuple[str, ...] | None:
        """The CLI's --tools list, when it is not every tool."""
        return None if self.tools is None else tuple(sorted(self.tools - self.excluded))

    @property
    def denied(self) -> tuple[str, ...]:
        """Rules the CLI must deny whatever else allows them (its every-tool case)."""
        return tuple(sorted(self.excluded)) if self.tools is None else ()


@dataclass(frozen=True)
class Plan:
    """A checked turn: the spec to run and the workspace name it runs in."""
    spec: RunSpec
    workspace: str


def plan_turn(gateway: Gateway, options: TurnOptions, caller: Principal) -> Plan:
    """Apply operator policy, then the caller's scopes, to client options; raise a 4xx for
    what is not allowed."""
    settings = gateway.settings

    def name(key: str) -> str:
        """The client's spelling of an option, for errors."""
        return options.names.get(key, key)
    _check_permissions(settings, options, name)
    if options.approvals and not settings.approvals:
        raise Forbidden("Tool approvals are turned off on this server (the operator set "
                        "APPROVALS=off).", param=name("approvals"))
    mcp_tools = mcp.check_tools(list(options.mcp_allowed_tools), gateway.mcp_servers,
                                name("mcp-allowed-tools"))
    session_id = (check_session_id(options.session_id, name("session-id"))
                  if options.session_id else None)
    if session_id and not gateway.sessions.claim(session_id, caller.owner):
        raise NotFound(f"Session {session_id} was not found.", param=name("session-id"),
                       code="session_not_found")
    if session_id and gateway.cluster is not None:
        gateway.cluster.check_home(session_id)  # its turn runs where its transcript is
    workspace = _workspace_for(gateway, session_id, options.workspace, name)
    mode = options.permission_mode or settings.permission_mode
    ceiling = tool_ceiling(caller, settings.client_allowed_tools, turn_mode(settings, options))
    _check_scopes(caller, options, name)
    return Plan(RunSpec(
        cwd=_resolve(gateway, caller, workspace, name("workspace")),
        home=gateway.folders.home(caller.owner),
        workspace_name=workspace,
        resume=session_id,
        system_prompt=options.system_prompt or None,
        replace_system_prompt=settings.system_prompt_mode == "replace",
        allowed_tools=_builtin_rules(options.allowed_tools, ceiling, name("allowed-tools"))
        + tuple(mcp_tools),
        disallowed_tools=check_tool_rules(list(options.disallowed_tools),
                                          name("disallowed-tools")) + ceiling.denied,
        mcp_config=settings.mcp_config_path if mcp_tools else None,
        settings=gateway.cli_settings,
        permission_mode=mode,
        skip_permissions=options.skip_permissions,
        model=check_model(options.model, name("model")) if options.model
        else settings.default_model or None,
        effort=options.effort,
        max_turns=options.max_turns,
        json_schema=options.json_schema,
        fork_at=options.fork_at if session_id else None,
        approvals=bool(options.approvals),
        client_tools=tuple(options.client_tools),
        tools=ceiling.listed,
    ), workspace)


def default_spec(gateway: Gateway, caller: Principal) -> RunSpec | None:
    """The launch of a new conversation of `caller` with no options: what the warm pool keeps
    ready (for the operator's key; a managed key's come from its own launches) and what the
    deep health check runs."""
    try:
        return plan_turn(gateway, TurnOptions(), caller).spec
    except Exception:  # an unusable workspace base: nothing worth warming
        return None


def tool_ceiling(caller: Principal, operator: tuple[str, ...], mode: str) -> Ceiling:
    """The built-in tools a turn has: the operator's CLIENT_ALLOWED_TOOLS, narrowed by the
    key's `tool:` scopes (a key without any keeps the operator's), less what plan mode
    forbids."""
    tools = None if EVERY_TOOL in operator else frozenset(operator)
    granted = frozenset(scope[5:] for scope in caller.scopes if scope.startswith("tool:"))
    if granted and "admin" not in caller.scopes and EVERY_TOOL not in granted:
        tools = granted if tools is None else tools & granted
    return Ceiling(tools, MUTATING_TOOLS if mode == "plan" else frozenset())


def turn_mode(settings, options: TurnOptions) -> str:
    """The permission mode whose limits hold: the operator's plan holds whatever a client
    asks (skipping permissions included)."""
    return "plan" if settings.permission_mode == "plan" else \
        options.permission_mode or settings.permission_mode


def _resolve(gateway: Gateway, caller: Principal, workspace: str, param: str):
    """The workspace's folder: a shared one where the key holds its `workspace:` scope, else
    the key's own of that name."""
    shared = caller.allows(f"workspace:{workspace or SHARED_WORKSPACE}")
    base = gateway.settings.workspace_base if shared else gateway.folders.workspaces(caller.owner)
    return workspaces.resolve(base, workspace, param)


def _check_scopes(caller: Principal, options: TurnOptions, name) -> None:
    """What the operator allows a key of its own: skipping permissions, approvals. Refused
    with a 403 naming the scope it lacks."""
    wanted = []
    if options.skip_permissions or options.permission_mode == "bypassPermissions":
        wanted.append(("skip-permissions", "dangerously-skip-permissions"
                       if options.skip_permissions else "permission-mode"))
    if options.approvals:
        wanted.append(("approvals", "approvals"))
    for scope, option in wanted:
        if not caller.allows(scope):
            raise Forbidden(f"Key {caller.name!r} lacks the scope {scope!r}.",
                            param=name(option), code="scope_missing")


def _builtin_rules(rules, ceiling: Ceiling, param: str) -> tuple[str, ...]:
    """Allowed tool rules, each for a tool within the ceiling; MCP tools go elsewhere."""
    checked = check_tool_rules(list(rules), param)
    for rule in checked:
        if rule.startswith("mcp__"):
            raise BadRequest(f"{rule!r}: MCP tools go in mcp-allowed-tools, where they are "
                             "checked against the operator's MCP servers.", param=param)
        tool = rule.split("(")[0]
        if not ceiling.allows(tool):
            raise Forbidden(f"Clients may not allow the tool {tool!r} here (the operator's "
                            "CLIENT_ALLOWED_TOOLS, the key's tool scopes or plan mode).",
                            param=param, code="tool_not_allowed")
    return checked


def _check_permissions(settings, options: TurnOptions, name) -> None:
    bypass = options.skip_permissions or options.permission_mode == "bypassPermissions"
    if bypass and not settings.allow_skip_permissions:
        param = (name("dangerously-skip-permissions") if options.skip_permissions
                 else name("permission-mode"))
        raise Forbidden("Skipping permission checks is disabled on this server (the operator "
                        "has not set ALLOW_DANGEROUS_SKIP_PERMISSIONS=true).", param=param)
    mode = options.permission_mode
    if mode and mode not in PERMISSION_MODES:
        raise BadRequest(f"Unknown permission mode {mode!r}: use one of "
                         f"{', '.join(PERMISSION_MODES)}.", param=name("permission-mode"))
    if mode and not bypass and _RANK[mode] > _RANK[settings.permission_mode]:
        raise Forbidden(f"Permission mode {mode!r} is wider than this server allows (the "
                        f"operator set CLAUDE_PERMISSION_MODE={settings.permission_mode}).",
                        param=name("permission-mode"))


def _workspace_for(gateway: Gateway, session_id, requested: str | None, name) -> str:
    """A resumed session runs where it started; refuse to move it elsewhere."""
    requested = requested or ""
    if session_id is None:
        return requested
    home = gateway.sessions.workspace_of(session_id)
    if home is None or not requested or home == requested:
        return requested if home is None else home
    where = f"workspace {home!r}" if home else "the default workspace"
    raise Conflict(f"Session {session_id} belongs to {where} and cannot be resumed in "
                   f"workspace {requested!r}: Claude Code keeps sessions per working directory.",
                   param=name("workspace"), code="workspace_mismatch")
