"""docs/clients.md, tested: its bash and python recipes run as written against a real gateway
(gunicorn, the real CLI, the stand-in API), its example outputs are what the gateway prints,
its config blocks parse, and the requests of the UI clients it covers are replayed."""

import json
import os
import re
import subprocess
import sys
from functools import cache
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import yaml

from tests.support.anthropic_standin import Text, Thinking, ToolUse
from tests.support.live_cli import AUTH, KEY, results_claude_got, serve
from tests.support.server import ROOT
from tests.support.streams import sse_events

DOC = ROOT / "docs" / "clients.md"
RECIPE = re.compile(r"<!-- test: ([\w-]+) -->\n```(\w+)\n(.*?)\n```\n", re.S)
RUNNABLE = ("bash", "python", "yaml", "json")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CHECKED_ELSEWHERE = {"curl-setup", "curl-chat-output", "openwebui-options", "openwebui-header",
                     "openwebui-question", "continue-yaml", "continue-json"}


@cache
def recipes() -> dict[str, tuple[str, str]]:
    """Each block of the doc marked `<!-- test: name -->`: name -> (language, text)."""
    return {name: (lang, text) for name, lang, text in RECIPE.findall(DOC.read_text())}


def block(name: str) -> str:
    return recipes()[name][1]


@pytest.fixture(scope="module")
def server(standin, tmp_path_factory):
    yield from serve(standin, tmp_path_factory, "clients-doc", WARM_POOL_SIZE="0",
                     LIVE_IDLE_MS="0")


def client_env(**variables) -> dict:
    """The reader's environment: no Anthropic, OpenAI or Claude settings, plus `variables`."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ANTHROPIC_", "OPENAI_", "CLAUDE_", "GATEWAY_"))}
    return {**clean, **variables}


def run(server, name: str) -> str:
    """Run a recipe as a reader would (a bash one after the setup block); its stdout."""
    lang, code = recipes()[name]
    argv = [sys.executable, "-c", code] if lang == "python" else \
        ["bash", "-eo", "pipefail", "-c", block("curl-setup") + "\n" + code]
    done = subprocess.run(argv, env=client_env(GATEWAY_URL=server.url, GATEWAY_KEY=KEY),
                          cwd=server.workdir, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def workspace(server, name: str):
    """The folder the gateway gives workspace `name` (where Claude's tools write)."""
    return (server.workdir / "ws" / "workspace" / name).resolve()


def header_of(content: str) -> dict:
    first = content.split("\n", 1)[0]
    assert first.startswith("[claude-code] "), content
    return json.loads(first.removeprefix("[claude-code] "))


def test_every_runnable_block_is_a_tested_recipe():
    text = DOC.read_text()
    fences = re.findall(r"^```(\w+)$", text, re.M)
    assert [lang for lang in fences if lang in RUNNABLE] == \
        [lang for lang, _ in recipes().values() if lang in RUNNABLE]
    named_tests = {name[5:].replace("_", "-") for name in globals() if name.startswith("test_")}
    assert set(recipes()) - CHECKED_ELSEWHERE <= named_tests  # each recipe has its own test


def test_curl_setup_keeps_what_is_set_and_shows_the_defaults():
    echo = block("curl-setup") + '\necho "$GATEWAY_URL $GATEWAY_KEY"'
    given = client_env(GATEWAY_URL="http://gw.test:3000", GATEWAY_KEY="k1")
    for env, expected in ((given, "http://gw.test:3000 k1"),
                          (client_env(), "http://127.0.0.1:3000 none")):
        done = subprocess.run(["bash", "-c", echo], env=env, capture_output=True, text=True,
                              timeout=10)
        assert done.stdout.strip() == expected


def test_curl_native_stream(server, standin):
    standin.script(Text("Hello there!"))
    events = sse_events(run(server, "curl-native-stream"))
    assert events[0]["type"] == "run" and events[0]["run_id"].startswith("run_")
    assert events[1]["type"] == "system" and events[1]["cwd"] == "/workspace/demo"
    assert any(e["type"] == "stream_event" for e in events)
    assert events[-1]["type"] == "result" and events[-1]["result"] == "Hello there!"


def test_curl_native_text(server, standin):
    standin.script(Text("Hello there, friend!"))
    assert run(server, "curl-native-text") == "Hello there, friend!"


def test_curl_native_tools(server, standin):
    target = workspace(server, "demo") / "hello.py"
    standin.script(ToolUse("Write", {"file_path": "/workspace/demo/hello.py",
                                     "content": "print('hi')\n"}),
                   Text("Created hello.py"))
    assert run(server, "curl-native-tools") == "Created hello.py\n"
    assert target.read_text() == "print('hi')\n"


def test_curl_native_session(server, standin):
    standin.script(Text("Noted."), Text("It was 42."))
    assert run(server, "curl-native-session") == "It was 42.\n"
    assert "Remember the number 42" in str(standin.requests[-1]["messages"])


def test_curl_chat(server, standin):
    standin.script(Text("Hello there!"))
    out = run(server, "curl-chat")
    assert UUID.sub("3f0c4a5e-…", out) == block("curl-chat-output") + "\n"


def test_curl_chat_stream(server, standin):
    standin.script(Text("Hello there!"))
    events = sse_events(run(server, "curl-chat-stream"))
    assert events[-1] == "[DONE]" and events[-2]["usage"]["completion_tokens"] == 2
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-2])
    assert text.endswith("\n\nHello there!")


def test_curl_messages(server, standin):
    standin.script(Text("Hello there!"))
    out = run(server, "curl-messages")
    assert header_of(out)["session-id"] and out.endswith("\n\nHello there!\n")


def test_openai_chat(server, standin):
    standin.script(Text("Noted."), Text("It was 42."))
    out = run(server, "openai-chat")
    reply, session = out.rsplit("session: ", 1)
    assert header_of(reply) == {"session-id": session.strip(), "workspace": "demo"}
    assert reply.endswith("\n\nIt was 42.\n")
    assert "Remember the number 42" in str(standin.requests[-1]["messages"])


def test_openai_stream(server, standin):
    standin.script(ToolUse("Bash", {"command": "python3 --version"}), Text("Python 3 it is."))
    out = run(server, "openai-stream")
    assert re.search(r"\n\n> 🔧 Bash: python3 --version\n\n> ↳ done: Python 3\.\d+\.\d+\n\n"
                     r"Python 3 it is\.\n\[\d+ tokens\]\n$", out), out


def test_openai_responses(server, standin):
    standin.script(Text("Noted."), Text("It was teal."), Text("Hello there!"))
    first, second = run(server, "openai-responses").split("\n[claude-code] ")
    assert header_of(first)["workspace"] == "demo" and first.endswith("\n\nIt was teal.")
    assert second.endswith("\n\nHello there!\n")
    said = str(standin.requests[-1]["messages"])
    assert "Remember the colour teal" in said and "Which colour was it?" in said


def test_langchain_chat(server, standin):
    standin.script(Text("Hello there!"), Text("One, two, three."))
    out = run(server, "langchain-chat")
    assert header_of(out)["workspace"] == "demo"
    assert "\n\nHello there!\n" in out and out.endswith("\n\nOne, two, three.\n")


def test_langchain_tools(server, standin):
    standin.script(ToolUse("mcp__client__get_weather", {"city": "Paris"}),
                   Text("It is 21 C in Paris."))
    out = run(server, "langchain-tools")
    assert out.startswith("Claude called get_weather {'city': 'Paris'}\n")
    assert out.endswith("\n\nIt is 21 C in Paris.\n")
    assert list(results_claude_got(standin).values()) == ["21 C, sunny"]


def test_anthropic_create(server, standin):
    standin.script(Text("Hello there!"))
    out = run(server, "anthropic-create")
    assert header_of(out)["workspace"] == "demo"
    assert out.endswith("\n\nHello there!\nend_turn 2\n")


def test_anthropic_stream(server, standin):
    standin.script(Text("Hello there!"))
    out = run(server, "anthropic-stream")
    assert header_of(out)["session-id"] and out.endswith("\n\nHello there!\nend_turn\n")


class OpenWebUI:
    """Open WebUI's request: a streamed completion of the whole history, with usage."""

    def __init__(self, server):
        self.server, self.history, self.sessions = server, [], []

    def say(self, text: str) -> tuple[str, str]:
        """Send a message; the reply's content and reasoning, as Open WebUI shows them."""
        self.history.append({"role": "user", "content": text})
        response = requests.post(self.server.url + "/v1/chat/completions", headers=AUTH,
                                 timeout=120, json={
                                     "model": "claude-code", "messages": self.history,
                                     "stream": True, "stream_options": {"include_usage": True}})
        assert response.status_code == 200, response.text
        self.sessions.append(response.headers["X-Session-Id"])
        deltas = [e["choices"][0]["delta"] for e in sse_events(response.text)[:-1]
                  if e["choices"]]
        content = "".join(d.get("content") or "" for d in deltas)
        self.history.append({"role": "assistant", "content": content})
        return content, "".join(d.get("reasoning_content") or "" for d in deltas)


def test_open_webui_options_header_approvals_and_reasoning(server, standin):
    chat, folder = OpenWebUI(server), workspace(server, "my-app")
    standin.script([Thinking("I should look around."), ToolUse("Glob", {"pattern": "*"})],
                   Text("It is an empty project."))
    content, reasoning = chat.say(block("openwebui-options"))
    header, answer = content.split("\n\n", 1)
    assert UUID.sub("3f0c4a5e-1111-4222-8333-444455556666", header) == block("openwebui-header")
    assert answer == "It is an empty project."
    assert reasoning.startswith("I should look around.\n🔧 Glob: *\n↳ done: ")

    note = folder / "notes.txt"
    standin.script(ToolUse("Write", {"file_path": "/workspace/my-app/notes.txt",
                                     "content": "empty"}),
                   Text("Saved notes.txt."))
    content, _ = chat.say("Write notes.txt saying so")
    question = content.split("\n\n", 1)[1]
    assert question == block("openwebui-question") and not note.exists()
    content, _ = chat.say("always")
    assert content.endswith("\n\nSaved notes.txt.") and note.read_text() == "empty"
    assert header_of(content)["allowed-tools"] == ["Read", "Glob", "Grep", "Write"]
    assert len(set(chat.sessions)) == 1


def test_open_webui_lists_the_models_the_doc_names(server):
    models = requests.get(server.url + "/v1/models", headers=AUTH, timeout=10).json()
    assert {"claude-code", "sonnet", "opus", "haiku"} <= {m["id"] for m in models["data"]}


def test_n8n_http_request(server, standin):
    node = json.loads(block("n8n-http-request"))["nodes"][0]
    params = node["parameters"]
    assert node["type"] == "n8n-nodes-base.httpRequest" and params["method"] == "POST"
    assert params["genericAuthType"] == "httpHeaderAuth" and params["specifyBody"] == "json"
    url = server.url + urlsplit(params["url"]).path
    template = params["jsonBody"].removeprefix("=")  # an n8n expression: its {{ }} are JS
    body = json.loads(template.replace("{{ JSON.stringify($json.prompt) }}",
                                       json.dumps('Summarise "Q3" sales')))
    standin.script(Text("Report ready."), Text("Same report."))
    first = requests.post(url, json=body, headers=AUTH,
                          timeout=params["options"]["timeout"] / 1000)
    assert first.status_code == 200 and first.json()["result"] == "Report ready."
    again = requests.post(url, headers=AUTH, timeout=120,
                          json={**body, "session-id": first.json()["session_id"]})
    assert again.json()["result"] == "Same report."
    assert 'Summarise "Q3" sales' in str(standin.requests[-1]["messages"])  # resumed


def test_n8n_chat_model_request_with_sampling_options(server, standin):
    standin.script(Text("Weekly report."))
    response = requests.post(server.url + "/v1/chat/completions", headers=AUTH, timeout=120,
                             json={"model": "claude-code", "temperature": 0.7, "top_p": 1,
                                   "n": 1, "stream": False, "messages": [
                                       {"role": "system", "content": "You are helpful."},
                                       {"role": "user", "content": "workspace=reports\n\nGo"}]})
    content = response.json()["choices"][0]["message"]["content"]
    assert header_of(content)["workspace"] == "reports" and content.endswith("Weekly report.")
    assert "temperature" in response.headers["X-Ignored-Params"]


def continue_models() -> list[dict]:
    """The model entries of both Continue configs, each parsed as Continue would."""
    return [yaml.safe_load(block("continue-yaml"))["models"][0],
            json.loads(block("continue-json"))["models"][0]]


@pytest.mark.parametrize("model", continue_models(), ids=["config.yaml", "config.json"])
def test_continue_config(server, standin, model):
    assert model["provider"] == "openai" and "autocomplete" not in model.get("roles", [])
    base = server.url + urlsplit(model["apiBase"]).path
    listed = requests.get(urljoin(base, "models"), headers=AUTH, timeout=10).json()["data"]
    assert model["model"] in {entry["id"] for entry in listed}
    source = server.workdir / "ws" / "shared_workspace" / "app.py"
    source.write_text("print('hi')\n")
    standin.script(ToolUse("Read", {"file_path": "/workspace/app.py"}), Text("app.py prints hi."))
    headers = {**model["requestOptions"]["headers"], **AUTH}
    response = requests.post(urljoin(base, "chat/completions"), headers=headers, timeout=120,
                             json={"model": model["model"], "stream": True, "messages": [
                                 {"role": "system", "content": "You are an expert developer."},
                                 {"role": "user", "content": "What does app.py do?"}]})
    text = "".join(e["choices"][0]["delta"].get("content") or ""
                   for e in sse_events(response.text)[:-1])
    assert "\n\n> 🔧 Read: /workspace/app.py\n\n> ↳ done: 1\tprint('hi')" in text
    assert text.endswith("\n\napp.py prints hi.")


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/embeddings"])
def test_what_the_doc_says_the_gateway_does_not_offer(server, path):
    response = requests.post(server.url + path, headers=AUTH, timeout=10,
                             json={"model": "claude-code", "prompt": "def f(", "input": "x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
