"""The real `openai` package's Responses API -> gunicorn -> the real `claude` -> stand-in API:
create and stream, `previous_response_id` chains and branches, `store: false`, functions."""

import json

import openai
import pytest
import requests

from tests.support.anthropic_standin import ApiError, Text, ToolUse, _texts
from tests.support.live_cli import AUTH, openai_sdk, results_claude_got, serve_worker_class

WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def server(request, standin, tmp_path_factory):
    yield from serve_worker_class(request, standin, tmp_path_factory, "responses",
                                  API_KEYS="other-key")


@pytest.fixture
def client(server):
    yield from openai_sdk(server)


def users_said(standin) -> str:
    """Every user text the CLI sent the API in its latest call."""
    return " ".join(" ".join(_texts(m["content"])) for m in standin.requests[-1]["messages"]
                    if m["role"] == "user")


def test_create_answers_with_output_text_and_usage(client, standin):
    standin.script(Text("Hello from Claude Code"))
    raw = client.responses.with_raw_response.create(model="claude-code", input="Hi")
    response = raw.parse()
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text.endswith("\n\nHello from Claude Code")
    assert response.output_text.startswith('[claude-code] {"session-id":')
    assert raw.headers["X-Session-Id"] in response.output_text
    assert response.usage.output_tokens == 4 and response.usage.input_tokens > 0
    [message] = response.output
    assert message.type == "message" and message.role == "assistant"


def test_stream_follows_the_responses_event_contract(client, standin):
    standin.script(Text("one two three four"))
    events = list(client.responses.create(model="claude-code", input="Count", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert kinds.count("response.output_text.delta") >= 4  # token by token
    assert {"response.output_item.added", "response.content_part.added",
            "response.output_text.done", "response.output_item.done"} <= set(kinds)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == events[-1].response.output_text
    assert deltas.endswith("one two three four")


def test_the_sdk_s_stream_helper_builds_the_final_response(client, standin):
    standin.script(Text("Streamed whole"))
    with client.responses.stream(model="claude-code", input="Go") as stream:
        texts = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(texts) and final.output_text.endswith("Streamed whole")


def test_previous_response_id_chains_three_turns_on_one_session(client, standin):
    standin.script(Text("Noted: TEAL"))
    first = client.responses.with_raw_response.create(
        model="claude-code", input="max-turns=5\n\nRemember the colour TEAL")
    standin.script(Text("Noted: 7"))
    second = client.responses.create(model="claude-code", input="And the number 7",
                                     previous_response_id=first.parse().id)
    standin.script(Text("TEAL and 7"))
    third = client.responses.with_raw_response.create(
        model="claude-code", input="What did I say?", previous_response_id=second.id)
    assert third.headers["X-Session-Id"] == first.headers["X-Session-Id"]
    assert '"max-turns":5' in third.parse().output_text  # the options carried on
    said = users_said(standin)
    assert "TEAL" in said and "number 7" in said and "What did I say?" in said
    assert third.parse().previous_response_id == second.id


def test_an_earlier_response_id_branches_without_the_later_turns(client, standin):
    standin.script(Text("Noted: TEAL"))
    first = client.responses.create(model="claude-code", input="Remember TEAL")
    standin.script(Text("Noted: SECRET"))
    client.responses.create(model="claude-code", input="Also SECRET",
                            previous_response_id=first.id)
    standin.script(Text("Only TEAL"))
    client.responses.create(model="claude-code", input="What do you know?",
                            previous_response_id=first.id)
    said = users_said(standin)
    assert "Remember TEAL" in said and "SECRET" not in said


def test_store_false_keeps_no_response_to_continue_from(client, standin):
    standin.script(Text("Not kept"))
    unstored = client.responses.create(model="claude-code", input="Hi", store=False)
    assert unstored.store is False
    with pytest.raises(openai.NotFoundError, match="Previous response with id"):
        client.responses.create(model="claude-code", input="Again",
                                previous_response_id=unstored.id)


def test_another_key_cannot_continue_a_response(client, standin, server):
    standin.script(Text("Mine"))
    mine = client.responses.create(model="claude-code", input="Hi")
    other = {"Authorization": "Bearer other-key"}
    answer = requests.post(server.url + "/v1/responses", headers=other, timeout=60, json={
        "model": "claude-code", "input": "Go on", "previous_response_id": mine.id})
    assert answer.status_code == 404
    assert answer.json()["error"]["param"] == "previous_response_id"


def test_instructions_and_input_items_reach_claude(client, standin):
    standin.script(Text("Bonjour"))
    client.responses.create(model="claude-code", instructions="Answer in French.", input=[
        {"role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": [{"type": "input_text",
                                                         "text": "Say hello"}]}])
    system = str(standin.requests[-1].get("system"))
    assert "Answer in French." in system and "Be brief." in system
    assert "Say hello" in users_said(standin)


def test_function_calls_round_trip_through_previous_response_id(client, standin):
    standin.script([Text("Let me look."), ToolUse("mcp__client__get_weather", {"city": "Paris"})],
                   Text("It is 21 C in Paris."))
    first = client.responses.create(model="claude-code", input="How warm is Paris?",
                                    tools=[WEATHER])
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    second = client.responses.create(model="claude-code", tools=[WEATHER],
                                     previous_response_id=first.id, input=[{
                                         "type": "function_call_output",
                                         "call_id": call.call_id, "output": "21 C, sunny"}])
    assert second.output_text.endswith("It is 21 C in Paris.")
    assert results_claude_got(standin) == {call.call_id: "21 C, sunny"}


def test_streamed_function_call_arguments_arrive_as_deltas(client, standin):
    standin.script(ToolUse("mcp__client__get_weather", {"city": "Oslo"}))
    events = list(client.responses.create(model="claude-code", input="Oslo?", tools=[WEATHER],
                                          stream=True))
    kinds = [event.type for event in events]
    assert "response.function_call_arguments.delta" in kinds
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done.name == "get_weather" and "Oslo" in done.arguments
    assert kinds[-1] == "response.completed"


def test_an_upstream_error_is_the_sdk_s_error_or_a_failed_response(client, standin):
    standin.default_reply = ApiError(400, "messages.0: the stand-in refuses this")
    with pytest.raises(openai.BadRequestError, match="the stand-in refuses this"):
        client.responses.create(model="claude-code", input="Fail")
    standin.default_reply = ApiError(400, "messages.0: refused while streaming")
    events = list(client.responses.create(model="claude-code", input="Fail", stream=True))
    assert events[-1].type == "response.failed"
    assert "refused while streaming" in events[-1].response.error.message


@pytest.mark.parametrize("body, param", [
    ({"model": "claude-code"}, "input"),
    ({"input": []}, "input"),
    ({"input": [{"role": "assistant", "content": "x"}]}, "input"),
    ({"input": [{"type": "computer_call"}]}, "input[0]"),
    ({"input": "x", "previous_response_id": "resp_unknown"}, "previous_response_id"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}},
     "tool_choice"),
])
def test_bad_requests_get_openai_s_error_shape(server, body, param):
    response = requests.post(server.url + "/v1/responses", json=body, headers=AUTH, timeout=30)
    assert response.status_code in (400, 404)
    assert response.json()["error"]["param"] == param


def test_other_tools_are_named_as_ignored(server, standin):
    standin.script(Text("Fine"))
    response = requests.post(server.url + "/v1/responses", headers=AUTH, timeout=60, json={
        "model": "claude-code", "input": "Hi", "temperature": 0.2,
        "tools": [{"type": "web_search"}]})
    assert response.status_code == 200
    assert response.headers["X-Ignored-Params"] == "temperature, tools[0] (web_search)"
