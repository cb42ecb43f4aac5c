"""What each key has used, by UTC day, and the limits a key's own budget sets.

Tokens and dollars are Claude Code's own figures from each turn's result, so a budget
counts what the API billed. Requests per minute count every request the key makes.
All of it lives in STATE_DIR's SQLite, so every worker counts the same.
"""

import time
from datetime import datetime, timedelta, timezone

from app.chat.ended import TurnEnded
from app.errors import TooManyRequests
from app.keys import Principal
from app.state import StateDB

WINDOW_SECONDS = 60.0


def today(now: float | None = None) -> str:
    return datetime.fromtimestamp(now or time.time(), timezone.utc).strftime("%Y-%m-%d")


def seconds_to_midnight(now: float | None = None) -> int:
    """How long until the UTC day rolls over and daily budgets start again."""
    moment = datetime.fromtimestamp(now or time.time(), timezone.utc)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((midnight - moment).total_seconds()) + 1


class UsageLedger:
    """Per-key usage, shared by every worker; `record` takes each finished turn."""

    def __init__(self, db: StateDB):
        self.db = db

    def record(self, ended: TurnEnded) -> None:
        with self.db.connect() as db:
            db.execute("INSERT INTO usage (key, day, turns, input_tokens, output_tokens, "
                       "cost_usd) VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT(key, day) DO UPDATE "
                       "SET turns = turns + 1, input_tokens = input_tokens + "
                       "excluded.input_tokens, output_tokens = output_tokens + "
                       "excluded.output_tokens, cost_usd = cost_usd + excluded.cost_usd",
                       (ended.key, today(), ended.input_tokens, ended.output_tokens,
                        ended.cost_usd))

    def used(self, key: str, since_day: str, until_day: str | None = None) -> dict:
        """Turns, tokens and dollars from `since_day` to `until_day` (both included)."""
        with self.db.connect() as db:
            row = db.execute("SELECT COALESCE(SUM(turns), 0), COALESCE(SUM(input_tokens), 0), "
                             "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost_usd), 0) FROM "
                             "usage WHERE key = ? AND day >= ? AND day <= ?",
                             (key, since_day, until_day or since_day)).fetchone()
        return {"turns": row[0], "input_tokens": row[1], "output_tokens": row[2],
                "total_tokens": row[1] + row[2], "cost_usd": round(row[3], 6)}

    def report(self, caller: Principal) -> dict:
        """The caller's usage today and this month, beside its limits."""
        day = today()
        return {"object": "usage", "key": caller.name, "day": day,
                "today": self.used(caller.name, day),
                "month": self.used(caller.name, day[:8] + "01", day),
                "limits": {"rpm": caller.rpm, "daily_tokens": caller.daily_tokens,
                           "daily_usd": caller.daily_usd}}

    def check_budget(self, caller: Principal) -> None:
        """429 once the day's tokens or dollars are spent, until the day rolls over."""
        if caller.daily_tokens is None and caller.daily_usd is None:
            return
        spent = self.used(caller.name, today())
        if caller.daily_tokens is not None and spent["total_tokens"] >= caller.daily_tokens:
            what = f"its {caller.daily_tokens} tokens"
        elif caller.daily_usd is not None and spent["cost_usd"] >= caller.daily_usd:
            what = f"its ${caller.daily_usd:g}"
        else:
            return
        raise TooManyRequests(f"Key {caller.name!r} has spent {what} for today (UTC); it can "
                              "run again after midnight UTC.", code="daily_budget_exceeded",
                              retry_after=seconds_to_midnight())

    def remaining_usd(self, caller: Principal) -> float | None:
        """What the key may still spend today (None: no dollar budget)."""
        if caller.daily_usd is None:
            return None
        return max(0.0, caller.daily_usd - self.used(caller.name, today())["cost_usd"])

    def count_request(self, caller: Principal, now: float | None = None) -> None:
        """Count a request against the key's requests per minute; 429 beyond them."""
        if caller.rpm is None:
            return
        now = now or time.time()
        with self.db.connect() as db:
            db.execute("DELETE FROM key_requests WHERE at < ?", (now - WINDOW_SECONDS,))
            recent = db.execute("SELECT at FROM key_requests WHERE key = ? ORDER BY at",
                                (caller.name,)).fetchall()
            if len(recent) >= caller.rpm:
                wait = recent[len(recent) - caller.rpm][0] + WINDOW_SECONDS - now
                raise TooManyRequests(f"Key {caller.name!r} may make {caller.rpm} requests a "
                                      "minute.", code="rate_limit_exceeded",
                                      retry_after=int(wait) + 1)
            db.execute("INSERT INTO key_requests (key, at) VALUES (?, ?)", (caller.name, now))
