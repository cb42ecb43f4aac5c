"""What one finished turn amounts to, for whoever keeps count (the usage ledger, metrics):
whose it was, how it ended, and what it used and cost by Claude Code's own figures."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TurnEnded:
    """A turn that ran in a process and is over."""
    key: str  # the caller's key name, never the key
    owner: str  # the caller's identity, under which the ledger counts
    outcome: str  # the result's subtype (success, error_max_turns, ...), timeout, disconnected
    usage: dict = field(default_factory=dict)  # the CLI's result usage for the turn
    cost_usd: float = 0.0  # what this turn added (a live process reports running totals)
    live: bool = False  # it ran in a process that was already running
    seconds: float = 0.0

    @property
    def input_tokens(self) -> int:
        """Input tokens, cache reads and writes included, as /v1 usage counts them."""
        return sum(self.usage.get(k) or 0 for k in
                   ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))

    @property
    def output_tokens(self) -> int:
        return self.usage.get("output_tokens") or 0


def outcome_of(result: dict | None, timed_out: str | None, disconnected: bool) -> str:
    """How the run ended, in one word for counting."""
    if disconnected:
        return "disconnected"
    if timed_out:
        return "timeout"
    if result is None:
        return "no_result"
    if str(result.get("terminal_reason") or "").startswith("aborted"):
        return "interrupted"
    return str(result.get("subtype") or ("error" if result.get("is_error") else "success"))
