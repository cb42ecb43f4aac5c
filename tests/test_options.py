"""The in-prompt option grammar of /v1, as pure functions: split, parse, merge, header."""

import pytest

from app.chat import options as opts
from app.errors import BadRequest

SESSION = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize("text, options, rest", [
    ("model=opus\n\nhello", {"model": "opus"}, "hello"),
    ("model=opus\neffort=high\nhello", {"model": "opus", "effort": "high"}, "hello"),
    ("model=opus", {"model": "opus"}, ""),
    ("hello\nmodel=opus", {}, "hello\nmodel=opus"),
    ("hello", {}, "hello"),
    ("\nmodel=opus\n\nhello", {}, "\nmodel=opus\n\nhello"),
    ("model=opus\n\n\nhello", {"model": "opus"}, "\nhello"),
    ("model=opus\nhello\n\neffort=high", {"model": "opus"}, "hello\n\neffort=high"),
    ("model=opus\ncolour=red\neffort=high\n\nhi", {"model": "opus"},
     "colour=red\neffort=high\n\nhi"),
    ("model = opus\nhi", {}, "model = opus\nhi"),
    ("model=opus\r\neffort=high\r\n\r\nhello\r\nworld", {"model": "opus", "effort": "high"},
     "hello\r\nworld"),
    ("model=  opus  \nhi", {"model": "opus"}, "hi"),
    ("model=opus\nmodel=haiku\nhi", {"model": "haiku"}, "hi"),
    ("\n\nhello", {}, "\n\nhello"),
])
def test_split_options_takes_only_the_leading_lines(text, options, rest):
    assert opts.split_options(text) == (options, rest)


@pytest.mark.parametrize("line, options", [
    ("disallowed-tools=Bash", {"disallowed-tools": ["Bash"]}),
    ("mcp-allowed-tools=mcp__github__get_repo", {"mcp-allowed-tools": ["mcp__github__get_repo"]}),
    ("allowed-tools=Read", {"allowed-tools": ["Read"]}),
    ("tools=Read", {}),
])
def test_keys_match_whole(line, options):
    assert opts.split_options(line + "\nhi")[0] == options


@pytest.mark.parametrize("text, meant", [
    ("allow-tools=Write\nhi", "allowed-tools"),
    ("allowed_tools=Write\nhi", "allowed-tools"),
    ("Model=opus\nhi", "model"),
    ("sessionid=new\nhi", "session-id"),
    ("max-turns-x=3\nhi", "max-turns"),
    ("allowed-tools-extra=Read\nhi", "allowed-tools"),
    ("model=opus\nworkspce=demo\nhi", "workspace"),
])
def test_a_leading_key_close_to_an_option_is_refused_naming_it(text, meant):
    with pytest.raises(BadRequest) as raised:
        opts.split_options(text)
    assert f"did you mean '{meant}'" in raised.value.message
    assert raised.value.status == 400 and raised.value.code == "unknown_option"


@pytest.mark.parametrize("text", ["x=5\nhi", "temperature=0.2 please", "tools=Read\nhi",
                                  "\nallow-tools=x", "hi\nallow-tools=x"])
def test_other_key_value_text_is_still_prompt_text(text):
    assert opts.split_options(text) == ({}, text)


def test_values_keep_equals_signs_and_spaces_inside():
    given, _ = opts.split_options("system-prompt=Answer with a = b when asked.\nhi")
    assert given == {"system-prompt": "Answer with a = b when asked."}


@pytest.mark.parametrize("key, text, value", [
    ("allowed-tools", '["Bash(git *)", "Edit"]', ["Bash(git *)", "Edit"]),
    ("allowed-tools", "Read, Write ,Edit", ["Read", "Write", "Edit"]),
    ("allowed-tools", "Read,,", ["Read"]),
    ("allowed-tools", "[]", []),
    ("allowed-tools", "", []),
    ("disallowed-tools", '["WebFetch"]', ["WebFetch"]),
    ("mcp-allowed-tools", "mcp__a__b", ["mcp__a__b"]),
    ("dangerously-skip-permissions", "true", True),
    ("dangerously-skip-permissions", "TRUE", True),
    ("dangerously-skip-permissions", "false", False),
    ("max-turns", "1", 1),
    ("max-turns", "1000", 1000),
    ("session-id", SESSION, SESSION),
    ("session-id", SESSION.upper(), SESSION),
    ("session-id", "new", "new"),
    ("workspace", "my-project_2.x", "my-project_2.x"),
    ("workspace", "", ""),
    ("effort", "low", "low"),
    ("effort", "max", "max"),
    ("tool-display", "narrated", "narrated"),
    ("tool-display", "reasoning", "reasoning"),
    ("model", "claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("system-prompt", "Be terse.", "Be terse."),
    ("permission-mode", "plan", "plan"),
])
def test_parse_value_types_each_key(key, text, value):
    assert opts.parse_value(key, text) == value


@pytest.mark.parametrize("key, text", [
    ("allowed-tools", "[1]"),
    ("allowed-tools", '["Bash", null]'),
    ("allowed-tools", "[Bash"),
    ("disallowed-tools", '["Bash"'),
    ("mcp-allowed-tools", "[true]"),
    ("dangerously-skip-permissions", "maybe"),
    ("dangerously-skip-permissions", "1"),
    ("dangerously-skip-permissions", ""),
    ("max-turns", "abc"),
    ("max-turns", "0"),
    ("max-turns", "1001"),
    ("max-turns", "-1"),
    ("max-turns", "2.5"),
    ("max-turns", ""),
    ("max-turns", "²"),
    ("session-id", "abc"),
    ("session-id", "NEW"),
    ("session-id", "--help"),
    ("session-id", ""),
    ("workspace", "../.."),
    ("workspace", "/etc"),
    ("workspace", "a/b"),
    ("workspace", ".hidden"),
    ("workspace", "-rf"),
    ("effort", "extreme"),
    ("effort", "HIGH"),
    ("tool-display", "loud"),
])
def test_bad_values_name_their_key(key, text):
    with pytest.raises(BadRequest) as raised:
        opts.parse_value(key, text)
    assert raised.value.param == key
    assert raised.value.status == 400


@pytest.mark.parametrize("key", ["model", "workspace", "system-prompt", "permission-mode",
                                 "effort", "tool-display"])
def test_an_empty_text_option_clears_what_was_inherited(key):
    given, _ = opts.split_options(f"{key}=\nhi")
    assert opts.merge({key: "inherited"}, given) == {}


@pytest.mark.parametrize("inherited, given, merged", [
    ({"model": "opus", "effort": "high"}, {"model": "haiku"}, {"model": "haiku", "effort": "high"}),
    ({"allowed-tools": ["Read"]}, {"allowed-tools": []}, {}),
    ({"allowed-tools": ["Read"], "model": "opus"}, {"model": ""}, {"allowed-tools": ["Read"]}),
    ({"allowed-tools": ["Read"]}, {"disallowed-tools": ["Bash"]},
     {"allowed-tools": ["Read"], "disallowed-tools": ["Bash"]}),
    ({"session-id": SESSION, "model": "opus"}, {"session-id": "new"}, {"model": "opus"}),
    ({"session-id": SESSION}, {}, {"session-id": SESSION}),
    ({}, {"dangerously-skip-permissions": False}, {"dangerously-skip-permissions": False}),
    ({}, {}, {}),
])
def test_merge_overrides_key_by_key(inherited, given, merged):
    assert opts.merge(inherited, given) == merged


def test_merge_leaves_its_inputs_alone():
    inherited, given = {"session-id": SESSION}, {"session-id": "new"}
    opts.merge(inherited, given)
    assert inherited == {"session-id": SESSION} and given == {"session-id": "new"}


@pytest.mark.parametrize("options", [
    {},
    {"session-id": SESSION},
    {"session-id": SESSION, "allowed-tools": ["Bash(git *)", "Edit"], "max-turns": 3,
     "dangerously-skip-permissions": False, "workspace": "proj", "model": "opus",
     "effort": "high", "tool-display": "narrated", "permission-mode": "plan"},
    {"system-prompt": "Two lines,\nsays «Grüß Gott» and \"quotes\"."},
    {"disallowed-tools": [], "mcp-allowed-tools": ["mcp__github__get_repo"]},
])
def test_header_round_trips(options):
    header = opts.render_header(options)
    assert header.startswith("[claude-code] {") and "\n" not in header
    assert opts.read_header(header + "\n\nThe answer.") == options
    assert opts.strip_header(header + "\n\nThe answer.") == "The answer."


def test_header_is_one_compact_line_in_a_fixed_key_order():
    header = opts.render_header({"model": "opus", "session-id": SESSION, "colour": "red"})
    assert header == f'[claude-code] {{"session-id":"{SESSION}","model":"opus"}}'


@pytest.mark.parametrize("content", [
    'The answer.\n[claude-code] {"model":"opus"}',
    ' [claude-code] {"model":"opus"}\n\nhi',
    '\n[claude-code] {"model":"opus"}\n\nhi',
    '[claude-code]{"model":"opus"}\n\nhi',
    '[Claude-Code] {"model":"opus"}\n\nhi',
    '[claude-code] {"model":"opus"\n\nhi',
    '[claude-code] {"model":"opus"} and more\n\nhi',
    '[claude-code] ["model","opus"]\n\nhi',
    '[claude-code] "model"\n\nhi',
    '[claude-code] \n\nhi',
    '[claude-code] {"workspace":"../.."}\n\nhi',
    '[claude-code] {"max-turns":0}\n\nhi',
    '[claude-code] {"max-turns":"many"}\n\nhi',
    '[claude-code] {"dangerously-skip-permissions":"maybe"}\n\nhi',
    '[claude-code] {"session-id":"not-a-uuid"}\n\nhi',
    '[claude-code] {"allowed-tools":[1,2]}\n\nhi',
    '[claude-code] {"effort":"extreme","model":"opus"}\n\nhi',
    "",
    "model=opus\n\nhi",
])
def test_read_header_only_trusts_an_intact_header_at_the_very_start(content):
    assert opts.read_header(content) is None
    assert opts.strip_header(content) == content


@pytest.mark.parametrize("content, options", [
    ('[claude-code] {"max-turns":5,"colour":"red"}', {"max-turns": 5}),
    ('[claude-code] {"allowed-tools":"Read,Write"}\n\nhi', {"allowed-tools": ["Read", "Write"]}),
    ('[claude-code] {"dangerously-skip-permissions":true}\n\nhi',
     {"dangerously-skip-permissions": True}),
    ('[claude-code] {}\n\nhi', {}),
])
def test_read_header_reads_values_as_option_lines_would(content, options):
    assert opts.read_header(content) == options


@pytest.mark.parametrize("content, stripped", [
    ('[claude-code] {"model":"opus"}\n\nThe answer.\n\nMore.', "The answer.\n\nMore."),
    ('[claude-code] {"model":"opus"}\nThe answer.', "The answer."),
    ('[claude-code] {"model":"opus"}', ""),
    ("The answer.", "The answer."),
])
def test_strip_header(content, stripped):
    assert opts.strip_header(content) == stripped
