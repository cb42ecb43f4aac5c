"""Runs with the real CLI: a dropped stream resumed from Last-Event-ID misses nothing and
repeats nothing; a run told to continue finishes without its client; a cancelled run stops
and its session resumes."""

import requests

from tests.support.anthropic_standin import WAIT_FOREVER, Text, ToolUse
from tests.support.live_cli import AUTH
from tests.support.streams import numbered_events

STORY = " ".join(f"word{i}" for i in range(60))  # sixty deltas


def start(gateway, **body) -> requests.Response:
    response = requests.post(gateway.url + "/api/claude", headers=AUTH, stream=True,
                             timeout=120, json=body)
    assert response.status_code == 200, response.text
    return response


def follow(gateway, run_id: str, after: int | None = None) -> list[tuple[int, str, dict]]:
    """Reconnect to a run (from after `after`) and read it to its end."""
    headers = {**AUTH, **({"Last-Event-ID": str(after)} if after is not None else {})}
    with requests.get(f"{gateway.url}/api/claude/runs/{run_id}/events", headers=headers,
                      stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text
        return list(numbered_events(response.iter_lines(decode_unicode=True)))


def deltas(events) -> str:
    return "".join(data["event"]["delta"]["text"] for _, _, data in events
                   if data["type"] == "stream_event"
                   and data["event"]["type"] == "content_block_delta")


def show(gateway, run_id: str) -> dict:
    answer = requests.get(f"{gateway.url}/api/claude/runs/{run_id}", headers=AUTH, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_dropped_stream_resumes_from_last_event_id_with_every_delta_once(gateway, standin):
    standin.script(Text(STORY))
    response = start(gateway, prompt="Tell a story", **{"on-disconnect": "continue"})
    run_id = response.headers["X-Run-Id"]
    first = []
    for event in numbered_events(response.iter_lines(decode_unicode=True)):
        first.append(event)
        if len(first) == 10:
            break
    response.close()  # the client drops after ten events
    assert first[0][2] == {"type": "run", "run_id": run_id}
    assert [seq for seq, _, _ in first] == list(range(1, 11))
    rest = follow(gateway, run_id, after=first[-1][0])
    assert [seq for seq, _, _ in rest] == list(range(11, 11 + len(rest)))
    assert deltas(first + rest) == STORY
    assert rest[-1][2]["type"] == "result" and rest[-1][2]["result"] == STORY
    assert follow(gateway, run_id) == first + rest  # a finished run replays whole


def test_a_detached_run_completes_without_its_client(gateway, standin, ws):
    standin.script(ToolUse("Bash", {"command": "sleep 2; echo done > finished.txt",
                                    "description": "work a while"}), Text("All finished"))
    response = start(gateway, prompt="Work a while", workspace="detached",
                     **{"allowed-tools": ["Bash"], "on-disconnect": "continue"})
    run_id = response.headers["X-Run-Id"]
    response.close()  # gone before the tool ran
    events = follow(gateway, run_id)
    assert events[-1][2]["type"] == "result" and events[-1][2]["result"] == "All finished"
    run = show(gateway, run_id)
    assert run["status"] == "completed" and run["result"]["result"] == "All finished"
    assert run["workspace"] == "detached" and run["session_id"] == events[-1][2]["session_id"]
    assert (ws / "workspace" / "detached" / "finished.txt").read_text() == "done\n"


def test_a_cancelled_run_stops_and_its_session_resumes(gateway, standin):
    standin.script(ToolUse("Bash", WAIT_FOREVER))
    response = start(gateway, prompt="Wait a long while", workspace="cancelled",
                     **{"allowed-tools": ["Bash"]})
    run_id = response.headers["X-Run-Id"]
    stream = numbered_events(response.iter_lines(decode_unicode=True))
    for _, _, data in stream:
        if data["type"] == "assistant":
            break  # Claude asked for the Bash tool: the sleep runs now
    listed = requests.get(gateway.url + "/api/claude/runs?status=running", headers=AUTH,
                          timeout=30).json()["data"]
    assert run_id in [run["id"] for run in listed]
    answer = requests.post(f"{gateway.url}/api/claude/runs/{run_id}/cancel", headers=AUTH,
                           timeout=30)
    assert answer.status_code == 202 and answer.json()["status"] == "cancelling"
    rest = list(stream)
    assert rest[-1][2]["type"] == "result"
    run = show(gateway, run_id)
    assert rest[-1][2]["subtype"] == "error_during_execution"  # interrupted, not finished
    assert run["status"] == "cancelled"
    assert run["ended_at"] - run["started_at"] < 30  # stopped, not slept out
    standin.script(Text("Back again"))
    again = requests.post(gateway.url + "/api/claude", headers=AUTH, timeout=120,
                          json={"prompt": "Still there?", "workspace": "cancelled",
                                "session-id": run["session_id"], "stream": False})
    assert again.status_code == 200 and again.json()["result"] == "Back again"
