"""The control protocol's values, typed: what a person or client decides about a tool use,
what the CLI is told, and what a turn that waits for its client waits for.

The wire frames themselves are the CLI's (see docs/cli-behaviour.md); these are the shapes
the gateway passes between its parts, so a mistyped key is a type error, not a silent deny.
"""

from typing import Literal, NotRequired, TypedDict


class Allow(TypedDict):
    """Run the tool, with its input as the CLI asked or as the client changed it."""
    behavior: Literal["allow"]
    updated_input: dict | None
    always: bool  # allow the same tool (rule) for the rest of the session


class Deny(TypedDict):
    """Refuse the tool; Claude reads the message. With interrupt, the turn ends too."""
    behavior: Literal["deny"]
    message: str
    interrupt: bool


Decision = Allow | Deny


class Pause(TypedDict, total=False):
    """What a chat turn waits for from its client: an answer to a permission question (the
    `permission_request` event), or the results of the client's function calls (their ids)."""
    approval: dict
    calls: list[str]


class CliPermission(TypedDict):
    """The CLI's answer to `can_use_tool`, as it reads it."""
    behavior: Literal["allow", "deny"]
    updatedInput: NotRequired[dict]
    updatedPermissions: NotRequired[list[dict]]
    message: NotRequired[str]
    interrupt: NotRequired[bool]
