"""The API proxy lets a process's calls out only while a turn runs on it, and never the token
counts of its warm-up."""

import pytest
import requests

from app.proxy.guard import Hold
from app.proxy.metering import UsageMeter
from app.proxy.server import ApiProxy
from app.proxy.upstream import Credential, Upstream
from tests.support.anthropic_standin import AnthropicStandIn

COUNT = "/v1/messages/count_tokens"
BODY = {"model": "claude-standin", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]}


class FreeGuard:
    """A key with no daily budget: nothing is held, nothing refused."""

    def reserve(self, holder, model, body_bytes):
        return Hold(None, str(holder))

    def settle(self, hold, holder, model, usage):
        pass


@pytest.fixture
def upstream():
    with AnthropicStandIn() as standin:
        yield standin


@pytest.fixture
def proxy(upstream):
    proxy = ApiProxy(Upstream(upstream.url), Credential("ANTHROPIC_API_KEY", "x-api-key", "real"),
                     FreeGuard())
    proxy.start()
    yield proxy
    proxy.close()


def call(proxy, issued, path):
    return requests.post(f"http://127.0.0.1:{proxy.port}{path}", json=BODY, timeout=10,
                         headers={"x-api-key": issued.token})


def test_with_no_turn_on_the_process_nothing_leaves_the_gateway(proxy, upstream):
    issued = proxy.passes.issue()
    for path in (COUNT, "/v1/messages"):
        refused = call(proxy, issued, path)
        assert refused.status_code == 403 and "No turn runs" in refused.text
    assert upstream.all_requests == []


def test_a_turn_s_calls_go_out_with_the_real_credential(proxy, upstream):
    issued = proxy.passes.issue()
    issued.bind("alice")
    assert call(proxy, issued, COUNT).status_code == 200
    assert call(proxy, issued, "/v1/messages").status_code == 200
    assert [path for _, path, _ in upstream.all_requests] == [COUNT, "/v1/messages"]
    assert {headers["x-api-key"] for headers in upstream.headers} == {"real"}


def test_a_warm_up_s_token_counts_stay_here_even_once_a_turn_took_the_process(proxy, upstream):
    issued = proxy.passes.issue()
    issued.bind("alice")
    issued.warming = True
    assert call(proxy, issued, COUNT).status_code == 403
    assert call(proxy, issued, "/v1/messages").status_code == 200  # the turn's own call
    assert [path for _, path, _ in upstream.all_requests] == ["/v1/messages"]


STREAM = (b'event: message_start\ndata: {"type":"message_start","message":{"model":"m",'
          b'"usage":{"input_tokens":7,"output_tokens":1}}}\n\n'
          + b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":'
            b'{"type":"text_delta","text":"w"}}\n\n' * 20
          + b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":21}}'
            b'\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n')


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1 << 16])
def test_a_streamed_call_s_usage_is_read_however_its_chunks_fall(size):
    meter = UsageMeter(streamed=True)
    for start in range(0, len(STREAM), size):
        meter.feed(STREAM[start:start + size])
    usage = meter.finish()
    assert (usage.input_tokens, usage.output_tokens, meter.model) == (7, 21, "m")
