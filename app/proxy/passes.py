"""Turn tokens: what a CLI process shows the proxy instead of a credential.

Every process is started with a token of its own as its ANTHROPIC_API_KEY. It is
worth nothing outside this worker's proxy, and even there it lets calls through
only while a turn holds the process: the turn binds its caller to the pass, and
the proxy charges that caller's budget. Between turns (a warm or idle process)
the pass is unbound and calls are refused.
"""

import hashlib
import secrets
import threading
from dataclasses import dataclass

TOKEN_PREFIX = "ccg-turn-"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Pass:
    """One process's token and, while a turn runs on it, whose budget its calls spend."""
    token: str
    holder: object = None  # the Principal of the running turn, or None between turns
    refused: str | None = None  # the code of the last refusal (budget), for the turn's answer
    warming: bool = False  # its process's warm-up runs: its token counts stay here, turn or not

    def bind(self, holder) -> None:
        self.holder, self.refused = holder, None

    def unbind(self) -> None:
        self.holder = None


class PassBook:
    """The passes of this worker's processes, found by their token's hash."""

    def __init__(self) -> None:
        self._passes: dict[str, Pass] = {}
        self._lock = threading.Lock()

    def issue(self) -> Pass:
        issued = Pass(TOKEN_PREFIX + secrets.token_urlsafe(32))
        with self._lock:
            self._passes[_digest(issued.token)] = issued
        return issued

    def find(self, token: str | None) -> Pass | None:
        if not token:
            return None
        with self._lock:
            return self._passes.get(_digest(token))

    def revoke(self, issued: Pass) -> None:
        """The process has ended: its token stops working."""
        with self._lock:
            self._passes.pop(_digest(issued.token), None)
