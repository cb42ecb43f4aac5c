"""What an API call costs, from the usage the API reports and Anthropic's list prices.

The proxy charges each call as it ends, so a key's dollar budget holds per call, not
per turn. Prices are dollars per million tokens (input, output); cache writes cost
1.25 times input and cache reads 0.1 times, as Anthropic bills them. A model this
table does not know is charged at the dearest known price: a budget must not be
overrun because a name is new.
"""

from dataclasses import dataclass

PER_MILLION = 1_000_000
CACHE_WRITE = 1.25
CACHE_READ = 0.1
# Longest match wins: "claude-opus-4-5-20251101" is opus-4-5, "claude-opus-4-1" is opus-4.
PRICES = {
    "opus-4-5": (5.0, 25.0), "opus-4-6": (5.0, 25.0), "opus-4": (15.0, 75.0),
    "opus": (5.0, 25.0), "3-opus": (15.0, 75.0),
    "sonnet": (3.0, 15.0),
    "haiku-4": (1.0, 5.0), "3-5-haiku": (0.8, 4.0), "haiku": (1.0, 5.0), "3-haiku": (0.25, 1.25),
}
DEAREST = (15.0, 75.0)


@dataclass(frozen=True)
class CallUsage:
    """The tokens one call used, as the API reports them."""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def tokens(self) -> int:
        """Every token, cache reads and writes included, as key budgets count them."""
        return (self.input_tokens + self.output_tokens + self.cache_creation_input_tokens
                + self.cache_read_input_tokens)

    def merged(self, reported: dict) -> "CallUsage":
        """This usage updated with a `usage` object of the stream (later figures win)."""
        fields = {name: reported[name] for name in self.__dataclass_fields__
                  if isinstance(reported.get(name), int) and reported[name] >= 0}
        return CallUsage(**{**self.__dict__, **fields})


def prices_of(model: str | None) -> tuple[float, float]:
    """Dollars per million input and output tokens for a model name."""
    name = (model or "").lower()
    matches = [key for key in PRICES if key in name]
    return PRICES[max(matches, key=len)] if matches else DEAREST


def cost_of(model: str | None, usage: CallUsage) -> float:
    """What the call costs in dollars."""
    price_in, price_out = prices_of(model)
    return (usage.input_tokens * price_in + usage.output_tokens * price_out
            + usage.cache_creation_input_tokens * price_in * CACHE_WRITE
            + usage.cache_read_input_tokens * price_in * CACHE_READ) / PER_MILLION
