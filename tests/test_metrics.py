"""GET /metrics with one process (Flask's test client, the fake CLI): what each request, turn,
refusal, queue wait and approval adds, the host's processes, and who may scrape."""

import threading

import pytest

from app import metrics
from app.claude.approvals import ApprovalDesk, allow, deny
from app.proxy.prices import CallUsage
from app.shared.approvals import ApprovalBook
from app.shared.state import StateDB
from tests.support.control import WRITE_ASK, FakeProcess
from tests.support.prometheus import parse, value
from tests.support.waiting import wait_until

KEY = "metrics-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


def scrape(client, headers=AUTH) -> dict:
    """Every sample of /metrics: (name, labels) -> value."""
    with client.get("/metrics", headers=headers) as response:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.content_type.startswith("text/plain")
        return parse(response.get_data(as_text=True))


class Moved:
    """How much samples moved between two scrapes (metrics live as long as the process)."""

    def __init__(self, client, headers=AUTH):
        self.client, self.headers = client, headers
        self.before = scrape(client, headers)

    def __call__(self, name: str, **labels) -> float:
        after = scrape(self.client, self.headers)
        return round(value(after, name, **labels) - value(self.before, name, **labels), 6)


def managed_key(app, name: str, **limits) -> dict:
    key = app.extensions["gateway"].keys.create(name, **limits)
    return {"Authorization": f"Bearer {key}"}


def chat(client, headers, prompt="hello", stream=False):
    body = {"model": "claude-code", "stream": stream,
            "messages": [{"role": "user", "content": prompt}]}
    with client.post("/v1/chat/completions", json=body, headers=headers) as response:
        return response.status_code, response.get_data(as_text=True)


@pytest.fixture
def keyed(make_app):
    return make_app(API_KEY=KEY)


def test_each_request_counts_by_route_method_and_status_with_its_duration(keyed):
    client = keyed.test_client()
    moved = Moved(client)
    for _ in range(3):
        with client.get("/health") as response:
            assert response.status_code == 200
    with client.get("/no/such/route", headers=AUTH) as response:
        assert response.status_code == 404
    with client.get("/v1/models") as response:
        assert response.status_code == 401
    assert moved("claude_gateway_requests_total", endpoint="/health", method="GET",
                 status="200") == 3
    assert moved("claude_gateway_request_duration_seconds_count", endpoint="/health") == 3
    assert moved("claude_gateway_requests_total", endpoint="(unmatched)", method="GET",
                 status="404") == 1
    assert moved("claude_gateway_requests_total", endpoint="/v1/models", method="GET",
                 status="401") == 1


def test_a_turn_counts_its_outcome_tokens_and_cost_by_key_and_its_first_token(keyed):
    client = keyed.test_client()
    alice = managed_key(keyed, "alice")
    moved = Moved(client)
    status, body = chat(client, alice)
    assert status == 200, body
    with client.post("/api/claude", json={"prompt": "hi"}, headers=alice) as response:
        assert '"type": "result"' in response.get_data(as_text=True)
    assert moved("claude_gateway_turns_total", outcome="success") == 2
    # the fake CLI reports 11 input, 3 cache-read and 7 output tokens, and $0.0123, a turn
    assert moved("claude_gateway_tokens_total", key="alice", direction="input") == 28
    assert moved("claude_gateway_tokens_total", key="alice", direction="output") == 14
    assert moved("claude_gateway_cost_usd_total", key="alice") == 0.0246
    for endpoint in ("/v1/chat/completions", "/api/claude"):
        assert moved("claude_gateway_time_to_first_token_seconds_count",
                     endpoint=endpoint) == 1
    assert moved("claude_gateway_time_to_first_token_seconds_sum",
                 endpoint="/api/claude") > 0


def test_a_timed_out_turn_counts_as_a_timeout(make_app):
    app = make_app(API_KEY=KEY, CLAUDE_TOTAL_TIMEOUT_MS="300")
    client = app.test_client()
    moved = Moved(client)
    with client.post("/api/claude", json={"prompt": "fake:hang"}, headers=AUTH) as response:
        assert '"subtype": "timeout"' in response.get_data(as_text=True)
    assert moved("claude_gateway_turns_total", outcome="timeout") == 1


def test_429s_count_by_reason(keyed):
    client = keyed.test_client()
    hasty = managed_key(keyed, "hasty", rpm=1)
    frugal = managed_key(keyed, "frugal", daily_tokens=1)
    moved = Moved(client)
    codes = []
    for _ in range(2):
        with client.get("/v1/models", headers=hasty) as response:
            codes.append(response.status_code)
    assert chat(client, frugal)[0] == 200
    gateway = keyed.extensions["gateway"]
    spender = gateway.keys.find(frugal["Authorization"].split()[1])
    gateway.usage.settle(None, spender, "claude-haiku-4-5", CallUsage(output_tokens=1))
    codes.append(chat(client, frugal)[0])  # its one token is spent
    assert codes == [200, 429, 429]
    assert moved("claude_gateway_too_many_requests_total", reason="rate_limit") == 1
    assert moved("claude_gateway_too_many_requests_total", reason="budget") == 1


def test_the_queue_counts_its_waits_and_shows_its_length(make_app):
    app = make_app(API_KEY=KEY, MAX_CLAUDE_PROCESSES="1", QUEUE_MAX="1",
                   QUEUE_TIMEOUT_MS="20000", KEEPALIVE_INTERVAL_MS="200")
    client = app.test_client()
    moved = Moved(client)
    holder = client.post("/api/claude", json={"prompt": "fake:hang"}, headers=AUTH)
    assert value(scrape(client), "claude_gateway_processes", state="running") == 1
    # a stream waits a keep-alive interval before its response starts, then waits on in it
    waiting = client.post("/api/claude", json={"prompt": "hi"}, headers=AUTH)
    assert value(scrape(client), "claude_gateway_queue_length") == 1
    assert chat(client, AUTH)[0] == 429  # the queue is full
    waiting.close()  # its client leaves before a process came free
    assert moved("claude_gateway_too_many_requests_total", reason="capacity") == 1
    assert moved("claude_gateway_queue_wait_seconds_count", outcome="abandoned") == 1
    assert moved("claude_gateway_queue_wait_seconds_sum", outcome="abandoned") >= 0.2
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(chat(app.test_client(), AUTH)))
    waiter.start()
    try:
        assert wait_until(lambda: value(scrape(client), "claude_gateway_queue_length") == 1,
                          seconds=10)
    finally:
        holder.close()  # its process ends and the waiter gets the slot
        waiter.join(timeout=60)
    assert [status for status, _ in answers] == [200]
    assert moved("claude_gateway_queue_wait_seconds_count", outcome="served") == 1


def test_the_hosts_processes_show_at_scrape_time(make_app):
    app = make_app(API_KEY=KEY, WARM_POOL_SIZE="1")
    client = app.test_client()
    assert wait_until(lambda: value(scrape(client), "claude_gateway_processes",
                                    state="warm") == 1, seconds=20)
    samples = scrape(client)
    assert value(samples, "claude_gateway_processes_max") == 8
    assert value(samples, "claude_gateway_queue_length") == 0


def test_metrics_need_the_metrics_scope(keyed):
    client = keyed.test_client()
    chatty = managed_key(keyed, "chatty")  # the default scopes: no metrics
    watcher = managed_key(keyed, "watcher", scopes=("metrics",))
    with client.get("/metrics") as response:
        assert response.status_code == 401
    with client.get("/metrics", headers=chatty) as response:
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "scope_missing"
        assert "'metrics'" in response.get_json()["error"]["message"]
    scrape(client, watcher)
    scrape(client, AUTH)  # the operator's keys hold every scope


def test_metrics_public_opens_metrics_alone(make_app):
    client = make_app(API_KEY=KEY, METRICS_PUBLIC="true").test_client()
    scrape(client, headers={})
    with client.get("/v1/models") as response:
        assert response.status_code == 401


def test_metrics_public_must_be_a_boolean(make_app):
    from app.settings import SettingsError
    with pytest.raises(SettingsError, match="METRICS_PUBLIC"):
        make_app(METRICS_PUBLIC="sometimes")


def test_approvals_count_by_outcome(keyed, tmp_path):
    client = keyed.test_client()
    moved = Moved(client)
    desk = ApprovalDesk(ApprovalBook(StateDB(tmp_path / "desk")), timeout=60.0)
    process = FakeProcess()
    asked = [desk.hold(process, f"cli_{n}", WRITE_ASK, "alice", None) for n in range(4)]
    desk.decide(asked[0].id, allow())
    desk.decide(asked[1].id, deny("no"))
    asked[2].expires_at = 0  # its time ran out
    desk.tick()
    desk.deny_all(process, "The client disconnected.")
    assert len(process.sent) == 4
    for outcome in ("allowed", "denied", "expired", "withdrawn"):
        assert moved("claude_gateway_approvals_total", outcome=outcome) == 1, outcome


def test_a_sample_file_a_worker_is_still_making_does_not_break_a_scrape(tmp_path):
    from prometheus_client.mmap_dict import MmapedDict, mmap_key
    (tmp_path / "counter_1.db").write_bytes(b"")  # created, not yet sized
    ready = MmapedDict(str(tmp_path / "counter_2.db"))
    ready.write_value(mmap_key("claude_gateway_requests", "claude_gateway_requests_total",
                               ["endpoint"], ["/x"], "old"), 3.0, 0.0)
    ready.close()
    samples = [sample for family in metrics._Workers(str(tmp_path)).collect()
               for sample in family.samples]
    assert [(s.name, s.labels, s.value) for s in samples] == [
        ("claude_gateway_requests_total", {"endpoint": "/x"}, 3.0)]
