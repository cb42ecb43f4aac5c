"""Who a request is: `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in
constant time with the operator's keys, else looked up (by hash) among the managed ones."""

import hmac

from flask import g
from werkzeug.datastructures import Headers

from app.errors import Unauthorized
from app.shared.keys import Principal, operator_key
from app.shared.seam import KeyStore


def presented_key(headers: Headers) -> str | None:
    """The key a client sent, from either header."""
    authorization = headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


def authenticate(headers: Headers, keys: tuple[str, ...], store: KeyStore) -> Principal:
    """The caller, or 401; with no key configured anywhere (loopback only) anyone is admin."""
    given = presented_key(headers)
    if given is None:
        if keys or store.any_active():
            raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>' or "
                               "'x-api-key: <key>'.")
        return operator_key(None)
    matched = [hmac.compare_digest(given.encode(), key.encode()) for key in keys]
    if any(matched):
        return operator_key(given)
    found = store.find(given)
    if found is None:
        if not keys and not store.any_active():
            return operator_key(None)  # a keyless server ignores a stray header
        raise Unauthorized("Invalid API key.")
    return found


def principal() -> Principal:
    """This request's caller (set by the app's key check)."""
    return g.get("principal") or operator_key(None)
