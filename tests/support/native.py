"""Turns on /api/claude through a Flask test client, as the native-surface tests drive them."""

from tests.support.streams import sse_events

LIVE = {"LIVE_IDLE_MS": "60000"}  # a conversation's process stays loaded between turns


def ask(client, prompt: str, headers=None, **fields) -> dict:
    """One non-streaming /api/claude turn's result."""
    response = client.post("/api/claude", json={"prompt": prompt, "stream": False, **fields},
                           headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def open_stream(client, prompt: str, **fields):
    """Start a streaming turn and return (response, its CLI events iterator) without reading on."""
    response = client.post("/api/claude", json={"prompt": prompt, **fields}, buffered=False)
    assert response.status_code == 200
    events = _events(response)
    assert next(events) == {"type": "run", "run_id": response.headers["X-Run-Id"]}
    return response, events


def _events(response):
    for chunk in response.response:
        yield from sse_events(chunk.decode() if isinstance(chunk, bytes) else chunk)


def processes(client) -> dict:
    return client.get("/health").get_json()["processes"]
