"""API keys: `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in constant time."""

import hashlib
import hmac

from werkzeug.datastructures import Headers

from app.errors import Unauthorized


def presented_key(headers: Headers) -> str | None:
    """The key a client sent, from either header."""
    authorization = headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


def check(headers: Headers, keys: tuple[str, ...]) -> str | None:
    """Return the accepted key (None when no keys are configured), else raise 401."""
    if not keys:
        return None
    given = presented_key(headers)
    if given is None:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>' or "
                           "'x-api-key: <key>'.")
    matched = [hmac.compare_digest(given.encode(), key.encode()) for key in keys]
    if not any(matched):
        raise Unauthorized("Invalid API key.")
    return given


def owner_of(key: str | None) -> str:
    """The hash that stands for a client key in state (sessions, fingerprints): never the key."""
    return hashlib.sha256((key or "").encode()).hexdigest()


def mask(key: str | None) -> str:
    """A key as logs show it: the first 8 hex digits of its hash, whatever its length."""
    return "-" if not key else "sha256:" + owner_of(key)[:8]
