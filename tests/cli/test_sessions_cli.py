"""The sessions API with the real CLI: list, show (turns read from the CLI's own file), fork
(the fork sees the earlier turns, the original never sees the fork's), delete, other keys."""

from pathlib import Path

import pytest
import requests

from app.claude import transcripts
from tests.support.anthropic_standin import Text, ToolUse
from tests.support.live_cli import KEY, conversation, serve_worker_class, served_by
from tests.support.sandbox_paths import config_folder
from tests.support.streams import sse_events
from tests.support.waiting import wait_until

OTHER = "sessions-other-key"
KEYS = [KEY, OTHER, "sessions-list-key", "sessions-show-key", "sessions-fork-key",
        "sessions-delete-key", "sessions-cost-key"]


@pytest.fixture(scope="module", params=["gthread", "gevent"])
def server(request, standin, tmp_path_factory):
    """One worker that keeps sessions loaded, so a second turn is live."""
    yield from serve_worker_class(request, standin, tmp_path_factory, "sessions",
                                  API_KEYS=",".join(KEYS), WARM_POOL_SIZE="0",
                                  LIVE_IDLE_MS="600000", MAX_CLAUDE_PROCESSES="4")


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def ask(server, key: str, prompt: str, **body) -> tuple[list, str]:
    """A streamed /api/claude turn: its events, and whether a live process answered it."""
    response = requests.post(server.url + "/api/claude", headers=auth(key), timeout=120,
                             json={"prompt": prompt, **body})
    assert response.status_code == 200, response.text
    return sse_events(response.text), served_by(server, response.headers["X-Request-Id"])


def call(server, method: str, path: str, key: str, status: int = 200) -> dict:
    response = requests.request(method, f"{server.url}/api/claude/sessions{path}",
                                headers=auth(key), timeout=60)
    assert response.status_code == status, response.text
    return response.json()


def session_file(server, session_id: str, key: str):
    """Where the CLI keeps the session: in the config folder of the key that owns it."""
    return transcripts.find(session_id, config_folder(Path(server.env["STATE_DIR"]), key))


def texts_sent(standin) -> list[str]:
    return [text for _, texts in conversation(standin) for text in texts]


def test_the_list_is_the_keys_own_newest_first_a_page_at_a_time(server, standin):
    key = "sessions-list-key"
    standin.script(Text("First answer"), Text("Second answer"))
    first, _ = ask(server, key, "Plan the garden\nwith roses", workspace="garden")
    second, _ = ask(server, key, "Fix the bike")
    ids = [second[-1]["session_id"], first[-1]["session_id"]]
    page = call(server, "GET", "?limit=1", key)
    assert [s["id"] for s in page["data"]] == ids[:1] and page["has_more"] is True
    rest = call(server, "GET", f"?limit=1&after={page['last_id']}", key)
    assert [s["id"] for s in rest["data"]] == ids[1:] and rest["has_more"] is False
    garden = rest["data"][0]
    assert (garden["title"], garden["workspace"], garden["turns"]) == ("Plan the garden",
                                                                      "garden", 1)
    assert garden["total_cost_usd"] == pytest.approx(first[-1]["total_cost_usd"])
    assert page["data"][0]["workspace"] is None
    assert call(server, "GET", "", OTHER)["data"] == []


def test_show_reads_the_turns_from_the_cli_file(server, standin):
    key = "sessions-show-key"
    standin.script([Text("Let me look."), ToolUse("Bash", {"command": "echo hi",
                                                           "description": "say hi"})],
                   [Text("It said"), Text("hi.")], Text("Nothing else."))
    first, _ = ask(server, key, "Run echo hi please", **{"allowed-tools": ["Bash"]})
    session = first[-1]["session_id"]
    ask(server, key, "Anything else?", **{"session-id": session})
    shown = call(server, "GET", f"/{session}", key)
    assert shown["id"] == session and shown["turns"] == 2
    assert [(t["prompt"], t["reply"]) for t in shown["turns_detail"]] == [
        ("Run echo hi please", "Let me look.\n\nIt said\n\nhi."),
        ("Anything else?", "Nothing else."),
    ]
    assert all(isinstance(t["created_at"], int) for t in shown["turns_detail"])
    assert session_file(server, session, key) is not None


def test_a_fork_sees_the_earlier_turns_and_the_original_never_sees_the_forks(server, standin):
    key = "sessions-fork-key"
    standin.script(Text("Noted: 42"))
    source = ask(server, key, "Remember the number 42")[0][-1]["session_id"]
    fork = call(server, "POST", f"/{source}/fork", key, 201)
    assert fork["forked_from"] == source and fork["title"] == "Remember the number 42"
    assert [t["reply"] for t in call(server, "GET", f"/{fork['id']}", key)["turns_detail"]] \
        == ["Noted: 42"]
    late = call(server, "POST", f"/{source}/fork", key, 201)["id"]  # forked before turn two

    standin.script(Text("It was 42"), Text("Nothing from a fork"), Text("Only 42"))
    on_fork, _ = ask(server, key, "Fork: which number?", **{"session-id": fork["id"]})
    assert on_fork[-1]["session_id"] == fork["id"] and on_fork[-1]["result"] == "It was 42"
    assert {"Remember the number 42", "Noted: 42"} <= set(texts_sent(standin))
    ask(server, key, "Original: anything new?", **{"session-id": source})
    assert "Fork: which number?" not in texts_sent(standin)
    ask(server, key, "Late fork: what do you know?", **{"session-id": late})
    assert "Original: anything new?" not in texts_sent(standin)
    assert "Noted: 42" in texts_sent(standin)

    standin.script(Text("Still 42"))
    chat = requests.post(server.url + "/v1/chat/completions", headers=auth(key), timeout=120,
                         json={"model": "claude-code", "messages": [{"role": "user", "content":
                               f"session-id={fork['id']}\n\nAnd through chat?"}]})
    assert chat.status_code == 200 and chat.headers["X-Session-Id"] == fork["id"]
    sent = texts_sent(standin)
    assert "Fork: which number?" in sent and "Original: anything new?" not in sent
    turns = call(server, "GET", f"/{source}", key)["turns_detail"]
    assert [t["prompt"] for t in turns] == ["Remember the number 42", "Original: anything new?"]


def test_delete_forgets_the_session_stops_its_process_and_removes_its_file(server, standin):
    key = "sessions-delete-key"
    standin.script(Text("Noted"))
    session = ask(server, key, "Remember pineapple")[0][-1]["session_id"]
    assert wait_until(lambda: session_file(server, session, key) is not None, seconds=5)
    idle = requests.get(server.url + "/health").json()["processes"]["idle"]
    assert call(server, "DELETE", f"/{session}", key) == {
        "id": session, "object": "session", "deleted": True}
    assert requests.get(server.url + "/health").json()["processes"]["idle"] == idle - 1
    assert session_file(server, session, key) is None
    assert session not in [s["id"] for s in call(server, "GET", "", key)["data"]]
    call(server, "GET", f"/{session}", key, 404)
    resumed = requests.post(server.url + "/api/claude", headers=auth(key), timeout=60,
                            json={"prompt": "Still there?", "session-id": session})
    assert resumed.status_code == 404
    assert resumed.json()["error"]["code"] == "session_not_found"
    assert session_file(server, session, key) is None


def test_another_key_gets_404_on_every_route(server, standin):
    session = ask(server, KEY, "Mine alone")[0][-1]["session_id"]
    for method, path in (("GET", f"/{session}"), ("POST", f"/{session}/fork"),
                         ("DELETE", f"/{session}")):
        error = call(server, method, path, OTHER, 404)["error"]
        assert error["code"] == "session_not_found" and error["param"] == "session-id"
    assert call(server, "GET", f"/{session}", KEY)["id"] == session


def test_the_cost_counts_each_turn_once_on_a_live_process(server, standin):
    key = "sessions-cost-key"
    standin.script(Text("One two three"), Text("Four"))
    first, _ = ask(server, key, "Count with me")
    session = first[-1]["session_id"]
    second, how = ask(server, key, "Go on", **{"session-id": session})
    assert how == "live"
    # a live process reports its cost so far: turn two's figure holds turn one's too
    assert second[-1]["total_cost_usd"] > first[-1]["total_cost_usd"]
    total = call(server, "GET", f"/{session}", key)["total_cost_usd"]
    assert total == pytest.approx(second[-1]["total_cost_usd"])
