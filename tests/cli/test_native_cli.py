"""HTTP client -> gunicorn -> the real `claude` -> stand-in API, and back, on /api/claude."""

import requests

from tests.support.anthropic_standin import ApiError, Text, ToolUse
from tests.support.sandbox_paths import inside
from tests.support.streams import sse_events

AUTH = {"Authorization": "Bearer gateway-test-key"}


def ask(gateway, **body) -> list:
    response = requests.post(gateway.url + "/api/claude", json=body, headers=AUTH, timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return sse_events(response.text)


def test_text_reply_streams_token_deltas_and_ends_in_result(gateway, standin):
    standin.script(Text("Hello from the stand-in API"))
    events = ask(gateway, prompt="Say hello")
    types = [e["type"] for e in events]
    assert types[:2] == ["run", "system"] and events[1]["subtype"] == "init"
    deltas = [e["event"]["delta"]["text"] for e in events if e["type"] == "stream_event"
              and e["event"]["type"] == "content_block_delta"]
    assert len(deltas) > 3 and "".join(deltas) == "Hello from the stand-in API"
    assert "assistant" in types and types[-1] == "result"
    result = events[-1]
    assert result["is_error"] is False and result["result"] == "Hello from the stand-in API"
    assert result["usage"]["output_tokens"] == 5
    assert standin.last_user_text() == "Say hello"


def test_write_tool_creates_the_file_in_the_named_workspace(gateway, standin, ws):
    target = ws / "workspace" / "demo" / "hello.py"
    standin.script([Text("Writing it."), ToolUse("Write", {"file_path": inside(target, ws),
                                                           "content": "print('hi')\n"})],
                   Text("Created hello.py"))
    events = ask(gateway, prompt="Create hello.py that prints hi", workspace="demo",
                 **{"allowed-tools": ["Write"]})
    assert events[-1]["result"] == "Created hello.py"
    assert target.read_text() == "print('hi')\n"
    tool_results = [e for e in events if e["type"] == "user"]
    assert tool_results and "hello.py" in str(tool_results[0]["message"]["content"])
    assert "File created successfully" in standin.last_user_text()


def test_tool_not_allowed_is_denied_and_reported(gateway, standin, ws):
    target = ws / "workspace" / "locked" / "nope.txt"
    standin.script(ToolUse("Write", {"file_path": inside(target, ws), "content": "x"}),
                   Text("Denied."))
    events = ask(gateway, prompt="Write a file", workspace="locked")
    assert not target.exists()
    assert events[-1]["permission_denials"][0]["tool_name"] == "Write"


def test_resumed_conversation_carries_the_first_turn(gateway, standin):
    standin.script(Text("The secret word is ALPHA"))
    first = ask(gateway, prompt="Remember a secret word", workspace="chat")
    session = first[-1]["session_id"]
    standin.script(Text("It was ALPHA"))
    second = ask(gateway, prompt="What was the word?", **{"session-id": session})
    assert second[-1]["result"] == "It was ALPHA"
    assert second[-1]["session_id"] == session
    history = str(standin.requests[-1]["messages"])
    assert "Remember a secret word" in history and "The secret word is ALPHA" in history


def test_unknown_session_is_404(gateway):
    response = requests.post(gateway.url + "/api/claude", headers=AUTH, timeout=60, json={
        "prompt": "hi", "session-id": "3f0c4a5e-1111-4222-8333-444455556666"})
    assert response.status_code == 404
    assert "3f0c4a5e-1111-4222-8333-444455556666" in response.json()["error"]["message"]


def test_api_error_surfaces_as_an_error_result(gateway, standin):
    standin.default_reply = ApiError(400, "messages.0: something is invalid")
    events = ask(gateway, prompt="Trigger an error")
    result = events[-1]
    assert result["type"] == "result" and result["is_error"] is True
    assert result["api_error_status"] == 400
    assert "something is invalid" in result["result"]


def test_overloaded_api_surfaces_once_retries_are_exhausted(gateway, standin):
    standin.script(ApiError(529, "Overloaded"))
    result = ask(gateway, prompt="hi")[-1]
    assert result["is_error"] is True and "529" in result["result"]


def test_flag_like_and_huge_prompts_reach_claude_intact(gateway, standin):
    ask(gateway, prompt="--version")
    assert standin.last_user_text() == "--version"
    big = "".join(f"line {i}: ünïcode \"quotes\" \t tabs\n" for i in range(9000))
    assert len(big.encode()) > 300_000
    ask(gateway, prompt=big)
    assert standin.last_user_text() == big


def test_non_streaming_returns_the_result_object(gateway, standin):
    standin.script(Text("Just the answer"))
    response = requests.post(gateway.url + "/api/claude", headers=AUTH, timeout=120,
                             json={"prompt": "Answer", "stream": False})
    body = response.json()
    assert response.status_code == 200
    assert body["result"] == "Just the answer" and body["is_error"] is False
    assert body["session_id"] and body["num_turns"] == 1
    assert body["usage"]["input_tokens"] == 10 and "total_cost_usd" in body


def test_bash_runs_with_skip_permissions_when_allowed(gateway, standin, ws):
    workdir = ws / "workspace" / "sandbox"
    standin.script(ToolUse("Bash", {"command": "echo made > made.txt"}), Text("Done"))
    events = ask(gateway, prompt="Make a file", workspace="sandbox",
                 **{"dangerously-skip-permissions": True})
    assert events[-1]["result"] == "Done"
    assert (workdir / "made.txt").read_text() == "made\n"
