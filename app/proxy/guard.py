"""What the proxy asks of whoever keeps the keys' budgets, before and after each call."""

from dataclasses import dataclass
from typing import Protocol

from app.proxy.prices import CallUsage


class BudgetSpent(Exception):
    """The key's day is spent: the call is refused, with why."""

    def __init__(self, message: str, code: str = "daily_budget_exceeded"):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Hold:
    """A call's likely cost, held against its key's budget until the call settles."""
    id: str | None  # None: the key has no daily budget, so nothing is held
    key: str


class SpendGuard(Protocol):
    def reserve(self, holder, model: str | None, body_bytes: int) -> Hold | None:
        """Hold the call's likely cost; None while other calls of the key hold the rest
        (ask again when they settle); BudgetSpent once the day's budget is spent."""

    def settle(self, hold: Hold | None, holder, model: str | None, usage: CallUsage) -> None:
        """Charge what the call used and let its hold go."""
