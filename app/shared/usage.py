"""What each key has used, by UTC day, and the limits a key's own budget sets.

Tokens and dollars are charged per API call by the gateway's proxy (app/proxy), from
the usage the API reports and its list prices, so a daily budget holds per call:
each call first holds its likely cost (the key's largest call today, or an estimate
from its size) against what is left, so calls that run at once cannot together
overrun the budget by more than about one call. Turns are counted as they end;
requests per minute as they come. All of it lives in the state database, so every
worker and host counts the same; a key's holds and requests are counted one transaction
at a time (StateDB.transaction), so its limits are exact.
"""

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Sequence

from sqlalchemy import text

from app.errors import TooManyRequests
from app.proxy.guard import BudgetSpent, Hold
from app.proxy.prices import CallUsage, cost_of
from app.shared.keys import Principal
from app.shared.state import StateDB

WINDOW_SECONDS = 60.0
HOLD_SECONDS = 900.0  # a hold left by a worker that died lapses after this long
BYTES_PER_TOKEN = 4  # a first call's size guess: JSON is longer than its tokens
FIRST_CALL_OUTPUT = 1024  # and the output tokens it is assumed to write


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

    def count_turn(self, owner: str) -> None:
        """Count a finished turn (its tokens and dollars were charged call by call)."""
        with self.db.connect() as db:
            db.execute(text("INSERT INTO usage (key, day, turns) VALUES (:key, :day, 1) "
                            "ON CONFLICT (key, day) DO UPDATE SET turns = usage.turns + 1"),
                       {"key": owner, "day": today()})

    def reserve(self, holder: Principal, model: str | None, body_bytes: int) -> Hold | None:
        """Hold a call's likely cost against the key's daily budget (see the module's doc)."""
        if holder.daily_tokens is None and holder.daily_usd is None:
            return Hold(None, holder.owner)
        now = time.time()
        ask = {"key": holder.owner, "day": today(now), "now": now}
        with self.db.transaction(holder.owner) as db:
            spent = db.execute(text("SELECT input_tokens + output_tokens, cost_usd, calls, "
                                    "largest_call_tokens, largest_call_usd FROM usage WHERE "
                                    "key = :key AND day = :day"), ask).first() \
                or (0, 0.0, 0, 0, 0.0)
            tokens, usd, holds = db.execute(text(
                "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(usd), 0), COUNT(*) FROM "
                "spend_holds WHERE key = :key AND until > :now"), ask).one()
            if _over(holder, spent[0] + int(tokens), spent[1] + float(usd)):
                if holds:
                    return None  # other calls hold the rest: wait for them to settle
                raise BudgetSpent(_spent_message(holder))
            tokens, usd = _likely_cost(spent, model, body_bytes)
            hold = Hold(uuid.uuid4().hex, holder.owner)
            db.execute(text("INSERT INTO spend_holds (id, key, tokens, usd, until) VALUES "
                            "(:id, :key, :tokens, :usd, :until)"),
                       {"id": hold.id, "key": hold.key, "tokens": tokens, "usd": usd,
                        "until": now + HOLD_SECONDS})
        return hold

    def settle(self, hold: Hold | None, holder: Principal, model: str | None,
               usage: CallUsage) -> None:
        """Charge what a call used to its key's day, and let its hold go."""
        usd = cost_of(model, usage)
        with self.db.transaction(holder.owner) as db:
            if hold is not None and hold.id is not None:
                db.execute(text("DELETE FROM spend_holds WHERE id = :id"), {"id": hold.id})
            db.execute(_CHARGE, {"key": holder.owner, "day": today(), "usd": usd,
                                 "input": usage.tokens - usage.output_tokens,
                                 "output": usage.output_tokens, "tokens": usage.tokens})

    def used(self, key: str, since_day: str, until_day: str | None = None) -> dict:
        """Turns, tokens and dollars from `since_day` to `until_day` (both included)."""
        with self.db.connect() as db:
            row = db.execute(text(
                "SELECT COALESCE(SUM(turns), 0), COALESCE(SUM(input_tokens), 0), "
                "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost_usd), 0) FROM usage "
                "WHERE key = :key AND day >= :since AND day <= :until"),
                {"key": key, "since": since_day, "until": until_day or since_day}).one()
        turns, tokens_in, tokens_out = (int(figure) for figure in row[:3])  # sums may be Decimal
        return {"turns": turns, "input_tokens": tokens_in, "output_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out, "cost_usd": round(float(row[3]), 6)}

    def report(self, caller: Principal) -> dict:
        """The caller's usage today and this month, beside its limits."""
        day = today()
        return {"object": "usage", "key": caller.name, "day": day,
                "today": self.used(caller.owner, day),
                "month": self.used(caller.owner, day[:8] + "01", day),
                "limits": {"rpm": caller.rpm, "daily_tokens": caller.daily_tokens,
                           "daily_usd": caller.daily_usd}}

    def check_budget(self, caller: Principal) -> None:
        """429 once the day's tokens or dollars are spent, until the day rolls over."""
        if caller.daily_tokens is None and caller.daily_usd is None:
            return
        spent = self.used(caller.owner, today())
        if _over(caller, spent["total_tokens"], spent["cost_usd"]):
            raise spent_error(caller)

    def count_request(self, caller: Principal, now: float | None = None) -> None:
        """Count a request against the key's requests per minute; 429 beyond them."""
        if caller.rpm is None:
            return
        now = now or time.time()
        ask = {"key": caller.owner, "now": now, "since": now - WINDOW_SECONDS}
        with self.db.transaction(caller.owner) as db:  # read and count as one step: exact
            db.execute(text("DELETE FROM key_requests WHERE key = :key AND at < :since"), ask)
            recent = db.execute(text("SELECT at FROM key_requests WHERE key = :key ORDER BY at"),
                                ask).scalars().all()
            if len(recent) >= caller.rpm:
                wait = recent[len(recent) - caller.rpm] + WINDOW_SECONDS - now
                raise TooManyRequests(f"Key {caller.name!r} may make {caller.rpm} requests a "
                                      "minute.", code="rate_limit_exceeded",
                                      retry_after=int(wait) + 1)
            db.execute(text("INSERT INTO key_requests (key, at) VALUES (:key, :now)"), ask)


_CHARGE = text(
    "INSERT INTO usage (key, day, calls, input_tokens, output_tokens, cost_usd, "
    "largest_call_tokens, largest_call_usd) VALUES (:key, :day, 1, :input, :output, :usd, "
    ":tokens, :usd) ON CONFLICT (key, day) DO UPDATE SET calls = usage.calls + 1, "
    "input_tokens = usage.input_tokens + excluded.input_tokens, "
    "output_tokens = usage.output_tokens + excluded.output_tokens, "
    "cost_usd = usage.cost_usd + excluded.cost_usd, "
    "largest_call_tokens = CASE WHEN excluded.largest_call_tokens > usage.largest_call_tokens "
    "THEN excluded.largest_call_tokens ELSE usage.largest_call_tokens END, "
    "largest_call_usd = CASE WHEN excluded.largest_call_usd > usage.largest_call_usd "
    "THEN excluded.largest_call_usd ELSE usage.largest_call_usd END")  # MAX(a, b) is SQLite's


def _over(caller: Principal, tokens: int, usd: float) -> bool:
    """Whether these figures reach one of the key's daily limits."""
    return (caller.daily_tokens is not None and tokens >= caller.daily_tokens
            or caller.daily_usd is not None and usd >= caller.daily_usd)


def _likely_cost(spent: Sequence, model: str | None, body_bytes: int) -> tuple[int, float]:
    """What a call is held at: the key's largest call today, or for its first call of the
    day a guess from the request's size."""
    if spent[2]:
        return spent[3], spent[4]
    guess = CallUsage(input_tokens=body_bytes // BYTES_PER_TOKEN, output_tokens=FIRST_CALL_OUTPUT)
    return guess.tokens, cost_of(model, guess)


def _spent_message(caller: Principal) -> str:
    what = (f"its {caller.daily_tokens} tokens" if caller.daily_tokens is not None else "")
    if caller.daily_usd is not None:
        what += (" or " if what else "") + f"its ${caller.daily_usd:g}"
    return (f"Key {caller.name!r} has spent {what} for today (UTC); it can run again after "
            "midnight UTC.")


def spent_error(caller: Principal) -> TooManyRequests:
    """The 429 a request gets once its key's day is spent."""
    return TooManyRequests(_spent_message(caller), code="daily_budget_exceeded",
                           retry_after=seconds_to_midnight())
