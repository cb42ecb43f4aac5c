"""Tool approvals with the real CLI: a turn that asks, and an answer posted over HTTP."""

import json

import requests

from tests.support.anthropic_standin import Text, ToolUse
from tests.support.live_cli import AUTH, KEY
from tests.support.sandbox_paths import inside


def stream_turn(server, body: dict, on_question) -> list:
    """Run a streamed turn; call `on_question(event)` for each permission_request; all events."""
    events = []
    with requests.post(server.url + "/api/claude", json=body, headers=AUTH, stream=True,
                       timeout=120) as response:
        assert response.status_code == 200, response.text
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                event = json.loads(line[6:])
                events.append(event)
                if event["type"] == "permission_request":
                    on_question(event)
    return events


def answer(server, request_id: str, key: str = KEY, **decision) -> requests.Response:
    return requests.post(f"{server.url}/api/claude/permissions/{request_id}", json=decision,
                         headers={"Authorization": f"Bearer {key}"}, timeout=30)


def write_turn(standin, path, content="from claude") -> dict:
    standin.script(ToolUse("Write", {"file_path": inside(path, path.parents[2]),
                                     "content": content}),
                   Text("Finished."))
    return {"prompt": "write the file", "workspace": "approve", "approvals": True}


def workspace(server):
    path = server.workdir / "ws" / "workspace" / "approve"
    path.mkdir(parents=True, exist_ok=True)
    return path
