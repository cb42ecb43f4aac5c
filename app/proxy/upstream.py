"""The real Anthropic API behind the proxy: where it is, the operator's credential, and a few
kept-alive connections to it.

The credential lives only in the gateway's own process: ANTHROPIC_API_KEY (sent as
x-api-key), else ANTHROPIC_AUTH_TOKEN or CLAUDE_CODE_OAUTH_TOKEN (a bearer token; the
OAuth one, from `claude setup-token`, also needs Anthropic's OAuth beta header), else
the login of the server's own user (`claude /login`, in its config folder).
"""

import http.client
import json
import os
import queue
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://api.anthropic.com"
OAUTH_BETA = "oauth-2025-04-20"
CONNECT_SECONDS = 10.0
READ_SECONDS = 600.0  # a stream may stay silent while the model thinks
POOL_SIZE = 8


@dataclass(frozen=True)
class Credential:
    """How the gateway proves itself to the API."""
    source: str  # the setting it came from, for health and doctor; never the secret
    header: str  # "x-api-key" or "authorization"
    value: str
    oauth: bool = False

    def apply(self, headers: dict[str, str]) -> None:
        """Put the credential (and the OAuth beta, where needed) into outgoing headers."""
        headers[self.header] = self.value
        if self.oauth:
            betas = [b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
            headers["anthropic-beta"] = ",".join(dict.fromkeys([*betas, OAUTH_BETA]))


def find_credential(environ: Mapping[str, str]) -> Credential | None:
    """The operator's credential, in the order the CLI itself would use them."""
    if environ.get("ANTHROPIC_API_KEY"):
        return Credential("ANTHROPIC_API_KEY", "x-api-key", environ["ANTHROPIC_API_KEY"])
    if environ.get("ANTHROPIC_AUTH_TOKEN"):
        return Credential("ANTHROPIC_AUTH_TOKEN", "authorization",
                          "Bearer " + environ["ANTHROPIC_AUTH_TOKEN"])
    if environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
        return Credential("CLAUDE_CODE_OAUTH_TOKEN", "authorization",
                          "Bearer " + environ["CLAUDE_CODE_OAUTH_TOKEN"], oauth=True)
    return _login(environ)


def _login(environ: Mapping[str, str]) -> Credential | None:
    """The OAuth token of an interactive `claude` login of the server's user, if any."""
    folder = environ.get("CLAUDE_CONFIG_DIR") or os.path.join(environ.get("HOME", "~"), ".claude")
    try:
        saved = json.loads((Path(folder).expanduser() / ".credentials.json").read_text())
        token = saved["claudeAiOauth"]["accessToken"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(token, str) or not token:
        return None
    return Credential("the CLI login of the server's user", "authorization", "Bearer " + token,
                      oauth=True)


class Upstream:
    """Connections to the API's host, reused across calls (TLS set-up is costly)."""

    def __init__(self, base_url: str | None):
        parts = urlsplit((base_url or DEFAULT_BASE_URL).rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"ANTHROPIC_BASE_URL={base_url!r} is not an http(s) URL")
        self.base_url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path
        self._idle: queue.LifoQueue = queue.LifoQueue(maxsize=POOL_SIZE)
        self._context = ssl.create_default_context() if self._tls else None

    def path(self, request_path: str) -> str:
        """The upstream path for a path the CLI asked for (a base URL may have a prefix)."""
        return self._prefix + request_path

    def connection(self) -> http.client.HTTPConnection:
        """A kept connection, or a new one."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        if self._tls:
            return http.client.HTTPSConnection(self._host, self._port, timeout=CONNECT_SECONDS,
                                               context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=CONNECT_SECONDS)

    def give_back(self, connection: http.client.HTTPConnection) -> None:
        """Keep a connection whose response was read to the end."""
        try:
            self._idle.put_nowait(connection)
        except queue.Full:
            connection.close()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
