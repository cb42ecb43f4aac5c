"""Function calling and tool approvals as pure units: the client-tool MCP server, approvals
and their desk, pauses, translation to OpenAI deltas, and chat request parsing."""

import json

import pytest
from sqlalchemy import text as sql

from app.chat.answer import gather_calls
from app.chat.conversations import context_text, fingerprint, results_text
from app.chat.converse import _yes_no
from app.chat.message import Message, ToolCall
from app.chat.translate import Delta, Translator, question
from app.claude.approvals import Approval, ApprovalDesk, allow, deny
from app.claude.client_tools import ClientTool, ClientToolServer
from app.claude.events import Event
from app.errors import Conflict, NotFound
from app.shared.approvals import ApprovalBook
from app.surfaces.openai.format import call_entries, completion
from app.surfaces.openai.request import parse_chat
from app.turns.pauses import PauseWatch
from tests.support.control import WRITE_ASK, FakeProcess
from tests.support.postgres import both_databases

WEATHER = ClientTool("get_weather", "The weather in a city",
                     '{"type":"object","properties":{"city":{"type":"string"}}}')
BASH_RULE = {"toolName": "Bash", "ruleContent": "git log:*"}
BASH_ASK = {"subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": "git log"},
            "tool_use_id": "toolu_9", "description": "Show history",
            "permission_suggestions": [{"type": "addRules", "rules": [BASH_RULE],
                                        "behavior": "allow", "destination": "session"}]}


def rpc(method, rpc_id=None, **params) -> dict:
    """An `mcp_message` control request body carrying one JSON-RPC message."""
    message = {"jsonrpc": "2.0", "method": method, "params": params}
    if rpc_id is not None:
        message["id"] = rpc_id
    return {"subtype": "mcp_message", "server_name": "client", "message": message}


def call(rpc_id, tool_use_id) -> dict:
    return rpc("tools/call", rpc_id, name="get_weather", arguments={"city": "Paris"},
               _meta={"claudecode/toolUseId": tool_use_id})


def answered(rpc_id, text, is_error=False) -> dict:
    """What the server sends the CLI for a call it answers."""
    return {"mcp_response": {"jsonrpc": "2.0", "id": rpc_id, "result": {
        "content": [{"type": "text", "text": text}], "isError": is_error}}}


def server_sending() -> tuple[ClientToolServer, list]:
    server, sent = ClientToolServer((WEATHER,)), []
    server.reply = lambda request_id, body: sent.append((request_id, body))
    return server, sent


def stream(api_event: dict, parent: str | None = None) -> Event:
    return Event.made({"type": "stream_event", "event": api_event, "parent_tool_use_id": parent})


def tool_block(index: int, tool_id: str, name: str, arguments: str) -> list[Event]:
    """A whole streamed tool_use block: start, one input delta, stop."""
    return [stream({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": tool_id, "name": name}}),
            stream({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": arguments}}),
            stream({"type": "content_block_stop", "index": index})]


def tool_result(tool_use_id: str, text: str) -> Event:
    """A user event carrying one tool result."""
    return Event.made({"type": "user", "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}]}})


def feed_all(translator: Translator, events: list[Event]) -> list[Delta]:
    return [delta for event in events for delta in translator.feed(event)]


@pytest.fixture
def book(state_db) -> ApprovalBook:
    return ApprovalBook(state_db)


# 1. The client-tool MCP server

def test_server_answers_initialize_notifications_listing_and_unknown_methods():
    server, _ = server_sending()
    init = server.handle("r1", rpc("initialize", 0, protocolVersion="2024-11-05"))
    assert init["mcp_response"]["id"] == 0
    assert init["mcp_response"]["result"]["protocolVersion"] == "2024-11-05"
    assert server.handle("r2", rpc("notifications/initialized"))["mcp_response"]["result"] == {}
    listing = server.handle("r3", rpc("tools/list", 1))["mcp_response"]["result"]
    assert listing == {"tools": [{"name": "get_weather", "description": "The weather in a city",
                                  "inputSchema": json.loads(WEATHER.schema)}]}
    unknown = server.handle("r4", rpc("resources/list", 2))["mcp_response"]
    assert unknown["id"] == 2 and unknown["error"]["code"] == -32601 and "result" not in unknown


def test_a_call_is_held_until_answered_then_sent_on_its_request_id():
    server, sent = server_sending()
    assert server.handle("req_7", call(3, "toolu_1")) is None
    assert server.held() == ["toolu_1"] and sent == []
    server.answer("toolu_1", "sunny")
    assert sent == [("req_7", answered(3, "sunny"))]
    assert server.held() == []


def test_a_result_given_before_its_call_is_sent_when_the_call_comes():
    server, sent = server_sending()
    server.answer("toolu_2", "rainy")
    assert sent == []
    assert server.handle("req_8", call(4, "toolu_2")) is None
    assert sent == [("req_8", answered(4, "rainy"))] and server.held() == []


def test_fail_all_answers_held_calls_and_later_ones_with_an_error():
    server, sent = server_sending()
    server.handle("req_1", call(1, "toolu_a"))
    server.fail_all("The client never came back.")
    assert sent == [("req_1", answered(1, "The client never came back.", is_error=True))]
    server.handle("req_2", call(2, "toolu_b"))
    assert sent[1] == ("req_2", answered(2, "The client never came back.", is_error=True))
    assert server.held() == []


# 2. Approval: the question and the CLI's answer

def test_approval_asked_allow_keeps_or_replaces_the_input():
    approval = Approval.asked(BASH_ASK, "alice", "sess", timeout=60)
    assert approval.id.startswith("perm_") and approval.tool_name == "Bash"
    assert approval.tool_use_id == "toolu_9" and approval.description == "Show history"
    assert approval.response(allow()) == {"behavior": "allow",
                                          "updatedInput": {"command": "git log"}}
    assert approval.response(allow({"command": "git log -1"}))["updatedInput"] == \
        {"command": "git log -1"}


def test_allow_always_adds_the_suggested_rule_or_the_tool_name():
    approval = Approval.asked(BASH_ASK, "alice", None, timeout=60)
    assert approval.rule() == "Bash(git log:*)"
    update = approval.response(allow(always=True))["updatedPermissions"]
    assert update[0]["type"] == "addRules"
    assert update[0]["rules"] == [BASH_RULE]
    plain = Approval.asked(WRITE_ASK, "alice", None, timeout=60)
    assert plain.response(allow(always=True))["updatedPermissions"][0]["rules"] == \
        [{"toolName": "Write"}]
    assert "updatedPermissions" not in plain.response(allow())


def test_deny_carries_the_message_and_interrupt_only_when_asked():
    approval = Approval.asked(WRITE_ASK, "alice", None, timeout=60)
    assert approval.response(deny("Not that file.")) == {"behavior": "deny",
                                                         "message": "Not that file."}
    assert approval.response(deny("Stop.", interrupt=True))["interrupt"] is True


def test_public_view_has_no_rule_and_the_event_has_one():
    approval = Approval.asked(BASH_ASK, "alice", "sess", timeout=60)
    assert "rule" not in approval.public() and approval.public()["request_id"] == approval.id
    event = approval.event()
    assert event["type"] == "permission_request" and event["rule"] == "Bash(git log:*)"
    assert event["input"] == {"command": "git log"} and event["session_id"] == "sess"


# 3. ApprovalBook and ApprovalDesk

@both_databases
def test_held_question_is_pending_for_its_owner_while_its_worker_lives(book):
    desk = ApprovalDesk(book, timeout=60.0)
    approval = desk.hold(FakeProcess(), "cli_1", BASH_ASK, "alice", "sess")
    assert [p["request_id"] for p in book.pending("alice")] == [approval.id]
    assert book.pending("bob") == []
    with book.db.connect() as db:  # as if the worker holding it had died
        db.execute(sql("UPDATE approvals SET worker = :pid WHERE id = :id"),
                   {"pid": 2**31 - 1, "id": approval.id})
    assert book.pending("alice") == []


@both_databases
def test_answer_for_checks_owner_and_settles_once(book):
    desk, process = ApprovalDesk(book, timeout=60.0), FakeProcess()
    approval = desk.hold(process, "cli_1", WRITE_ASK, "alice", None)
    with pytest.raises(NotFound):
        book.answer_for(approval.id, "bob", allow())
    with pytest.raises(NotFound):
        book.answer_for("perm_unknown", "alice", allow())
    book.answer_for(approval.id, "alice", allow())
    assert desk.deliver(approval.id, allow()) is True
    assert process.sent == [("cli_1", {"behavior": "allow", "updatedInput": WRITE_ASK["input"]})]
    with pytest.raises(Conflict, match="already answered"):
        book.answer_for(approval.id, "alice", deny("late"))
    assert desk.waiting(process) == []


@both_databases
def test_tick_delivers_a_decision_recorded_by_another_worker(book):
    desk, process = ApprovalDesk(book, timeout=60.0), FakeProcess()
    approval = desk.hold(process, "cli_2", WRITE_ASK, "alice", None)
    desk.tick()
    assert process.sent == []
    assert book.answer(approval.id, deny("Elsewhere said no.")) is True
    desk.tick()
    assert process.sent == [("cli_2", {"behavior": "deny", "message": "Elsewhere said no."})]


@both_databases
def test_tick_denies_an_expired_question_and_a_late_answer_conflicts(book):
    desk, process = ApprovalDesk(book, timeout=0.0), FakeProcess()
    approval = desk.hold(process, "cli_3", WRITE_ASK, "alice", None)
    desk.tick()
    assert len(process.sent) == 1
    request_id, response = process.sent[0]
    assert request_id == "cli_3" and response["behavior"] == "deny"
    assert "within 0 s" in response["message"]
    with pytest.raises(Conflict, match="not answered in time"):
        book.answer_for(approval.id, "alice", allow())


@both_databases
def test_a_question_answered_elsewhere_as_it_expires_is_still_settled(book):
    desk, process = ApprovalDesk(book, timeout=0.0), FakeProcess()
    approval = desk.hold(process, "cli_4", WRITE_ASK, "alice", None)
    assert book.answer(approval.id, allow()) is True  # another worker, in the last tick
    desk.tick()
    assert [request_id for request_id, _ in process.sent] == ["cli_4"]
    assert desk.waiting(process) == []


@both_databases
def test_a_client_answer_after_expiry_conflicts_before_the_tick(book):
    desk, process = ApprovalDesk(book, timeout=0.0), FakeProcess()
    approval = desk.hold(process, "cli_5", WRITE_ASK, "alice", None)
    with pytest.raises(Conflict, match="not answered in time"):
        book.answer_for(approval.id, "alice", allow())


# 4. PauseWatch

def test_chat_approvals_pause_on_a_permission_request():
    event = Event.made(Approval.asked(WRITE_ASK, "alice", None, 60).event())
    assert PauseWatch(chat_approvals=True, client_functions=False).feed(event) == \
        {"approval": event.data}
    assert PauseWatch(chat_approvals=False, client_functions=True).feed(event) is None


def test_client_calls_pause_at_message_stop_but_claude_tools_and_subagents_do_not():
    watch = PauseWatch(chat_approvals=False, client_functions=True)
    events = [stream({"type": "message_start"}),
              *tool_block(0, "toolu_w", "Write", "{}"),
              *tool_block(1, "toolu_1", "mcp__client__x", "{}"),
              stream({"type": "content_block_start", "index": 0, "content_block": {
                  "type": "tool_use", "id": "toolu_sub", "name": "mcp__client__x"}},
                  parent="toolu_task")]
    assert [watch.feed(event) for event in events] == [None] * len(events)
    assert watch.feed(stream({"type": "message_stop"})) == {"calls": ["toolu_1"]}
    watch.feed(stream({"type": "message_start"}))
    assert watch.feed(stream({"type": "message_stop"})) is None


# 5. Translator

def test_client_calls_become_call_deltas_and_are_never_narrated():
    translator = Translator("narrated")
    deltas = feed_all(translator, [*tool_block(0, "toolu_1", "mcp__client__get_weather",
                                               '{"city":'),
                                   tool_result("toolu_1", "sunny")])
    assert deltas == [
        Delta(call={"index": 0, "id": "toolu_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": ""}}),
        Delta(call={"index": 0, "function": {"arguments": '{"city":'}})]


def test_claude_own_tools_are_still_narrated():
    deltas = feed_all(Translator("narrated"),
                      tool_block(0, "toolu_w", "Write", '{"file_path": "/tmp/a.txt"}'))
    assert deltas == [Delta(content="> 🔧 Write: /tmp/a.txt")]


def test_results_the_client_sent_are_not_narrated_but_others_are():
    translator = Translator("narrated", frozenset({"toolu_1"}))
    assert translator.feed(tool_result("toolu_1", "sunny")) == []
    assert translator.feed(tool_result("toolu_2", "ok")) == [Delta(content="> ↳ done: ok")]


def test_a_permission_request_becomes_a_question_in_the_content():
    data = Approval.asked(WRITE_ASK, "alice", None, 60).event()
    (delta,) = Translator("hidden").feed(Event.made(data))
    assert delta.content == question(data)
    for part in ("**Write**", "/tmp/notes.txt", "**yes**", "**always**", "**no**"):
        assert part in delta.content


# 6. format

def test_gather_calls_joins_pieces_by_index():
    pieces = [{"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}},
              {"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}},
              {"index": 0, "function": {"arguments": '{"x":'}},
              {"index": 1, "function": {"arguments": "{}"}},
              {"index": 0, "function": {"arguments": "1}"}}]
    calls = gather_calls(pieces)
    assert calls == [ToolCall("a", "f", '{"x":1}'), ToolCall("b", "g", "{}")]
    assert call_entries(calls)[0] == {"id": "a", "type": "function",
                                    "function": {"name": "f", "arguments": '{"x":1}'}}


def test_completion_with_tool_calls():
    calls = [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    body = completion("sonnet", "", "", None, "sess", calls, "tool_calls")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == calls and choice["message"]["content"] is None
    assert completion("sonnet", "Let me check.", "", None, None, calls, "tool_calls")[
        "choices"][0]["message"]["content"] == "Let me check."
    assert "tool_calls" not in completion("sonnet", "", "", None, None, [], "stop")[
        "choices"][0]["message"]


# 7. yes / no / always

@pytest.mark.parametrize("text, word", [("Yes!", "yes"), (" NO. ", "no"), ("Always", "always"),
                                        ("yes please", None), ("", None), ("y", None)])
def test_yes_no(text, word):
    assert _yes_no(text) == word


# 8. parse_chat

def chat(*messages, **fields):
    return parse_chat({"messages": list(messages) or [{"role": "user", "content": "hi"}],
                       **fields}, aliases={})


def test_tools_are_parsed_with_a_compact_schema_and_a_default_one():
    request = chat(tools=[{"type": "function", "function": {
        "name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "now"}}], stream_options=None, seed=1)
    assert request.tools == (
        ClientTool("get_weather", "Weather",
                   '{"type":"object","properties":{"city":{"type":"string"}}}'),
        ClientTool("now", "", '{"type":"object","properties":{}}'))
    assert request.tool_guidance is None and request.ignored == ["seed"]


@pytest.mark.parametrize("choice, parallel, offered, says", [
    ("none", None, 0, None),
    ("auto", False, 1, "one at a time"),
    ("required", None, 1, "at least one"),
    ({"type": "function", "function": {"name": "get_weather"}}, None, 1,
     "mcp__client__get_weather"),
])
def test_tool_choice_and_parallel_tool_calls(choice, parallel, offered, says):
    request = chat(tools=[{"type": "function", "function": {"name": "get_weather"}}],
                   tool_choice=choice, parallel_tool_calls=parallel)
    assert len(request.tools) == offered
    assert request.tool_guidance is None if says is None else says in request.tool_guidance


def test_assistant_calls_and_tool_results_are_read():
    request = chat({"role": "user", "content": "Weather?"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                   {"role": "tool", "tool_call_id": "call_1",
                    "content": [{"type": "text", "text": "sunny"},
                                {"type": "text", "text": "20C"}]})
    (made,) = request.messages[1].tool_calls
    assert made.id == "call_1" and isinstance(made.arguments, str)
    assert json.loads(made.arguments) == {"city": "Paris"}
    assert request.messages[2] == Message("tool", "sunny\n20C", tool_call_id="call_1")


# 9. Conversations with function calls

def history(arguments: str, calls: bool = True) -> list[Message]:
    made = (ToolCall("call_1", "get_weather", arguments),) if calls else ()
    return [Message("user", "Weather?"), Message("assistant", "", tool_calls=made),
            Message("tool", "sunny", tool_call_id="call_1")]


def test_fingerprint_counts_call_ids_but_not_argument_text():
    assert fingerprint(history('{"city": "Paris"}'), "k") == \
        fingerprint(history('{"city":"Paris"}'), "k")
    assert fingerprint(history("{}"), "k") != fingerprint(history("{}", calls=False), "k")


def test_results_and_context_text_name_the_calls():
    messages = history('{"city":"Paris"}')
    text = results_text(messages[2:], {"call_1": messages[1].tool_calls[0]})
    assert 'get_weather({"city":"Paris"}), call call_1, returned:\nsunny' in text
    assert "a function, call call_1" in results_text(messages[2:], {})
    context = context_text(messages)
    assert 'Assistant called function get_weather (call call_1) with arguments ' \
        '{"city":"Paris"}' in context
    assert "Result of function call call_1: sunny" in context


@pytest.mark.parametrize("fields,param", [
    ({"tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": {"type": "function", "function": "f"}}, "tool_choice"),
    ({"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "c1", "type": "function",
                        "function": {"name": "f", "arguments": "{}"}}]},
                   {"role": "tool", "tool_call_id": "c1",
                    "content": [{"type": "text", "text": 5}]}]}, "messages[2].content"),
])
def test_malformed_function_fields_are_400_naming_them(fields, param):
    from app.errors import BadRequest
    with pytest.raises(BadRequest) as caught:
        parse_chat({"messages": [{"role": "user", "content": "hi"}], **fields}, aliases={})
    assert caught.value.param == param


def test_an_always_answer_on_the_native_endpoint_adds_a_session_rule():
    decision = allow({"file_path": "x"}, always=True)
    asked = Approval.asked({"tool_name": "Write", "input": {"file_path": "x"},
                            "permission_suggestions": []}, "owner", "s", 60)
    response = asked.response(decision)
    assert response["behavior"] == "allow"
    assert response["updatedPermissions"][0]["rules"] == [{"toolName": "Write"}]


def test_the_native_answer_takes_always():
    from app.web.schemas import permission_answer
    assert permission_answer.load({"behavior": "allow", "always": True})["always"] is True
    assert permission_answer.load({"behavior": "deny"})["always"] is False
