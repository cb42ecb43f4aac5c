"""One chat message as every API surface reduces it: a role, its text and its images."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One message reduced to its text and images (as Claude content blocks)."""
    role: str  # "system", "user" or "assistant"
    text: str
    images: tuple[dict, ...] = ()
