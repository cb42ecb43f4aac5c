"""One chat message as every API surface reduces it: a role, its text and its images, and
for function calling the calls an assistant made or the call a tool message answers."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolCall:
    """A function call of the assistant's, as the client saw it."""
    id: str
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True)
class Message:
    """One message reduced to its text and images (as Claude content blocks)."""
    role: str  # "system", "user", "assistant" or "tool"
    text: str
    images: tuple[dict, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant's function calls
    tool_call_id: str | None = None  # the call a tool message gives the result of


def joined_texts(texts: list) -> str | None:
    """Text parts joined by newlines; None when one of them is not text."""
    strings = [text for text in texts if isinstance(text, str)]
    return "\n".join(strings) if len(strings) == len(texts) else None
