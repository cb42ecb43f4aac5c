"""The shared stores on their own, the same table run on SQLite and on a real PostgreSQL:
keys, sessions and their listing, conversations, usage and limits, permission questions;
and the limits' exactness when many threads (each its own connection) count at once."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from app.claude.approvals import Approval
from app.errors import BadRequest, Conflict, NotFound, TooManyRequests
from app.proxy.guard import BudgetSpent
from app.proxy.prices import CallUsage
from app.shared import session_list
from app.shared.approvals import ApprovalBook
from app.shared.conversations import ConversationStore, Point
from app.shared.key_folders import KeyFolders
from app.shared.keys import KeyStore, Principal
from app.shared.sessions import SessionStore
from app.shared.usage import UsageLedger, today
from tests.support.postgres import both_databases

pytestmark = both_databases
MODEL = "claude-sonnet-4-5"


def capped(**limits) -> Principal:
    return Principal("capped", "owner-capped", frozenset({"chat"}), **limits)


@pytest.fixture
def sessions(state_db, tmp_path) -> SessionStore:
    return SessionStore(state_db, KeyFolders(tmp_path / "state", tmp_path / "ws"))


# --- keys -----------------------------------------------------------------------------------

def test_keys_are_made_found_rotated_and_revoked(state_db):
    keys = KeyStore(state_db)
    assert keys.any_active() is False and state_db.sealed is False
    key = keys.create("ci", ["chat", "workspace:docs"], rpm=30, daily_tokens=3_000_000_000,
                      daily_usd=2.5, capture=True)
    found = keys.find(key)
    assert (found.name, found.scopes, found.rpm, found.daily_tokens, found.daily_usd,
            found.capture) == ("ci", {"chat", "workspace:docs"}, 30, 3_000_000_000, 2.5, True)
    assert keys.any_active() is True and state_db.sealed is True
    rotated = keys.rotate("ci")
    assert keys.find(key) is None and keys.find(rotated).owner == found.owner
    keys.set_capture("ci", False)
    assert keys.find(rotated).capture is False
    keys.revoke("ci")
    assert keys.find(rotated) is None
    with pytest.raises(ValueError, match="no active key named 'ci'"):
        keys.revoke("ci")
    again = keys.find(keys.create("ci"))
    assert again.owner != found.owner  # a name made again is a new identity
    assert [(row["name"], row["revoked_at"] is None) for row in keys.rows()] == [("ci", True)]


def test_a_second_active_key_of_one_name_is_refused(state_db):
    keys = KeyStore(state_db)
    keys.create("twice")
    with pytest.raises(ValueError, match="an active key named 'twice' exists"):
        keys.create("twice")
    assert len(keys.rows()) == 1


# --- sessions -------------------------------------------------------------------------------

def test_turns_count_and_the_first_workspace_owner_and_title_stay(sessions):
    assert sessions.begin_turn("s1", "docs", "alice", title="First") == 1
    assert sessions.begin_turn("s1", "other", "bob", title="Second") == 2
    assert (sessions.workspace_of("s1"), sessions.owner_of("s1"), sessions.turns_of("s1")) == \
        ("docs", "alice", 2)
    assert sessions.claim("s1", "alice") and not sessions.claim("s1", "bob")
    assert sessions.claim("unknown", "bob") and sessions.workspace_of("unknown") is None
    sessions.add_cost("s1", 0.25)
    sessions.add_cost("s1", 0.5)
    sessions.note_message("s1", "m-1")
    assert sessions.last_message_of("s1") == "m-1"
    info = session_list.find(sessions.db, "s1", "alice")
    assert (info.title, info.turns, info.cost_usd) == ("First", 2, 0.75)
    assert session_list.find(sessions.db, "s1", "bob") is None


def test_a_fork_copies_its_source_and_is_pending_until_it_runs(sessions):
    sessions.begin_turn("source", "", "alice", title="Plan")
    sessions.add_fork("fork", "source", "source", "m-7")
    assert sessions.pending_fork("fork") == ("source", "m-7")
    assert sessions.pending_forks_of("source") == ["fork"]
    assert (sessions.owner_of("fork"), sessions.turns_of("fork")) == ("alice", 1)
    assert sessions.begin_turn("fork", "", "alice", title="ignored", source="source") == 2
    assert session_list.find(sessions.db, "fork", "alice").title == "Plan"
    conversations = ConversationStore(sessions.db)
    conversations.save("fp", Point("fork", {}))
    sessions.forget("fork")
    assert sessions.owner_of("fork") is None and conversations.find("fp") is None


def test_pages_run_newest_first_through_equal_times(sessions, state_db):
    for sid in ("a", "b", "c", "d"):
        sessions.begin_turn(sid, "", "alice")
    sessions.begin_turn("bobs", "", "bob")
    with state_db.connect() as db:  # two sessions used at the same moment: ids break the tie
        db.execute(text("UPDATE sessions SET used_at = CASE session_id WHEN 'a' THEN 1 "
                        "WHEN 'b' THEN 2 ELSE 2 END WHERE owner = 'alice' AND session_id "
                        "IN ('a', 'b', 'c')"))
    first, more = session_list.page(state_db, "alice", 2)
    assert [s.id for s in first] == ["d", "c"] and more
    rest, more = session_list.page(state_db, "alice", 2, after="c")
    assert [s.id for s in rest] == ["b", "a"] and not more
    with pytest.raises(BadRequest):
        session_list.page(state_db, "alice", 2, after="bobs")


# --- conversations --------------------------------------------------------------------------

def test_a_conversation_point_is_saved_and_replaced(state_db):
    conversations = ConversationStore(state_db)
    assert conversations.find("fp") is None
    conversations.save("fp", Point("s1", {"model": "opus"}, 1, "m-1"))
    conversations.save("fp", Point("s2", {"model": "haiku"}, 3, None))
    assert conversations.find("fp") == Point("s2", {"model": "haiku"}, 3, None)


# --- usage and limits -----------------------------------------------------------------------

def test_usage_adds_up_in_plain_numbers(state_db):
    ledger, caller = UsageLedger(state_db), capped()
    ledger.count_turn(caller.owner)
    ledger.count_turn(caller.owner)
    ledger.settle(None, caller, MODEL, CallUsage(input_tokens=3_000_000_000, output_tokens=7))
    ledger.settle(None, caller, MODEL, CallUsage(input_tokens=5, output_tokens=5))
    day = ledger.used(caller.owner, today())
    assert day == {"turns": 2, "input_tokens": 3_000_000_005, "output_tokens": 12,
                   "total_tokens": 3_000_000_017, "cost_usd": pytest.approx(9000.000225)}
    assert all(type(value) in (int, float) for value in day.values())  # never Decimal
    json.dumps(ledger.report(caller))
    with state_db.connect() as db:
        largest = db.execute(text("SELECT largest_call_tokens FROM usage")).scalar_one()
    assert largest == 3_000_000_007


def test_a_hold_counts_against_the_budget_until_it_settles(state_db):
    ledger, caller = UsageLedger(state_db), capped(daily_tokens=1000)
    assert ledger.reserve(capped(), MODEL, 10).id is None  # no budget: nothing held
    hold = ledger.reserve(caller, MODEL, 4000)  # a first call is guessed from its size
    assert hold.id is not None
    assert ledger.reserve(caller, MODEL, 4000) is None  # the rest is held: wait
    ledger.settle(hold, caller, MODEL, CallUsage(input_tokens=600))
    ledger.settle(ledger.reserve(caller, MODEL, 4000), caller, MODEL,
                  CallUsage(input_tokens=600))
    with pytest.raises(BudgetSpent):
        ledger.reserve(caller, MODEL, 4000)
    with pytest.raises(TooManyRequests):
        ledger.check_budget(caller)


def test_requests_per_minute_slide_with_the_window(state_db):
    ledger, caller = UsageLedger(state_db), capped(rpm=2)
    ledger.count_request(caller, now=1000.0)
    ledger.count_request(caller, now=1030.0)
    with pytest.raises(TooManyRequests) as refused:
        ledger.count_request(caller, now=1050.0)
    assert refused.value.retry_after == 11
    ledger.count_request(caller, now=1061.0)  # the first has left the window
    ledger.count_request(Principal("other", "owner-other", frozenset(), rpm=1), now=1061.0)


def test_prune_drops_lapsed_holds_and_old_request_counts(state_db):
    ledger = UsageLedger(state_db)
    ledger.count_request(capped(rpm=5), now=time.time() - 7200)
    with state_db.connect() as db:
        db.execute(text("INSERT INTO spend_holds (id, key, tokens, usd, until) VALUES "
                        "('dead', 'owner-capped', 10, 0.1, :past)"), {"past": time.time() - 1})
    state_db.prune(30)
    with state_db.connect() as db:
        assert db.execute(text("SELECT COUNT(*) FROM spend_holds")).scalar_one() == 0
        assert db.execute(text("SELECT COUNT(*) FROM key_requests")).scalar_one() == 0


# --- permission questions -------------------------------------------------------------------

def test_questions_are_answered_once_by_their_owner(state_db):
    book = ApprovalBook(state_db)
    asked = [Approval.asked({"tool_name": "Bash", "input": {}}, "alice", "s1", 60)
             for _ in range(2)]
    for approval in asked:
        book.add(approval)
    assert [p["request_id"] for p in book.pending("alice")] == [a.id for a in asked]
    with pytest.raises(NotFound):
        book.answer_for(asked[0].id, "bob", {"behavior": "allow"})
    book.answer_for(asked[0].id, "alice", {"behavior": "allow"})
    with pytest.raises(Conflict):
        book.answer_for(asked[0].id, "alice", {"behavior": "deny"})
    assert book.decisions([a.id for a in asked]) == {asked[0].id: {"behavior": "allow"}}
    assert book.decisions([]) == {}


def test_a_question_of_another_host_is_listed_while_that_host_beats(state_db):
    beating = {"host-a", "host-b"}
    on_a, on_b = (ApprovalBook(state_db, host, lambda: set(beating))
                  for host in ("host-a", "host-b"))
    asked = Approval.asked({"tool_name": "Bash", "input": {}}, "alice", "s1", 60)
    on_a.add(asked)
    with state_db.connect() as db:  # a's worker pid means nothing on b, alive here or not
        db.execute(text("UPDATE approvals SET worker = :pid"), {"pid": 2**31 - 1})
    assert [p["request_id"] for p in on_b.pending("alice")] == [asked.id]
    assert on_a.pending("alice") == []  # on its own host the pid is checked: it is gone
    beating.discard("host-a")
    assert on_b.pending("alice") == []


# --- exact under concurrency ----------------------------------------------------------------

THREADS = 20


def all_at_once(work) -> list:
    """Run `work` on THREADS threads released together."""
    start = threading.Barrier(THREADS)

    def run(_):
        start.wait()
        return work()
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def test_requests_per_minute_are_exact_when_all_arrive_at_once(state_db):
    ledger, caller = UsageLedger(state_db), capped(rpm=7)

    def request() -> bool:
        try:
            ledger.count_request(caller)
            return True
        except TooManyRequests:
            return False
    assert all_at_once(request).count(True) == 7


def test_calls_at_once_spend_at_most_the_cap_and_one_call(state_db):
    ledger, caller, call = UsageLedger(state_db), capped(daily_tokens=2000), 300

    def calls() -> int:
        made = 0
        while True:
            try:
                hold = ledger.reserve(caller, MODEL, 400)
            except BudgetSpent:
                return made
            if hold is None:  # others hold the rest: ask again once one settles
                time.sleep(0.001)
                continue
            ledger.settle(hold, caller, MODEL, CallUsage(input_tokens=call))
            made += 1
    made = sum(all_at_once(calls))
    spent = ledger.used(caller.owner, today())["total_tokens"]
    assert spent == made * call and 2000 <= spent <= 2000 + call
