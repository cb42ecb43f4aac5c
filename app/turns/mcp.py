"""The operator's MCP servers, and the check that requested MCP tools belong to them."""

import json
import re
from pathlib import Path

from app.claude.client_tools import SERVER as CLIENT_SERVER
from app.errors import BadRequest

_MCP_TOOL = re.compile(r"mcp__[A-Za-z0-9_-]+")


def load_servers(path: Path | None) -> frozenset[str]:
    """Read the server names of an MCP config file; ValueError says what is wrong."""
    if path is None:
        return frozenset()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    servers = config.get("mcpServers") if isinstance(config, dict) else None
    if not isinstance(servers, dict) or not all(isinstance(v, dict) for v in servers.values()):
        raise ValueError(f"{path} has no \"mcpServers\" object of server definitions")
    if CLIENT_SERVER in servers:
        raise ValueError(f"{path} names a server {CLIENT_SERVER!r}: that name is the gateway's "
                         "own, for the functions clients send; rename it")
    return frozenset(servers)


def check_tools(tools: list[str], servers: frozenset[str], param: str) -> list[str]:
    """Refuse any tool that is not `mcp__<server>[__<tool>]` of a configured server."""
    for tool in tools:
        if not isinstance(tool, str) or not _MCP_TOOL.fullmatch(tool):
            raise BadRequest(f"{tool!r} is not an MCP tool name (mcp__<server>__<tool>).",
                             param=param)
        if not any(tool == f"mcp__{s}" or tool.startswith(f"mcp__{s}__") for s in servers):
            known = ", ".join(sorted(servers)) or "none are configured"
            raise BadRequest(f"{tool!r} is not a tool of a configured MCP server "
                             f"(servers: {known}).", param=param)
    return tools
