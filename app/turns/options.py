"""Every option a client may set on a turn, in one table, and the plain values they make.

The table drives the `/api/claude` body schema, the in-prompt `key=value` grammar of
chat surfaces and the echo header; policy then checks the values and builds argv.
"""

from dataclasses import dataclass, field

from app.claude.command import EFFORTS
from app.settings import PERMISSION_MODES, TOOL_DISPLAYS

LIST, FLAG, COUNT, TEXT, CHOICE, SESSION, WORKSPACE = \
    "list", "flag", "count", "text", "choice", "session", "workspace"
MAX_TURNS_LIMIT = 1000


@dataclass(frozen=True)
class TurnOption:
    """One option: its name on every surface, its TurnOptions field and its kind of value."""
    key: str  # kebab-case, as clients spell it
    attr: str  # the TurnOptions field (and snake_case spelling)
    kind: str
    choices: tuple[str, ...] = ()
    native: bool = True  # also a field of the /api/claude body
    turn: bool = True  # a TurnOptions field; False: how a surface renders the answer


# In echo-header order.
TURN_OPTIONS = (
    TurnOption("session-id", "session_id", SESSION),
    TurnOption("allowed-tools", "allowed_tools", LIST),
    TurnOption("disallowed-tools", "disallowed_tools", LIST),
    TurnOption("mcp-allowed-tools", "mcp_allowed_tools", LIST),
    TurnOption("dangerously-skip-permissions", "skip_permissions", FLAG),
    TurnOption("max-turns", "max_turns", COUNT),
    TurnOption("workspace", "workspace", WORKSPACE),
    TurnOption("system-prompt", "system_prompt", TEXT),
    TurnOption("model", "model", TEXT),
    TurnOption("effort", "effort", CHOICE, EFFORTS),
    TurnOption("permission-mode", "permission_mode", CHOICE, PERMISSION_MODES),
    TurnOption("approvals", "approvals", CHOICE, ("chat",), native=False),
    TurnOption("tool-display", "tool_display", CHOICE, TOOL_DISPLAYS, native=False, turn=False),
)
BY_KEY = {option.key: option for option in TURN_OPTIONS}


@dataclass(frozen=True)
class TurnOptions:
    """What a client asked for, from any surface, before policy checks."""
    workspace: str | None = None
    session_id: str | None = None
    system_prompt: str | None = None
    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    mcp_allowed_tools: tuple[str, ...] = ()
    skip_permissions: bool = False
    permission_mode: str | None = None
    model: str | None = None
    effort: str | None = None
    max_turns: int | None = None
    approvals: str | None = None  # "chat": questions end the reply; "stream": in the stream
    client_tools: tuple = ()  # ClientTool: functions the client serves (OpenAI `tools`)
    json_schema: str | None = None  # set by surfaces from their own request field, not a key
    fork_at: str | None = None  # a message of the session: run on a fork of it as it stood
    names: dict = field(default_factory=dict)  # option -> the client's spelling, for errors

    @classmethod
    def from_keys(cls, values: dict, **extra) -> "TurnOptions":
        """Build from values keyed by option key (`max-turns`), as the grammar gives them."""
        return cls.from_attrs({BY_KEY[key].attr: value for key, value in values.items()
                               if key in BY_KEY}, **extra)

    @classmethod
    def from_attrs(cls, values: dict, **extra) -> "TurnOptions":
        """Build from values keyed by field name (`max_turns`), as the body schema gives them."""
        chosen = {option.attr: values[option.attr] for option in TURN_OPTIONS
                  if option.turn and values.get(option.attr) is not None}
        for option in TURN_OPTIONS:
            if option.kind == LIST and option.attr in chosen:
                chosen[option.attr] = tuple(chosen[option.attr])
        return cls(**{**chosen, **extra})
