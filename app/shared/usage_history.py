"""Usage over time and across keys, for people to look at (the console's charts).

The ledger (app/shared/usage.py) answers "may this key spend?"; this answers "what was
spent, day by day, and by whom", from the same table. A key's own history is any key's
to see; every key's day is the operator's alone, so the route decides who gets it.
"""

from datetime import date, timedelta

from sqlalchemy import text

from app.shared.state import StateDB

HISTORY_DAYS = 14  # two weeks show a trend and still fit a phone's width


def daily(db: StateDB, owner: str, until_day: str, days: int = HISTORY_DAYS) -> list[dict]:
    """The owner's turns, tokens and dollars for each of `days` days up to `until_day`,
    oldest first, days without use as zeros (a chart needs every day)."""
    last = date.fromisoformat(until_day)
    wanted = [(last - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
    with db.connect() as conn:
        rows = conn.execute(text("SELECT day, turns, input_tokens + output_tokens, cost_usd "
                                 "FROM usage WHERE key = :key AND day >= :since AND "
                                 "day <= :until"),
                            {"key": owner, "since": wanted[0], "until": until_day}).all()
    found = {row[0]: row[1:] for row in rows}
    return [_figures({"day": day}, *found.get(day, (0, 0, 0.0))) for day in wanted]


def by_key(db: StateDB, day: str) -> list[dict]:
    """Every key that used something on `day`, by name (a key from API_KEY(S) by the start
    of its hash), with its daily limits, busiest first."""
    with db.connect() as conn:
        rows = conn.execute(text(
            "SELECT u.key, k.name, u.turns, u.input_tokens + u.output_tokens, u.cost_usd, "
            "k.daily_tokens, k.daily_usd FROM usage u LEFT JOIN api_keys k ON k.id = u.key "
            "WHERE u.day = :day ORDER BY u.input_tokens + u.output_tokens DESC, u.key"),
            {"day": day}).all()
    return [_figures({"key": name or "env:" + owner[:8]}, turns, tokens, usd,
                     limits={"daily_tokens": daily_tokens, "daily_usd": daily_usd})
            for owner, name, turns, tokens, usd, daily_tokens, daily_usd in rows]


def _figures(head: dict, turns: int, tokens: int, usd: float, **extra) -> dict:
    return {**head, "turns": turns, "total_tokens": tokens, "cost_usd": round(usd, 6),
            **extra}
