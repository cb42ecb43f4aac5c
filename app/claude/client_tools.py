"""A client's own functions, served to Claude as an MCP server that lives in the gateway.

The CLI is told of an SDK-type server (`--mcp-config`) and speaks MCP JSON-RPC to it
over the control channel (`mcp_message`). Listing tools is answered at once; a call
is held until the client sends the function's result in its next request, since
the CLI waits for it without a time limit of its own. The CLI calls one tool at a
time, so results that come before their call are kept until it asks.
"""

import json
import re
import threading
from dataclasses import dataclass
from typing import Callable

from app.claude.errors import InvalidValue

SERVER = "client"  # the MCP server name: Claude sees mcp__client__<name>, the client never does
PREFIX = f"mcp__{SERVER}__"
# alwaysLoad: CLIs that defer MCP tools behind ToolSearch (2.1.332) would otherwise list only
# the tool's name, and a model calling it by name gets "No such tool available".
MCP_CONFIG = json.dumps({"mcpServers": {SERVER: {"type": "sdk", "name": SERVER,
                                                 "alwaysLoad": True}}}, separators=(",", ":"))
PROTOCOL_VERSION = "2025-06-18"  # answered when the CLI names none; else its own is echoed
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class ClientTool:
    """One function a client offers: its name as the client spells it, and its schema."""
    name: str
    description: str
    schema: str  # JSON Schema of the arguments, compact JSON

    def listing(self) -> dict:
        return {"name": self.name, "description": self.description,
                "inputSchema": json.loads(self.schema)}


def check_name(name, param: str) -> str:
    """A function name that is safe on argv (as part of an --allowedTools rule)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidValue(f"Invalid function name {name!r}: use 1 to 64 letters, digits, "
                         "underscores or dashes.", param=param)
    return name


def client_name(tool_name: str) -> str | None:
    """The client's name for a tool Claude called, or None for Claude Code's own tools."""
    return tool_name[len(PREFIX):] if tool_name.startswith(PREFIX) else None


@dataclass
class HeldCall:
    """A tools/call the CLI waits on: answer it with its JSON-RPC id on its request id."""
    request_id: str
    rpc_id: object
    name: str


class ClientToolServer:
    """The MCP server of one process; `reply` answers the CLI's control requests."""

    def __init__(self, tools: tuple[ClientTool, ...]):
        self.tools = tools
        # The process's reply(request id, body), bound once it runs.
        self.reply: Callable[[str, dict], None] | None = None
        self._held: dict[str, HeldCall] = {}  # tool_use id -> its call, until answered
        self._results: dict[str, dict] = {}  # tool_use id -> a result given before its call
        self._refusal: str | None = None  # once set, every call is answered with this error
        self._lock = threading.Lock()

    def handle(self, request_id: str, body: dict) -> dict | None:
        """The `mcp_message` control handler; a tools/call is held (None: answered later)."""
        message = body.get("message") or {}
        method, rpc_id = message.get("method"), message.get("id")
        if method == "tools/call":
            params = message.get("params") or {}
            tool_use_id = str((params.get("_meta") or {}).get("claudecode/toolUseId") or "")
            call = HeldCall(request_id, rpc_id, str(params.get("name")))
            with self._lock:
                result = self._results.pop(tool_use_id, None)
                if result is None and self._refusal is not None:
                    result = _result(self._refusal, is_error=True)
                if result is None:
                    self._held[tool_use_id] = call
            if result is not None:
                self._send(call, result)
            return None
        if method == "initialize":
            asked = (message.get("params") or {}).get("protocolVersion")
            result = {"protocolVersion": asked or PROTOCOL_VERSION, "capabilities": {"tools": {}},
                      "serverInfo": {"name": "claude-code-gateway", "version": "1"}}
        elif method == "tools/list":
            result = {"tools": [tool.listing() for tool in self.tools]}
        elif rpc_id is None:
            result = {}  # a notification: nothing to say
        else:
            return _rpc(rpc_id, error={"code": -32601, "message": f"no method {method!r}"})
        return _rpc(rpc_id, result=result)

    def held(self) -> list[str]:
        """The tool_use ids of calls waiting for the client."""
        with self._lock:
            return list(self._held)

    def answer(self, tool_use_id: str, text: str, is_error: bool = False) -> None:
        """Give a call its result, now if the CLI waits for it, else when it asks."""
        result = _result(text, is_error)
        with self._lock:
            call = self._held.pop(tool_use_id, None)
            if call is None:
                self._results[tool_use_id] = result
        if call is not None:
            self._send(call, result)

    def fail_all(self, text: str) -> None:
        """Answer every call, held or still to come, with an error (the client gave up, or
        never came back)."""
        with self._lock:
            self._refusal = text
        for tool_use_id in self.held():
            self.answer(tool_use_id, text, is_error=True)

    def _send(self, call: HeldCall, result: dict) -> None:
        assert self.reply is not None, "a call comes only from a running process"
        self.reply(call.request_id, _rpc(call.rpc_id, result=result))


def _result(text: str, is_error: bool = False) -> dict:
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def _rpc(rpc_id, result: dict | None = None, error: dict | None = None) -> dict:
    """A control response body carrying one JSON-RPC answer."""
    answer = {"jsonrpc": "2.0", "id": rpc_id}
    answer.update({"error": error} if error is not None else {"result": result})
    return {"mcp_response": answer}
