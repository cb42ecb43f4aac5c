"""What a running app holds besides Flask's config: settings and shared state."""

from dataclasses import dataclass

from flask import current_app

from app.claude.process import Limits
from app.conversations import ConversationStore
from app.sessions import SessionStore, StateDB
from app.settings import Settings


@dataclass(frozen=True)
class Gateway:
    """The per-app services that views hand to domain code."""
    settings: Settings
    db: StateDB
    sessions: SessionStore
    conversations: ConversationStore
    mcp_servers: frozenset[str]

    @classmethod
    def build(cls, settings: Settings, mcp_servers: frozenset[str]) -> "Gateway":
        db = StateDB(settings.state_dir)
        return cls(settings, db, SessionStore(db), ConversationStore(db), mcp_servers)

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(total=s.total_timeout_ms / 1000, inactivity=s.inactivity_timeout_ms / 1000,
                      kill_grace=s.kill_timeout_ms / 1000, keepalive=s.keepalive_ms / 1000)


def current() -> Gateway:
    """The gateway of the app handling this request."""
    return current_app.extensions["gateway"]
