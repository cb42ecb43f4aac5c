"""API keys: who a request is, what it may do and how much it may spend.

Keys made with `flask keys create` live in the state database, stored as their SHA-256 (a
key is 32 random bytes, so a plain hash cannot be reversed), each with a name, scopes and
limits. The operator's API_KEY / API_KEYS keep working as keys with every scope and no
limits. A managed key's sessions, usage and folders belong to its id, made with the key:
`keys rotate` keeps them, while a key made again under a revoked name starts afresh.
"""

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.shared.state import StateDB

SCOPES = ("chat", "workspace:<name>", "workspace:*", "tool:<name>", "tool:*",
          "skip-permissions", "approvals", "sessions", "metrics", "admin")
DEFAULT_SCOPES = ("chat", "tool:*", "approvals", "sessions")
SHARED_WORKSPACE = "shared"  # the shared workspace's name in a `workspace:` scope
KEY_PREFIX = "ccg-"
KEY_BYTES = 32
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def digest(key: str | None) -> str:
    """The hash that stands for a key wherever one is kept or logged: never the key."""
    return hashlib.sha256((key or "").encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


@dataclass(frozen=True)
class Principal:
    """A caller: a name for usage and metrics, the owner its sessions are kept under, what
    it may do, and its limits (None: none)."""
    name: str
    owner: str
    scopes: frozenset[str]
    rpm: int | None = None
    daily_tokens: int | None = None
    daily_usd: float | None = None
    capture: bool = False

    def allows(self, scope: str) -> bool:
        """Whether the key holds the scope (admin holds every one)."""
        if "admin" in self.scopes or scope in self.scopes:
            return True
        kind, _, _ = scope.partition(":")
        return kind in ("workspace", "tool") and f"{kind}:*" in self.scopes


# The gateway's own turns (health checks; warm processes before a key takes them).
GATEWAY = Principal("gateway", "gateway", frozenset({"admin"}))


def operator_key(key: str | None) -> Principal:
    """A key from API_KEY / API_KEYS (or no key on a keyless loopback server): every scope."""
    owner = digest(key)
    return Principal("env:" + owner[:8] if key else "anonymous", owner, frozenset({"admin"}))


def check_scopes(scopes: list[str]) -> tuple[str, ...]:
    """Scopes as given to `keys create`, checked against the known ones."""
    for scope in scopes:
        kind, _, name = scope.partition(":")
        known = scope in SCOPES or (kind in ("workspace", "tool") and _NAME.fullmatch(name))
        if not known or scope in ("workspace:<name>", "tool:<name>"):
            raise ValueError(f"unknown scope {scope!r}: use {', '.join(SCOPES)}")
    return tuple(dict.fromkeys(scopes))


class KeyStore:
    """The managed keys, in the state database, shared by every worker and host."""

    def __init__(self, db: StateDB):
        self.db = db

    def create(self, name: str, scopes=DEFAULT_SCOPES, rpm: int | None = None,
               daily_tokens: int | None = None, daily_usd: float | None = None,
               capture: bool = False) -> str:
        """Make a key and return it: the only time it is ever shown."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid key name {name!r}: use 1 to 64 letters, digits, '.', "
                             "'_' or '-'")
        key = new_key()
        row = {"name": name, "hash": digest(key), "rpm": rpm, "daily_tokens": daily_tokens,
               "scopes": json.dumps(check_scopes(list(scopes))), "daily_usd": daily_usd,
               "capture": int(capture), "created_at": time.time(), "id": secrets.token_hex(16)}
        try:
            with self.db.connect() as db:  # a revoked name may be made again, as a new key
                db.execute(text("DELETE FROM api_keys WHERE name = :name AND revoked_at IS NOT "
                                "NULL"), row)
                db.execute(text("INSERT INTO api_keys (name, hash, scopes, rpm, daily_tokens, "
                                "daily_usd, capture, created_at, id) VALUES (:name, :hash, "
                                ":scopes, :rpm, :daily_tokens, :daily_usd, :capture, "
                                ":created_at, :id)"), row)
        except IntegrityError:
            raise ValueError(f"an active key named {name!r} exists: rotate it, or revoke it "
                             "first") from None
        return key

    def rotate(self, name: str) -> str:
        """Give the named key a new secret (the old one stops working); return it."""
        key = new_key()
        self._change(name, "hash = :value", digest(key))
        return key

    def set_capture(self, name: str, on: bool) -> None:
        """Turn the key's debug capture on or off."""
        self._change(name, "capture = :value", int(on))

    def revoke(self, name: str) -> None:
        self._change(name, "revoked_at = :value", time.time())

    def _change(self, name: str, assignment: str, value) -> None:
        """Set one column of the named active key; ValueError if there is none."""
        with self.db.connect() as db:
            changed = db.execute(text(f"UPDATE api_keys SET {assignment} WHERE name = :name "
                                      "AND revoked_at IS NULL"),
                                 {"name": name, "value": value}).rowcount
        if not changed:
            raise ValueError(f"no active key named {name!r}")

    def any_active(self) -> bool:
        """Whether any managed key works (then every request needs a key). Once one has been
        seen, the database is sealed: should it go, requests fail rather than go keyless."""
        with self.db.connect() as db:
            found = db.execute(text("SELECT 1 FROM api_keys LIMIT 1")).first() is not None
        self.db.sealed |= found
        return found

    def rows(self) -> list[dict]:
        """Every key, revoked ones too, without its hash."""
        with self.db.connect() as db:
            found = db.execute(text("SELECT name, scopes, rpm, daily_tokens, daily_usd, capture, "
                                    "created_at, revoked_at FROM api_keys ORDER BY name")).all()
        return [{"name": r.name, "scopes": json.loads(r.scopes), "rpm": r.rpm,
                 "daily_tokens": r.daily_tokens, "daily_usd": r.daily_usd,
                 "capture": bool(r.capture), "created_at": r.created_at,
                 "revoked_at": r.revoked_at} for r in found]

    def find(self, key: str) -> Principal | None:
        """The active managed key a client presented, or None."""
        with self.db.connect() as db:
            row = db.execute(text("SELECT name, scopes, rpm, daily_tokens, daily_usd, capture, id "
                                  "FROM api_keys WHERE hash = :hash AND revoked_at IS NULL"),
                             {"hash": digest(key)}).first()
        if row is None:
            return None
        return Principal(row.name, row.id, frozenset(json.loads(row.scopes)), row.rpm,
                         row.daily_tokens, row.daily_usd, bool(row.capture))
