"""Approvals in a chat UI with the real CLI: the reply asks, the next message answers."""

import pytest

from tests.support.anthropic_standin import Text, ToolUse
from tests.support.live_cli import openai_sdk, serve_worker_class
from tests.support.sandbox_paths import inside


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def server(request, standin, tmp_path_factory):
    yield from serve_worker_class(request, standin, tmp_path_factory, "chat-approvals")


@pytest.fixture
def client(server):
    yield from openai_sdk(server)


class Chat:
    """A chat UI: resends the whole history each time, optionally without the echo header."""

    def __init__(self, client, stream=False, strip=False):
        self.client, self.stream, self.strip = client, stream, strip
        self.messages = []

    def say(self, text: str) -> tuple[str, str]:
        """Send a message; the reply's content and finish reason."""
        self.messages.append({"role": "user", "content": text})
        if self.stream:
            chunks = list(self.client.chat.completions.create(
                model="claude-code", messages=self.messages, stream=True))
            content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            finish = next(c.choices[0].finish_reason for c in chunks
                          if c.choices and c.choices[0].finish_reason)
        else:
            reply = self.client.chat.completions.create(model="claude-code",
                                                        messages=self.messages)
            content, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
        kept = content.split("\n\n", 1)[1] if self.strip and content.startswith("[claude") \
            else content
        self.messages.append({"role": "assistant", "content": kept})
        return content, finish


def write(standin, path, then: str):
    standin.script(ToolUse("Write", {"file_path": inside(path, path.parents[2]),
                                     "content": path.name}), Text(then))


def folder(server, name):
    path = server.workdir / "ws" / "workspace" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("stream,strip", [(False, False), (True, True)])
def test_yes_no_always_over_several_requests(server, client, standin, stream, strip):
    ws = folder(server, f"chat-{stream}-{strip}")
    chat = Chat(client, stream=stream, strip=strip)

    write(standin, ws / "a.txt", "Wrote a.")
    content, finish = chat.say(f"approvals=chat\nworkspace={ws.name}\n\nwrite a.txt")
    assert finish == "stop" and "**Write**" in content and "a.txt" in content
    assert "yes" in content and "always" in content
    assert not (ws / "a.txt").exists()
    content, finish = chat.say("Yes!")
    assert content.endswith("Wrote a.") and (ws / "a.txt").read_text() == "a.txt"

    write(standin, ws / "b.txt", "Left b alone.")
    content, _ = chat.say("now b.txt")
    assert "b.txt" in content
    content, _ = chat.say("no")
    assert content.endswith("Left b alone.") and not (ws / "b.txt").exists()

    write(standin, ws / "c.txt", "Wrote c.")
    chat.say("and c.txt")
    content, _ = chat.say("always")
    assert content.endswith("Wrote c.") and (ws / "c.txt").exists()
    if not strip:
        assert '"allowed-tools":["Write"]' in content

    write(standin, ws / "d.txt", "Wrote d without asking.")
    content, finish = chat.say("and d.txt")
    assert content.endswith("Wrote d without asking.") and (ws / "d.txt").exists()


def test_another_message_refuses_and_is_the_next_prompt(client, server, standin):
    ws = folder(server, "chat-other")
    chat = Chat(client)
    write(standin, ws / "e.txt", "unused")
    content, _ = chat.say(f"approvals=chat\nworkspace={ws.name}\n\nwrite e.txt")
    assert "e.txt" in content
    standin.reset()
    standin.script(Text("Here is a joke instead."))
    content, finish = chat.say("actually, tell me a joke")
    assert content.endswith("Here is a joke instead.") and finish == "stop"
    assert not (ws / "e.txt").exists()
    sent = str(standin.requests[-1]["messages"])
    assert "actually, tell me a joke" in sent
