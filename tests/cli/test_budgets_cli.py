"""Budgets under concurrency, with the real CLI: twelve turns at once against a daily cap of two
and a half turns' cost spend at most the cap plus one API call, in dollars and in tokens; a
key's requests per minute are exact however many arrive at once, on two workers."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from app.shared.keys import KeyStore
from app.shared.state import StateDB
from tests.support.anthropic_standin import Text
from tests.support.live_cli import start_server

TURNS_AT_ONCE = 12
ANSWER = "A reply of a few words"


@pytest.fixture(scope="module")
def server(standin, tmp_path_factory):
    server = start_server(standin, tmp_path_factory.mktemp("budgets"), WEB_CONCURRENCY="2",
                          MAX_CLAUDE_PROCESSES=str(TURNS_AT_ONCE), WARM_POOL_SIZE="0")
    yield server
    server.stop()


@pytest.fixture
def slow_calls(standin):
    """Calls that take a while, so that the turns' calls overlap."""
    standin.delta_delay = 0.05
    standin.default_reply = Text(ANSWER)
    yield
    standin.delta_delay = 0.0


def make_key(server, name: str, **limits) -> str:
    return KeyStore(StateDB(Path(server.env["STATE_DIR"]))).create(name, ["chat"], **limits)


def turn(server, key: str) -> int:
    response = requests.post(server.url + "/api/claude", timeout=300,
                             headers={"Authorization": f"Bearer {key}"},
                             json={"prompt": "Say something", "stream": False})
    return response.status_code


def used(server, key: str) -> dict:
    return requests.get(server.url + "/api/usage", timeout=30,
                        headers={"Authorization": f"Bearer {key}"}).json()["today"]


def one_turn_costs(server) -> dict:
    """What one turn (one API call) uses, measured with a key that has no limits."""
    key = make_key(server, f"measure-{len(list(Path(server.env['STATE_DIR']).iterdir()))}")
    assert turn(server, key) == 200
    return used(server, key)


def at_once(server, key: str) -> list[int]:
    with ThreadPoolExecutor(TURNS_AT_ONCE) as pool:
        return list(pool.map(lambda _: turn(server, key), range(TURNS_AT_ONCE)))


@pytest.mark.usefixtures("slow_calls")
@pytest.mark.parametrize("limit", ["daily_usd", "daily_tokens"])
def test_twelve_turns_at_once_spend_at_most_the_cap_and_one_call(server, standin, limit):
    one = one_turn_costs(server)
    figure = "cost_usd" if limit == "daily_usd" else "total_tokens"
    call = one[figure]
    cap = call * 2.5 if limit == "daily_usd" else int(call * 2.5)
    key = make_key(server, f"capped-{limit}", **{limit: cap})
    codes = at_once(server, key)
    spent = used(server, key)
    assert spent[figure] <= cap + call, (spent, cap, codes)
    assert sorted(set(codes)) == [200, 429] and codes.count(200) >= 2, codes
    assert turn(server, key) == 429  # and the day is over for it


def test_requests_per_minute_are_exact_when_they_arrive_at_once(server):
    key = make_key(server, "hasty", rpm=7)
    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda _: requests.get(
            server.url + "/v1/models", headers={"Authorization": f"Bearer {key}"},
            timeout=30).status_code, range(20)))
    assert codes.count(200) == 7 and codes.count(429) == 13
