"""/v1/chat/completions and /v1/models with the fake CLI: shapes, options, sessions, errors."""

import json

import pytest
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.support.chat import answer_of, assistant, chat, session_of, user
from tests.support.streams import sse_events

SESSION_GONE = "00000000-0000-4000-8000-000000000000"  # the fake CLI knows no such session
PNG = "data:image/png;base64,iVBORw0KGgo="
NARRATED = ("> 💭 pondering\n\n> 🔧 Bash: ls\n\n> ↳ done: a.txt (+1 more lines)\n\n"
            "Found two files.")


def chunks(response) -> list[dict]:
    """The JSON events of a stream, which must end with [DONE]."""
    events = sse_events(response.get_data(as_text=True))
    assert events[-1] == "[DONE]"
    return events[:-1]


def reply(response) -> tuple[str, str]:
    """(content, reasoning) of an answer, streamed or not."""
    assert response.status_code == 200, response.get_data(as_text=True)
    if response.mimetype == "text/event-stream":
        deltas = [event["choices"][0]["delta"] for event in chunks(response) if event["choices"]]
        return ("".join(d.get("content") or "" for d in deltas),
                "".join(d.get("reasoning_content") or "" for d in deltas))
    message = response.get_json()["choices"][0]["message"]
    return message["content"], message.get("reasoning_content", "")


def header(session: str, **options) -> str:
    """The echo header a reply starts with."""
    shown = json.dumps({"session-id": session, **options}, separators=(",", ":"))
    return f"[claude-code] {shown}\n\n"


def text(response) -> str:
    """The answer after the echo header."""
    content, _ = reply(response)
    assert content.startswith("[claude-code] {")
    return content.split("\n\n", 1)[1]


def seen(response) -> dict:
    """What `fake:argv` reports: argv, cwd, stdin and files."""
    return json.loads(text(response))


@pytest.fixture
def calls(tmp_path, monkeypatch):
    """Every fake CLI run's argv, cwd and prompt text, read after the fact."""
    folder = tmp_path / "calls"
    folder.mkdir()
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(folder))
    log = folder / "calls.jsonl"
    return lambda: [json.loads(line) for line in log.read_text().splitlines()] \
        if log.exists() else []


# --- shapes ---------------------------------------------------------------------------------

def test_completion_has_the_openai_shape(client):
    response = chat(client, "hello", model="sonnet")
    assert response.status_code == 200
    body = response.get_json()
    ChatCompletion.model_validate(body)
    session = body["session_id"]
    assert session and response.headers["X-Session-Id"] == session
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and body["model"] == "sonnet"
    assert body["system_fingerprint"]
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == header(session) + "echo: hello"
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21,
                             "prompt_tokens_details": {"cached_tokens": 3}}


def test_parameters_we_ignore_are_named(client):
    response = chat(client, "hello", temperature=0.2, max_tokens=50, stream_options=None)
    assert response.status_code == 200
    assert response.headers["X-Ignored-Params"] == "max_tokens, temperature"
    assert "X-Ignored-Params" not in chat(client, "hello").headers


def test_stream_chunks_follow_the_openai_protocol(client):
    response = chat(client, "hello there", stream=True, stream_options={"include_usage": True})
    assert response.mimetype == "text/event-stream"
    events = chunks(response)
    for event in events:
        ChatCompletionChunk.model_validate(event)
    envelope = ("id", "object", "created", "model", "system_fingerprint")
    assert all([e[k] for k in envelope] == [events[0][k] for k in envelope] for e in events)
    assert events[0]["object"] == "chat.completion.chunk" and events[0]["model"] == "claude-code"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    finished = [e for e in events if e["choices"] and e["choices"][0]["finish_reason"]]
    assert len(finished) == 1 and finished[0]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["total_tokens"] == 21
    assert all(e["usage"] is None for e in events[:-1])
    session = session_of(response)
    assert reply(response)[0] == header(session) + "echo: hello there"


def test_stream_without_include_usage_has_no_usage(client):
    events = chunks(chat(client, "hello", stream=True))
    assert all("usage" not in e and e["choices"] for e in events)


@pytest.mark.parametrize("stream", [False, True])
def test_echo_header_can_be_turned_off(make_app, stream):
    client = make_app(OPTIONS_ECHO="false").test_client()
    response = chat(client, "model=opus\n\nhello", stream=stream)
    assert reply(response)[0] == "echo: hello"
    assert session_of(response)


# --- tool display ---------------------------------------------------------------------------

def _tools(make_app, mode: str, via: str, stream: bool):
    """Run `fake:tools` with the display mode chosen by option line, header or setting."""
    if via == "setting":
        return chat(make_app(TOOL_DISPLAY=mode).test_client(), "fake:tools", stream=stream)
    client = make_app().test_client()
    if via == "header":
        return chat(client, "fake:tools", {"X-Tool-Display": mode}, stream=stream)
    return chat(client, f"tool-display={mode}\n\nfake:tools", stream=stream)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("via", ["option", "header", "setting"])
@pytest.mark.parametrize("mode, content, reasoning", [
    ("hidden", "Found two files.", ""),
    ("narrated", NARRATED, ""),
    ("reasoning", "Found two files.",
     "pondering\n🔧 Bash: ls\n↳ done: a.txt (+1 more lines)\n"),
], ids=["hidden", "narrated", "reasoning"])
def test_tool_display(make_app, mode, via, stream, content, reasoning):
    response = _tools(make_app, mode, via, stream)
    assert text(response) == content
    assert reply(response)[1] == reasoning
    raw = response.get_data(as_text=True)
    assert "tool_calls" not in raw and "toolu_1" not in raw


def test_a_bad_tool_display_header_is_refused_before_claude_runs(client, calls):
    response = chat(client, "hi", {"X-Tool-Display": "loud"})
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "X-Tool-Display"
    assert calls() == []


def test_a_refused_request_leaves_its_session_free(make_app):
    client = make_app(SESSION_WAIT_MS="100").test_client()
    session = session_of(chat(client, "hi"))
    refused = chat(client, "hi", {"X-Session-Id": session, "X-Tool-Display": "loud"})
    assert refused.status_code == 400
    again = chat(client, "fake:argv", {"X-Session-Id": session})
    assert again.status_code == 200, again.get_json()


def test_tools_are_hidden_by_default(client):
    assert text(chat(client, "fake:tools")) == "Found two files."


def test_tool_display_precedence_is_option_then_header_then_setting(make_app):
    client = make_app(TOOL_DISPLAY="reasoning").test_client()
    assert text(chat(client, "fake:tools", {"X-Tool-Display": "narrated"})) == NARRATED
    response = chat(client, "tool-display=hidden\n\nfake:tools", {"X-Tool-Display": "narrated"})
    assert reply(response)[1] == "" and text(response) == "Found two files."


# --- options and continuing a conversation --------------------------------------------------

FIRST = ("allowed-tools=Read,Write\nworkspace=proj\nmodel=sonnet\neffort=high\nmax-turns=3\n\n"
         "fake:argv")
FLAGS = {"--allowedTools=Read,Write", "--model=sonnet", "--effort=high", "--max-turns=3"}


def test_option_lines_become_flags_and_the_workspace_the_cwd(client, config):
    first = seen(chat(client, FIRST))
    assert FLAGS <= set(first["argv"])
    assert not any(arg.startswith("--resume") for arg in first["argv"])
    assert first["cwd"] == f"{config['WORKSPACE_BASE_PATH']}/workspace/proj"
    assert first["stdin"]["message"]["content"] == [{"type": "text", "text": "fake:argv"}]


def test_option_lines_are_echoed_in_the_header(client):
    response = chat(client, FIRST)
    assert reply(response)[0].startswith(header(
        session_of(response), **{"allowed-tools": ["Read", "Write"], "max-turns": 3,
                                 "workspace": "proj", "model": "sonnet", "effort": "high"}))


def _second_turn(client, first_reply: str, prompt: str = "fake:argv"):
    return chat(client, [user(FIRST), assistant(first_reply), user(prompt)])


def test_next_turn_resumes_with_the_same_options(client, config):
    first = chat(client, FIRST)
    second = _second_turn(client, reply(first)[0])
    argv = seen(second)["argv"]
    assert f"--resume={session_of(first)}" in argv and FLAGS <= set(argv)
    assert seen(second)["cwd"] == f"{config['WORKSPACE_BASE_PATH']}/workspace/proj"
    assert session_of(second) == session_of(first)


def test_a_client_that_strips_the_header_still_continues(client):
    first = chat(client, FIRST)
    second = _second_turn(client, text(first))
    assert f"--resume={session_of(first)}" in seen(second)["argv"]
    assert FLAGS <= set(seen(second)["argv"])


def test_without_the_echo_the_conversation_still_continues(make_app):
    client = make_app(OPTIONS_ECHO="false").test_client()
    first = chat(client, FIRST)
    second = _second_turn(client, reply(first)[0])
    assert f"--resume={session_of(first)}" in json.loads(reply(second)[0])["argv"]
    assert FLAGS <= set(json.loads(reply(second)[0])["argv"])


def test_a_streamed_turn_is_continued_too(client):
    first = chat(client, FIRST, stream=True)
    second = _second_turn(client, reply(first)[0])
    assert f"--resume={session_of(first)}" in seen(second)["argv"]


def test_an_empty_list_clears_an_inherited_one(client):
    first = chat(client, FIRST)
    second = _second_turn(client, reply(first)[0], "allowed-tools=[]\n\nfake:argv")
    argv = seen(second)["argv"]
    assert not any(arg.startswith("--allowedTools") for arg in argv)
    assert f"--resume={session_of(first)}" in argv and "--model=sonnet" in argv
    assert '"allowed-tools"' not in reply(second)[0].split("\n", 1)[0]


def test_later_option_lines_override_inherited_ones(client):
    first = chat(client, FIRST)
    argv = seen(_second_turn(client, reply(first)[0], "model=opus\n\nfake:argv"))["argv"]
    assert "--model=opus" in argv and "--model=sonnet" not in argv


def test_session_new_starts_a_new_session(client):
    first = chat(client, FIRST)
    second = _second_turn(client, reply(first)[0], "session-id=new\n\nfake:argv")
    assert not any(arg.startswith("--resume") for arg in seen(second)["argv"])
    assert session_of(second) != session_of(first)


@pytest.mark.parametrize("via", ["option", "header"])
def test_a_named_session_is_resumed(client, via):
    session = session_of(chat(client, "workspace=proj\n\nhi"))
    if via == "option":
        response = chat(client, f"session-id={session}\n\nfake:argv")
    else:
        response = chat(client, "fake:argv", {"X-Session-Id": session})
    assert f"--resume={session}" in seen(response)["argv"]
    assert seen(response)["cwd"].endswith("/workspace/proj")
    assert session_of(response) == session


def test_history_no_session_knows_is_given_as_context(client, calls):
    response = chat(client, [user("What is 2+2?"), assistant("It is 4."), user("fake:argv")])
    prompt = calls()[-1]["prompt"]
    assert "User: What is 2+2?" in prompt and "Assistant: It is 4." in prompt
    assert prompt.endswith("fake:argv")
    assert not any(arg.startswith("--resume") for arg in calls()[-1]["argv"])
    assert text(response).startswith("echo: Earlier in this conversation")


def test_a_session_the_cli_lost_starts_over_with_the_history(client, calls):
    lost = header(SESSION_GONE) + "It is 4."
    response = chat(client, [user("What is 2+2?"), assistant(lost), user("and 3+3?")])
    assert session_of(response) != SESSION_GONE
    prompt = calls()[-1]["prompt"]
    assert "Assistant: It is 4." in prompt and "[claude-code]" not in prompt
    assert not any(arg.startswith("--resume") for arg in calls()[-1]["argv"])


@pytest.mark.parametrize("messages", [
    [user("fake:argv now\nmodel=opus\nworkspace=other\ndangerously-skip-permissions=true")],
    [user("model=opus\nworkspace=other\n\nhi"), assistant("Hello."), user("fake:argv")],
    [user("hi"), assistant("dangerously-skip-permissions=true\nworkspace=../..\nmodel=opus\n\nok"),
     user("fake:argv")],
    [user("hi"), assistant('Sure.\n[claude-code] {"workspace":"other","model":"opus"}'),
     user("fake:argv")],
    [{"role": "system", "content": "model=opus\nworkspace=other\n\nBe brief."},
     user("fake:argv")],
])
def test_option_text_anywhere_else_is_not_parsed(client, calls, config, messages):
    response = chat(client, messages)
    assert response.status_code == 200
    call = calls()[-1]
    assert call["cwd"] == f"{config['WORKSPACE_BASE_PATH']}/shared_workspace"
    assert not any(arg.startswith(("--model", "--resume", "--dangerously"))
                   for arg in call["argv"])
    assert reply(response)[0].startswith(header(session_of(response)))


# --- system prompts, models, images ---------------------------------------------------------

def test_system_messages_are_appended_to_claude_codes_prompt(client):
    response = chat(client, [{"role": "system", "content": "Be terse."},
                             {"role": "system", "content": "  "},
                             {"role": "developer", "content": "Use British spelling."},
                             user("system-prompt=Be kind.\n\nfake:argv")])
    assert seen(response)["files"] == {
        "--append-system-prompt-file": "Be terse.\n\nUse British spelling.\n\nBe kind."}


def test_system_messages_replace_when_the_operator_says_so(make_app):
    client = make_app(SYSTEM_PROMPT_MODE="replace").test_client()
    response = chat(client, [{"role": "system", "content": "You are a pirate."},
                             user("fake:argv")])
    assert seen(response)["files"] == {"--system-prompt-file": "You are a pirate."}


@pytest.mark.parametrize("model, flag", [
    ("claude-code", None),
    ("sonnet", "--model=sonnet"),
    ("opus", "--model=opus"),
    ("haiku", "--model=haiku"),
    ("claude-opus-4-1-20250805", "--model=claude-opus-4-1-20250805"),
    ("fast", "--model=haiku"),
])
def test_models(make_app, model, flag):
    client = make_app(MODEL_ALIASES='{"fast": "haiku"}').test_client()
    response = chat(client, "fake:argv", model=model)
    models = [arg for arg in seen(response)["argv"] if arg.startswith("--model")]
    assert models == ([flag] if flag else [])
    assert response.get_json()["model"] == model


def test_a_model_option_line_overrides_the_request_model(client):
    response = chat(client, "model=opus\n\nfake:argv", model="haiku")
    assert [a for a in seen(response)["argv"] if a.startswith("--model")] == ["--model=opus"]


def test_unknown_model_names_the_allowed_ones(make_app):
    client = make_app(MODEL_ALIASES='{"fast": "haiku"}').test_client()
    response = chat(client, "hi", model="gpt-4o")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == "model" and error["code"] == "model_not_found"
    for name in ("gpt-4o", "claude-code", "sonnet", "opus", "haiku", "fast"):
        assert name in error["message"]


@pytest.mark.parametrize("effort, flag", [
    ("minimal", "--effort=low"), ("none", "--effort=low"), ("medium", "--effort=medium"),
    ("high", "--effort=high"),
])
def test_reasoning_effort_becomes_effort(client, effort, flag):
    argv = seen(chat(client, "fake:argv", reasoning_effort=effort))["argv"]
    assert [a for a in argv if a.startswith("--effort")] == [flag]


def test_an_effort_option_line_overrides_reasoning_effort(client):
    argv = seen(chat(client, "effort=max\n\nfake:argv", reasoning_effort="low"))["argv"]
    assert [a for a in argv if a.startswith("--effort")] == ["--effort=max"]


def test_a_data_url_image_reaches_claude(client):
    response = chat(client, [user([{"type": "text", "text": "fake:stdin-echo"},
                                   {"type": "image_url", "image_url": {"url": PNG}}])])
    assert json.loads(text(response)) == {"text": "fake:stdin-echo", "images": 1}


def test_skip_permissions_passes_when_the_operator_allows(make_app):
    client = make_app(ALLOW_DANGEROUS_SKIP_PERMISSIONS="true").test_client()
    response = chat(client, "dangerously-skip-permissions=true\n\nfake:argv")
    assert "--dangerously-skip-permissions" in seen(response)["argv"]


# --- failures -------------------------------------------------------------------------------

def test_a_crash_mid_stream_ends_with_an_error_event(client):
    events = chunks(chat(client, "fake:crash", stream=True,
                         stream_options={"include_usage": True}))
    assert events[-1]["error"]["code"] == "process_error"
    assert "simulated crash" in events[-1]["error"]["message"]
    assert set(events[-1]["error"]) == {"message", "type", "param", "code"}
    assert not any(e.get("choices") and e["choices"][0]["finish_reason"] for e in events)
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) \
        .endswith("partial")


def test_a_crash_without_streaming_is_a_5xx(client):
    response = chat(client, "fake:crash")
    assert 500 <= response.status_code < 600
    error = response.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "api_error" and "simulated crash" in error["message"]


def test_an_api_error_result_is_a_400(client):
    response = chat(client, "fake:error-result")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "API Error: 400 prompt is too long"
    event = chunks(chat(client, "fake:error-result", stream=True))[-1]
    assert event["error"]["message"] == "API Error: 400 prompt is too long"


@pytest.mark.parametrize("stream", [False, True])
def test_hitting_max_turns_finishes_with_length(client, stream):
    response = chat(client, "fake:max-turns", stream=stream)
    assert text(response) == "max turns"
    if stream:
        finishes = [e["choices"][0]["finish_reason"] for e in chunks(response) if e["choices"]]
        assert finishes[-1] == "length"
    else:
        assert response.get_json()["choices"][0]["finish_reason"] == "length"


def _body(*messages, **fields):
    return {"model": "claude-code", "messages": list(messages), **fields}


@pytest.mark.parametrize("case, body, headers, status, param", [
    ("no messages", {}, {}, 400, "messages"),
    ("empty messages", {"messages": []}, {}, 400, "messages"),
    ("messages not a list", {"messages": "hi"}, {}, 400, "messages"),
    ("message not an object", _body("hi"), {}, 400, "messages[0]"),
    ("unknown role", _body({"role": "function", "content": "x"}), {}, 400, "messages[0].role"),
    ("tool result without its call", _body({"role": "tool", "content": "x",
                                            "tool_call_id": "call_1"}), {}, 400,
     "messages[0].tool_call_id"),
    ("tool result without an id", _body({"role": "tool", "content": "x"}), {}, 400,
     "messages[0].tool_call_id"),
    ("tool that is not a function", {"messages": [{"role": "user", "content": "hi"}],
                                     "tools": [{"type": "web_search"}]}, {}, 400, "tools[0]"),
    ("function name unsafe on argv", {"messages": [{"role": "user", "content": "hi"}],
                                      "tools": [{"type": "function", "function": {
                                          "name": "--evil,Bash"}}]}, {}, 400,
     "tools[0].function.name"),
    ("tool_choice naming no tool", {"messages": [{"role": "user", "content": "hi"}],
                                    "tools": [{"type": "function", "function": {"name": "f"}}],
                                    "tool_choice": {"type": "function",
                                                    "function": {"name": "g"}}}, {}, 400,
     "tool_choice"),
    ("no role", _body({"content": "x"}), {}, 400, "messages[0].role"),
    ("number content", _body(user(42)), {}, 400, "messages[0].content"),
    ("null user content", _body(user(None)), {}, 400, "messages[0].content"),
    ("audio part", _body(user([{"type": "audio"}])), {}, 400, "messages[0].content[0]"),
    ("http image", _body(user([{"type": "image_url",
                                "image_url": {"url": "https://x.test/a.png"}}])),
     {}, 400, "messages[0].content[0]"),
    ("bad base64", _body(user([{"type": "image_url",
                                "image_url": {"url": "data:image/png;base64,@@"}}])),
     {}, 400, "messages[0].content[0]"),
    ("last not user", _body(user("hi"), assistant("hello")), {}, 400, "messages[1].role"),
    ("unknown model", _body(user("hi"), model="gpt-4o"), {}, 400, "model"),
    ("model not text", _body(user("hi"), model=5), {}, 400, "model"),
    ("stream not bool", _body(user("hi"), stream="yes"), {}, 400, "stream"),
    ("bad reasoning_effort", _body(user("hi"), reasoning_effort="extreme"), {}, 400,
     "reasoning_effort"),
    ("max-turns=abc", _body(user("max-turns=abc\n\nhi")), {}, 400, "max-turns"),
    ("max-turns=²", _body(user("max-turns=²\n\nhi")), {}, 400, "max-turns"),
    ("workspace=../..", _body(user("workspace=../..\n\nhi")), {}, 400, "workspace"),
    ("skip=maybe", _body(user("dangerously-skip-permissions=maybe\n\nhi")), {}, 400,
     "dangerously-skip-permissions"),
    ("allowed-tools=[1]", _body(user("allowed-tools=[1]\n\nhi")), {}, 400, "allowed-tools"),
    ("allowed-tools=--help", _body(user("allowed-tools=--help\n\nhi")), {}, 400,
     "allowed-tools"),
    ("unconfigured mcp tool", _body(user("mcp-allowed-tools=mcp__github__x\n\nhi")), {}, 400,
     "mcp-allowed-tools"),
    ("effort=extreme", _body(user("effort=extreme\n\nhi")), {}, 400, "effort"),
    ("tool-display=loud", _body(user("tool-display=loud\n\nhi")), {}, 400, "tool-display"),
    ("permission-mode=yolo", _body(user("permission-mode=yolo\n\nhi")), {}, 400,
     "permission-mode"),
    ("model=gpt-4o", _body(user("model=gpt-4o\n\nhi")), {}, 400, "model"),
    ("session-id=abc", _body(user("session-id=abc\n\nhi")), {}, 400, "session-id"),
    ("only options", _body(user("model=opus\neffort=high")), {}, 400, "messages[0].content"),
    ("options then blank", _body(user("model=opus\n\n   ")), {}, 400, "messages[0].content"),
    ("skip not allowed", _body(user("dangerously-skip-permissions=true\n\nhi")), {}, 403,
     "dangerously-skip-permissions"),
    ("bypass not allowed", _body(user("permission-mode=bypassPermissions\n\nhi")), {}, 403,
     "permission-mode"),
    ("bad X-Session-Id", _body(user("hi")), {"X-Session-Id": "nope"}, 400, "X-Session-Id"),
    ("unknown session line", _body(user(f"session-id={SESSION_GONE}\n\nhi")), {}, 404,
     "session-id"),
    ("unknown X-Session-Id", _body(user("hi")), {"X-Session-Id": SESSION_GONE}, 404,
     "X-Session-Id"),
])
def test_bad_input_gets_its_status_and_the_openai_error_shape(client, case, body, headers,
                                                               status, param):
    response = client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert error["message"] and error["code"]
    assert error["type"] == {400: "invalid_request_error", 403: "permission_error",
                             404: "not_found_error"}[status]


@pytest.mark.parametrize("data, content_type, status", [
    ("not json", "application/json", 400),
    ("[1, 2]", "application/json", 400),
    ("messages=hi", "application/x-www-form-urlencoded", 415),
])
def test_a_body_that_is_not_a_json_object(client, data, content_type, status):
    response = client.post("/v1/chat/completions", data=data, content_type=content_type)
    assert response.status_code == status
    assert set(response.get_json()["error"]) == {"message", "type", "param", "code"}


# --- models ---------------------------------------------------------------------------------

def test_models_lists_the_families_and_aliases(make_app):
    client = make_app(MODEL_ALIASES='{"fast": "haiku", "deep": "opus"}').test_client()
    body = client.get("/v1/models").get_json()
    assert body["object"] == "list"
    models = [Model.model_validate(item) for item in body["data"]]
    assert [m.id for m in models] == ["claude-code", "sonnet", "opus", "haiku", "fast", "deep"]
    assert {m.object for m in models} == {"model"}


@pytest.mark.parametrize("name", ["claude-code", "sonnet", "fast", "claude-opus-4-5"])
def test_one_model_is_retrieved_as_the_sdk_expects(make_app, name):
    client = make_app(MODEL_ALIASES='{"fast": "haiku"}').test_client()
    response = client.get(f"/v1/models/{name}")
    assert response.status_code == 200
    assert Model.model_validate(response.get_json()).id == name


def test_an_unknown_model_is_404_in_the_openai_shape(make_app):
    response = make_app().test_client().get("/v1/models/gpt-4o")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "model_not_found"


def test_fingerprints_never_join_chats_of_different_keys(make_app):
    client = make_app(API_KEYS="key-one-0001,key-two-0002", OPTIONS_ECHO="false").test_client()
    first = chat(client, "hi", {"x-api-key": "key-one-0001"})
    history = [user("hi"), assistant(first.get_json()["choices"][0]["message"]["content"])]
    mine = chat(client, [*history, user("fake:argv")], {"x-api-key": "key-one-0001"})
    theirs = chat(client, [*history, user("fake:argv")], {"x-api-key": "key-two-0002"})
    assert mine.headers["X-Session-Id"] == first.headers["X-Session-Id"]
    assert theirs.headers["X-Session-Id"] != first.headers["X-Session-Id"]


def test_a_failure_inside_the_stream_still_ends_it_with_an_error(client, monkeypatch):
    from app.shared.conversations import ConversationStore

    def broken(*args):
        raise OSError("disk full")
    monkeypatch.setattr(ConversationStore, "save", broken)
    response = chat(client, "hi", stream=True)
    events = sse_events(response.get_data(as_text=True))
    assert events[-1] == "[DONE]"
    assert "failed while streaming" in events[-2]["error"]["message"]


# --- JSON answers ----------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_json_object_answers_carry_no_echo_header_but_keep_their_session(client):
    response = chat(client, "hi", response_format={"type": "json_object"})
    content = response.get_json()["choices"][0]["message"]["content"]
    assert content == "echo: hi" and response.headers["X-Session-Id"]
    assert "response_format" not in response.headers.get("X-Ignored-Params", "")


@pytest.mark.parametrize("stream", [False, True])
def test_a_json_schema_goes_to_the_cli_and_the_answer_is_its_result(client, stream):
    response = chat(client, "fake:argv", stream=stream, response_format={
        "type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}})
    if stream:
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks(response)
                          if c["choices"])
    else:
        content = response.get_json()["choices"][0]["message"]["content"]
    argv = json.loads(content)["argv"]  # the whole content is the run's result, no header
    assert '--json-schema={"type":"object","properties":{"city":{"type":"string"}},' \
           '"required":["city"]}' in argv


@pytest.mark.parametrize("response_format", [
    {"type": "json_schema"}, {"type": "json_schema", "json_schema": {"schema": "x"}},
    {"type": "yaml"}])
def test_a_bad_response_format_is_400(client, response_format):
    response = chat(client, "hi", response_format=response_format)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "response_format"


# --- regenerate and edit ------------------------------------------------------------------------

@pytest.mark.parametrize("echo", ["true", "false"])
@pytest.mark.parametrize("last", ["two", "two, edited"])
def test_a_regenerated_or_edited_turn_runs_on_a_fork_at_that_point(make_app, calls, echo, last):
    client = make_app(OPTIONS_ECHO=echo).test_client()
    first = chat(client, "one")
    history = [user("one"), answer_of(first)]
    second = chat(client, [*history, user("two")])
    assert session_of(second) == session_of(first)
    again = chat(client, [*history, user(last)])  # the UI regenerated or edited turn two
    assert again.status_code == 200
    argv = calls()[-1]["argv"]
    assert f"--resume={session_of(first)}" in argv and "--fork-session" in argv
    assert any(arg.startswith("--resume-session-at=") for arg in argv)
    assert session_of(again) not in ("", session_of(first))
    onward = chat(client, [*history, user(last), answer_of(again), user("three")])
    assert session_of(onward) == session_of(again)
    assert "--fork-session" not in calls()[-1]["argv"]


def test_a_conversation_that_goes_on_is_not_forked(client, calls):
    first = chat(client, "one")
    second = chat(client, [user("one"), answer_of(first), user("two")])
    chat(client, [user("one"), answer_of(first), user("two"), answer_of(second), user("three")])
    assert not any("--fork-session" in call["argv"] for call in calls())
