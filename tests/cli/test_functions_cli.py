"""OpenAI function calling with the real CLI: the client's `tools` are served to Claude by the
gateway, its calls come back as `tool_calls`, and the client's results reach Claude."""

import json

import pytest
import requests
from openai import OpenAI

from tests.support.anthropic_standin import Text, ToolUse
from tests.support.live_cli import (
    KEY,
    openai_sdk,
    results_claude_got,
    serve_worker_class,
    start_server,
)
from tests.support.streams import sse_events
from tests.support.waiting import wait_until

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The time in a time zone.",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def server(request, standin, tmp_path_factory):
    yield from serve_worker_class(request, standin, tmp_path_factory, "functions")


@pytest.fixture
def client(server):
    yield from openai_sdk(server)


def weather_call(city="Paris"):
    return ToolUse("mcp__client__get_weather", {"city": city})


def with_result(messages: list, completion, result: str) -> str:
    """Append the reply's single call and the client's result for it; the call's id."""
    [call] = completion.choices[0].message.tool_calls
    messages += [completion.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": result}]
    return call.id


def test_a_call_comes_back_as_tool_calls_and_its_result_reaches_claude(client, standin):
    standin.script([Text("Let me look."), weather_call()], Text("It is 21 C in Paris."))
    messages = [{"role": "user", "content": "How warm is it in Paris?"}]
    first = client.chat.completions.create(model="claude-code", messages=messages,
                                           tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert "Let me look." in choice.message.content
    assert [t["name"] for t in standin.requests[0]["tools"] if "client" in t["name"]] == \
        ["mcp__client__get_weather"]
    sent = next(t for t in standin.requests[0]["tools"] if t["name"].endswith("get_weather"))
    assert sent["input_schema"]["properties"] == {"city": {"type": "string"}}

    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "21 C, sunny"}]
    final = client.chat.completions.create(model="claude-code", messages=messages,
                                           tools=[WEATHER])
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content.endswith("It is 21 C in Paris.")
    assert not final.choices[0].message.tool_calls
    assert results_claude_got(standin)[call.id] == "21 C, sunny"
    assert final.model_extra["session_id"] == first.model_extra["session_id"]


def test_streamed_calls_follow_the_openai_delta_contract(server, standin):
    standin.script([weather_call("Oslo"), ToolUse("mcp__client__get_time", {"tz": "CET"})],
                   Text("Cold, and it is noon."))
    body = {"model": "claude-code", "stream": True, "tools": [WEATHER, TIME],
            "messages": [{"role": "user", "content": "Weather and time in Oslo?"}]}
    headers = {"Authorization": f"Bearer {KEY}"}
    response = requests.post(server.url + "/v1/chat/completions", json=body, headers=headers,
                             timeout=120)
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    pieces = [call for chunk in chunks for call in chunk["choices"][0]["delta"].get(
        "tool_calls", [])]
    firsts = [piece for piece in pieces if "id" in piece]
    assert [(p["index"], p["type"], p["function"]["name"]) for p in firsts] == \
        [(0, "function", "get_weather"), (1, "function", "get_time")]
    arguments = {i: "".join(p["function"].get("arguments", "") for p in pieces
                            if p["index"] == i) for i in (0, 1)}
    assert json.loads(arguments[0]) == {"city": "Oslo"} and json.loads(arguments[1]) == \
        {"tz": "CET"}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks
                if c["choices"][0]["finish_reason"]]
    assert finishes == ["tool_calls"]

    ids = [p["id"] for p in firsts]
    assistant = {"role": "assistant", "content": None, "tool_calls": [
        {"id": ids[i], "type": "function", "function": {"name": n, "arguments": arguments[i]}}
        for i, n in enumerate(("get_weather", "get_time"))]}
    body["messages"] += [assistant,
                         {"role": "tool", "tool_call_id": ids[0], "content": "-3 C"},
                         {"role": "tool", "tool_call_id": ids[1], "content": "12:00"}]
    final = sse_events(requests.post(server.url + "/v1/chat/completions", json=body,
                                     headers=headers, timeout=120).text)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in final[:-1])
    assert text.endswith("Cold, and it is noon.")
    assert results_claude_got(standin) == {ids[0]: "-3 C", ids[1]: "12:00"}


def test_langchain_bind_tools_round_trip(server, standin):
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    standin.script(weather_call("Rome"), Text("Rome is at 30 C."))
    model = ChatOpenAI(base_url=server.url + "/v1", api_key=KEY, model="claude-code",
                       max_retries=0, timeout=120).bind_tools([WEATHER])
    history = [HumanMessage("How hot is Rome?")]
    asked = model.invoke(history)
    [call] = asked.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Rome"}
    history += [asked, ToolMessage("30 C", tool_call_id=call["id"])]
    answered = model.invoke(history)
    assert answered.content.endswith("Rome is at 30 C.")
    assert results_claude_got(standin)[call["id"]] == "30 C"


def test_tool_choice_none_offers_no_functions(client, standin):
    standin.script(Text("No tools needed."))
    reply = client.chat.completions.create(
        model="claude-code", tools=[WEATHER], tool_choice="none",
        messages=[{"role": "user", "content": "Say hi"}])
    assert reply.choices[0].finish_reason == "stop"
    assert not any("client" in t["name"] for t in standin.requests[-1]["tools"])


def test_required_tool_choice_is_told_to_claude(client, standin):
    standin.script(weather_call(), Text("done"))
    reply = client.chat.completions.create(
        model="claude-code", tools=[WEATHER], tool_choice="required",
        messages=[{"role": "user", "content": "Weather?"}])
    assert reply.choices[0].finish_reason == "tool_calls"
    system = json.dumps(standin.requests[-1]["system"])
    assert "call at least one of the user's functions" in system


def test_a_result_after_expiry_still_reaches_claude_as_context(standin, tmp_path_factory):
    quick = start_server(standin, tmp_path_factory.mktemp("functions-expiry"),
                         TOOL_RESULT_TIMEOUT_MS="500")
    try:
        with OpenAI(base_url=quick.url + "/v1", api_key=KEY, max_retries=0) as sdk:
            standin.script(weather_call("Lima"))
            messages = [{"role": "user", "content": "Weather in Lima?"}]
            first = sdk.chat.completions.create(model="claude-code", messages=messages,
                                                tools=[WEATHER])
            assert wait_until(lambda: "did not come back in time" in quick.log.read_text(),
                              seconds=30)
            standin.script(Text("Lima: 18 C."))
            call_id = with_result(messages, first, "18 C, fog")
            final = sdk.chat.completions.create(model="claude-code", messages=messages,
                                                tools=[WEATHER])
        assert final.choices[0].message.content.endswith("Lima: 18 C.")
        assert final.model_extra["session_id"] == first.model_extra["session_id"]
        sent = str(standin.requests[-1]["messages"])
        assert "18 C, fog" in sent and call_id in sent
    finally:
        quick.stop()


def test_results_sent_to_another_worker_end_the_waiting_turn_and_reach_claude(server, standin):
    from tests.support.server import GatewayServer
    twin = GatewayServer({}, workdir=server.workdir, env=server.env)  # shares STATE_DIR
    twin.start()
    try:
        standin.script(weather_call("Bern"))
        messages = [{"role": "user", "content": "Weather in Bern?"}]
        with OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0) as here, \
                OpenAI(base_url=twin.url + "/v1", api_key=KEY, max_retries=0) as there:
            first = here.chat.completions.create(model="claude-code", messages=messages,
                                                 tools=[WEATHER])
            standin.script(Text("Bern: 9 C."))
            with_result(messages, first, "9 C, wind")
            final = there.chat.completions.create(model="claude-code", messages=messages,
                                                  tools=[WEATHER])
        assert final.choices[0].message.content.endswith("Bern: 9 C.")
        assert final.model_extra["session_id"] == first.model_extra["session_id"]
        assert "another worker" in server.log.read_text()
        assert "9 C, wind" in str(standin.requests[-1]["messages"])
    finally:
        twin.stop()


def test_sdk_streaming_round_trip(client, standin):
    standin.script(weather_call("Kyiv"), Text("Kyiv: 4 C."))
    messages = [{"role": "user", "content": "Weather in Kyiv?"}]
    chunks = list(client.chat.completions.create(model="claude-code", messages=messages,
                                                 tools=[WEATHER], stream=True))
    pieces = [call for chunk in chunks if chunk.choices
              for call in chunk.choices[0].delta.tool_calls or []]
    call_id = next(piece.id for piece in pieces if piece.id)
    arguments = "".join(piece.function.arguments or "" for piece in pieces)
    assert json.loads(arguments) == {"city": "Kyiv"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and
            c.choices[0].finish_reason] == ["tool_calls"]
    messages += [{"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function",
         "function": {"name": "get_weather", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "4 C"}]
    final = list(client.chat.completions.create(model="claude-code", messages=messages,
                                                tools=[WEATHER], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in final if c.choices)
    assert text.endswith("Kyiv: 4 C.")
    assert results_claude_got(standin)[call_id] == "4 C"
