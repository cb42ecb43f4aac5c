"""OpenAI's background mode with the real `openai` package and the real CLI: create answers at
once, retrieve until complete, a dropped background stream resumed with `starting_after`
(no gap, no duplicate), cancel, delete; another key's response answers like an unknown one."""

import openai
import pytest

from tests.support.anthropic_standin import WAIT_FOREVER, Text, ToolUse
from tests.support.live_cli import openai_sdk, serve_worker_class

STORY = " ".join(f"word{i}" for i in range(40))


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def server(request, standin, tmp_path_factory):
    yield from serve_worker_class(request, standin, tmp_path_factory, "background",
                                  API_KEYS="other-key", WEB_CONCURRENCY="2")


@pytest.fixture
def client(server):
    yield from openai_sdk(server)


def until_done(client, response_id: str):
    """The response once it has ended, read by following its event stream to the end."""
    for _ in client.responses.retrieve(response_id, stream=True):
        pass
    return client.responses.retrieve(response_id)


def test_background_create_answers_at_once_and_retrieve_gets_the_result(client, standin):
    standin.script(Text("Done in the background"))
    started = client.responses.create(model="claude-code", input="Work", background=True)
    assert started.status in ("queued", "in_progress") and started.background is True
    assert started.id.startswith("resp_")
    done = until_done(client, started.id)
    assert done.status == "completed" and done.id == started.id
    assert done.output_text.endswith("Done in the background")


def test_a_dropped_background_stream_resumes_from_starting_after(client, standin):
    standin.script(Text(STORY))
    stream = client.responses.create(model="claude-code", input="Tell", background=True,
                                     stream=True)
    first = []
    for event in stream:
        first.append(event)
        if len(first) == 8:
            break
    stream.close()  # the client drops; the response goes on
    rest = list(client.responses.retrieve(first[0].response.id, stream=True,
                                          starting_after=first[-1].sequence_number))
    events = first + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.endswith(STORY) and text == events[-1].response.output_text


def test_cancel_stops_a_background_response(client, standin):
    standin.script(ToolUse("Bash", WAIT_FOREVER))
    stream = client.responses.create(
        model="claude-code", background=True, stream=True,
        input="allowed-tools=Bash\nworkspace=bg-cancel\n\nWait a long while")
    response_id = next(iter(stream)).response.id  # response.created
    stream.close()
    cancelled = client.responses.cancel(response_id)
    assert cancelled.id == response_id and cancelled.status == "cancelled"
    assert client.responses.retrieve(response_id).status == "cancelled"


def test_delete_forgets_a_response_and_other_keys_never_see_it(client, server, standin):
    standin.script(Text("Mine alone"))
    started = client.responses.create(model="claude-code", input="Keep", background=True)
    assert until_done(client, started.id).status == "completed"
    with openai.OpenAI(base_url=server.url + "/v1", api_key="other-key", max_retries=0,
                       timeout=60) as other:
        for attempt in (lambda: other.responses.retrieve(started.id),
                        lambda: other.responses.cancel(started.id),
                        lambda: other.responses.delete(started.id)):
            with pytest.raises(openai.NotFoundError):
                attempt()
    client.responses.delete(started.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(started.id)
