"""The real `anthropic` package -> gunicorn -> the real `claude` -> stand-in API, on
/v1/messages: create and stream, a conversation, images, client tools, errors."""

import anthropic
import pytest
import requests

from tests.support.anthropic_standin import ApiError, Text, ToolUse, _texts
from tests.support.live_cli import AUTH, KEY, results_claude_got, serve_worker_class
from tests.support.sandbox_paths import inside

PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
         "RU5ErkJggg==")
UI_ORIGIN = "http://chat.example.test:8080"
WEATHER = {"name": "get_weather", "description": "The weather in a city now.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def server(request, standin, tmp_path_factory):
    yield from serve_worker_class(request, standin, tmp_path_factory, "messages",
                                  ALLOW_DANGEROUS_SKIP_PERMISSIONS="true",
                                  CORS_ORIGINS=UI_ORIGIN)


@pytest.fixture
def client(server):
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0,
                             timeout=120) as sdk:
        yield sdk


def user(content) -> dict:
    return {"role": "user", "content": content}


def assistant(message) -> dict:
    """A reply as the client sends it back: its content blocks as they came."""
    return {"role": "assistant", "content": [block.model_dump(exclude_none=True)
                                             for block in message.content]}


def test_create_answers_with_one_message_and_real_usage(client, standin):
    standin.script(Text("Hello from Claude Code"))
    raw = client.messages.with_raw_response.create(
        model="claude-code", max_tokens=1024, messages=[user("Hi")],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}])
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "claude-code" and message.stop_reason == "end_turn"
    [block] = message.content
    assert block.type == "text" and block.text.startswith('[claude-code] {"session-id":')
    assert block.text.endswith("\n\nHello from Claude Code")
    assert raw.headers["X-Session-Id"] in block.text
    assert message.usage.output_tokens == 4 and message.usage.input_tokens > 0
    assert raw.headers["X-Ignored-Params"] == "max_tokens, tools.0 (web_search_20250305)"


def test_stream_gives_the_sdk_one_message_across_the_cli_s_tool_calls(client, standin, server):
    target = server.workdir / "ws" / "shared_workspace" / "streamed.txt"
    write = ToolUse("Write", {"file_path": inside(target, target.parents[1]), "content": "hi"})
    standin.script([Text("Writing it."), write],
                   Text("Done: written."))
    asked = "dangerously-skip-permissions=true\ntool-display=reasoning\n\nWrite a file"
    with client.messages.stream(model="claude-code", max_tokens=1024,
                                messages=[user(asked)]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert target.read_text() == "hi"  # the CLI really ran its tool inside the turn
    assert kinds.count("message_start") == 1 and kinds[-1] == "message_stop"
    assert {"content_block_start", "content_block_delta", "content_block_stop",
            "message_delta"} <= set(kinds)
    assert [block.type for block in final.content] == ["text", "thinking", "text"]
    assert final.content[0].text.endswith("Writing it.")
    assert "Write" in final.content[1].thinking  # Claude Code's own tool, shown as thinking
    assert final.content[2].text == "\n\nDone: written."
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


def test_a_three_turn_conversation_keeps_its_session_options_and_history(client, standin):
    standin.script(Text("Noted: TEAL"))
    messages = [user("max-turns=5\n\nRemember the colour TEAL")]
    first = client.messages.create(model="claude-code", max_tokens=64, messages=messages)
    messages += [assistant(first), user("And the number 7")]
    standin.script(Text("Noted: 7"))
    second = client.messages.create(model="claude-code", max_tokens=64, messages=messages)
    # a client that strips the echo header still continues, by the conversation's fingerprint
    messages += [{"role": "assistant", "content": "Noted: 7"}, user("What did I say?")]
    standin.script(Text("TEAL and 7"))
    third = client.messages.with_raw_response.create(model="claude-code", max_tokens=64,
                                                     messages=messages)
    session = first.content[0].text.split('"session-id":"')[1][:36]
    assert session in second.content[0].text and third.headers["X-Session-Id"] == session
    assert '"max-turns":5' in third.parse().content[0].text  # inherited from the first turn
    sent = [(m["role"], _texts(m["content"])) for m in standin.requests[-1]["messages"]]
    said = " ".join(str(texts) for role, texts in sent if role == "user")
    assert "TEAL" in said and "number 7" in said and "What did I say?" in said


def test_an_image_block_reaches_claude_as_an_image(client, standin):
    standin.script(Text("A single pixel"))
    client.messages.create(model="claude-code", max_tokens=64, messages=[user([
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": PIXEL}}])])
    blocks = [block for message in standin.requests[-1]["messages"] if message["role"] == "user"
              for block in message["content"] if isinstance(block, dict)]
    assert [b["source"]["data"] for b in blocks if b.get("type") == "image"] == [PIXEL]


def test_client_tools_round_trip_through_tool_use_and_tool_result(client, standin):
    standin.script([Text("Let me look."), ToolUse("mcp__client__get_weather", {"city": "Paris"})],
                   Text("It is 21 C in Paris."))
    messages = [user("How warm is it in Paris?")]
    first = client.messages.create(model="claude-code", max_tokens=256, tools=[WEATHER],
                                   messages=messages)
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {
        "city": "Paris"}
    messages += [assistant(first), user([{"type": "tool_result", "tool_use_id": call.id,
                                          "content": "21 C, sunny"}])]
    second = client.messages.create(model="claude-code", max_tokens=256, tools=[WEATHER],
                                    messages=messages)
    assert second.stop_reason == "end_turn"
    assert second.content[-1].text.endswith("It is 21 C in Paris.")
    assert results_claude_got(standin) == {call.id: "21 C, sunny"}


def test_streamed_tool_use_carries_the_input_as_json_deltas(client, standin):
    standin.script(ToolUse("mcp__client__get_weather", {"city": "Oslo"}))
    with client.messages.stream(model="claude-code", max_tokens=256, tools=[WEATHER],
                                messages=[user("Weather in Oslo?")]) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "input_json_delta" in deltas
    assert final.stop_reason == "tool_use" and final.content[-1].input == {"city": "Oslo"}


def test_an_upstream_error_raises_the_sdk_s_own_error(client, standin):
    standin.default_reply = ApiError(400, "messages.0: the stand-in refuses this")
    with pytest.raises(anthropic.BadRequestError, match="the stand-in refuses this") as caught:
        client.messages.create(model="claude-code", max_tokens=64, messages=[user("Fail")])
    assert caught.value.body["type"] == "error"
    standin.default_reply = ApiError(400, "messages.0: refused while streaming")
    with pytest.raises(anthropic.APIStatusError, match="refused while streaming"):
        with client.messages.stream(model="claude-code", max_tokens=64,
                                    messages=[user("Fail streaming")]) as stream:
            stream.get_final_message()


@pytest.mark.parametrize("body, param", [
    ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "claude-code", "messages": []}, "messages"),
    ({"model": "claude-code", "messages": [{"role": "assistant", "content": "x"}]}, "role"),
    ({"model": "claude-code", "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "http://x/y.png"}}]}]}, "source"),
    ({"model": "claude-code", "messages": [{"role": "user", "content": "x"}],
      "tools": [WEATHER], "tool_choice": {"type": "tool", "name": "get_time"}}, "tool_choice"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}, "model"),
])
def test_bad_requests_get_anthropic_s_error_shape(server, body, param):
    response = requests.post(server.url + "/v1/messages", json=body, headers=AUTH, timeout=30)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert param in error["error"]["message"]


def test_a_wrong_key_is_the_sdk_s_authentication_error(server):
    with anthropic.Anthropic(base_url=server.url, api_key="wrong", max_retries=0) as sdk:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            sdk.messages.create(model="claude-code", max_tokens=5, messages=[user("x")])
    assert caught.value.body["error"]["type"] == "authentication_error"


def test_count_tokens_estimates_without_running_claude(client, standin):
    counted = client.messages.count_tokens(model="claude-code", tools=[WEATHER],
                                           messages=[user("How warm is it in Paris?")])
    longer = client.messages.count_tokens(model="claude-code", messages=[user("word " * 400)])
    assert 0 < counted.input_tokens < longer.input_tokens
    assert standin.requests == []


def test_a_browser_on_an_allowed_origin_may_call_and_read_the_session(server, standin):
    preflight = requests.options(server.url + "/v1/messages", timeout=30, headers={
        "Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key, content-type, anthropic-version"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "x-api-key" in preflight.headers["Access-Control-Allow-Headers"].lower()
    standin.script(Text("Hello, browser"))
    answer = requests.post(server.url + "/v1/messages", timeout=60, headers={
        **AUTH, "Origin": UI_ORIGIN}, json={"model": "claude-code", "max_tokens": 64,
                                            "messages": [user("Hi")]})
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert "X-Session-Id" in answer.headers["Access-Control-Expose-Headers"]


def test_a_browser_on_another_origin_gets_no_cors_grant(server):
    preflight = requests.options(server.url + "/v1/messages", timeout=30, headers={
        "Origin": "http://evil.example.test", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key, content-type"})
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Headers" not in preflight.headers
