"""Client options checked against operator policy, producing a runnable spec.

What the operator has not allowed is refused with a 4xx naming the option,
never silently dropped.
"""

from dataclasses import dataclass

from app import mcp, workspaces
from app.chat.turn_options import TurnOptions
from app.claude.command import RunSpec, check_model, check_session_id, check_tool_rules
from app.errors import BadRequest, Conflict, Forbidden
from app.gateway import Gateway
from app.keys import SHARED_WORKSPACE, Principal
from app.settings import PERMISSION_MODES


# From narrowest to widest; a client may narrow the operator's mode, never widen it.
_RANK = {"plan": 0, "default": 1, "acceptEdits": 2, "bypassPermissions": 3}


@dataclass(frozen=True)
class Plan:
    """A checked turn: the spec to run and the workspace name it runs in."""
    spec: RunSpec
    workspace: str


def plan_turn(gateway: Gateway, options: TurnOptions, caller: Principal | None = None) -> Plan:
    """Apply operator policy, then the caller's scopes, to client options; raise a 4xx for
    what is not allowed (None: the gateway's own turns, such as warm processes)."""
    settings = gateway.settings
    name = lambda key: options.names.get(key, key)  # noqa: E731
    _check_permissions(settings, options, name)
    if options.approvals and not settings.approvals:
        raise Forbidden("Tool approvals are turned off on this server (the operator set "
                        "APPROVALS=off).", param=name("approvals"))
    mcp_tools = mcp.check_tools(list(options.mcp_allowed_tools), gateway.mcp_servers,
                                name("mcp-allowed-tools"))
    session_id = (check_session_id(options.session_id, name("session-id"))
                  if options.session_id else None)
    workspace = _workspace_for(gateway, session_id, options.workspace, name)
    if caller is not None:
        _check_scopes(caller, options, workspace, name)
    return Plan(RunSpec(
        cwd=workspaces.resolve(settings.workspace_base, workspace, name("workspace")),
        resume=session_id,
        system_prompt=options.system_prompt or None,
        replace_system_prompt=settings.system_prompt_mode == "replace",
        allowed_tools=_builtin_rules(options.allowed_tools, name("allowed-tools"))
        + tuple(mcp_tools),
        disallowed_tools=check_tool_rules(list(options.disallowed_tools),
                                          name("disallowed-tools")),
        mcp_config=settings.mcp_config_path if mcp_tools else None,
        permission_mode=options.permission_mode or settings.permission_mode,
        skip_permissions=options.skip_permissions,
        model=check_model(options.model, name("model")) if options.model
        else settings.default_model or None,
        effort=options.effort,
        max_turns=options.max_turns,
        json_schema=options.json_schema,
        fork_at=options.fork_at if session_id else None,
        approvals=bool(options.approvals),
        client_tools=tuple(options.client_tools),
        max_budget_usd=gateway.usage.remaining_usd(caller) if caller else None,
    ), workspace)


def _check_scopes(caller: Principal, options: TurnOptions, workspace: str, name) -> None:
    """What the operator allows a key of its own: a workspace, skipping permissions,
    approvals. Refused with a 403 naming the scope it lacks."""
    wanted = [(f"workspace:{workspace or SHARED_WORKSPACE}", "workspace")]
    if options.skip_permissions or options.permission_mode == "bypassPermissions":
        wanted.append(("skip-permissions", "dangerously-skip-permissions"
                       if options.skip_permissions else "permission-mode"))
    if options.approvals:
        wanted.append(("approvals", "approvals"))
    for scope, option in wanted:
        if not caller.allows(scope):
            raise Forbidden(f"Key {caller.name!r} lacks the scope {scope!r}.",
                            param=name(option), code="scope_missing")


def _builtin_rules(rules, param: str) -> tuple[str, ...]:
    """Allowed tool rules, with MCP tools kept to mcp-allowed-tools where servers are checked."""
    checked = check_tool_rules(list(rules), param)
    for rule in checked:
        if rule.startswith("mcp__"):
            raise BadRequest(f"{rule!r}: MCP tools go in mcp-allowed-tools, where they are "
                             "checked against the operator's MCP servers.", param=param)
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
    where = f"workspace {home!r}" if home else "the shared workspace"
    raise Conflict(f"Session {session_id} belongs to {where} and cannot be resumed in "
                   f"workspace {requested!r}: Claude Code keeps sessions per working directory.",
                   param=name("workspace"), code="workspace_mismatch")
