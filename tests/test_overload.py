"""More concurrent requests than gthread has threads: each is served, waits in the gateway's
visible queue, or gets a 429 with Retry-After at once; none waits unseen (real gunicorn)."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import requests

THREADS = 4
REQUESTS = 12


def open_stream(url: str):
    """Start a turn that holds its process; return (status, seconds to the answer's head,
    the response, kept open)."""
    started = time.monotonic()
    response = requests.post(url + "/api/claude", json={"prompt": "fake:hang"}, stream=True,
                             timeout=30)
    return response.status_code, time.monotonic() - started, response


def first_other_than_the_run_event(response) -> bytes:
    """What a stream says after naming its run: keep-alives while it waits for a process."""
    lines = (line for line in response.iter_lines() if line)
    assert next(lines) == b"id: 1" and next(lines).startswith(b'data: {"type": "run"')
    return next(lines)


def test_requests_past_the_threads_are_refused_at_once_never_left_waiting(live_server):
    server = live_server(GUNICORN_THREADS=str(THREADS), MAX_CLAUDE_PROCESSES="1",
                         QUEUE_MAX="50", QUEUE_TIMEOUT_MS="20000", KEEPALIVE_INTERVAL_MS="500")
    running = open_stream(server.url)  # first, alone: it takes the one process
    lines = running[2].iter_lines()  # kept: a dropped iterator may close the stream
    assert next(lines) == b"id: 1"  # its run's first event: the stream is under way
    with ThreadPoolExecutor(REQUESTS) as pool:
        answers = [running, *pool.map(lambda _: open_stream(server.url), range(REQUESTS - 1))]
    try:
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [200] * THREADS + [429] * (REQUESTS - THREADS), statuses
        assert max(seconds for _, seconds, _ in answers) < 10  # nothing sat unseen
        refused = [response for status, _, response in answers if status == 429]
        for response in refused:
            assert response.headers["Retry-After"] == "5"
            assert json.loads(response.content)["error"]["code"] == "capacity_exceeded"
        queued = [response for status, _, response in answers[1:] if status == 200]
        waiting = [first_other_than_the_run_event(r) for r in queued]
        assert len(waiting) == THREADS - 1 and all(line == b": keep-alive" for line in waiting)
    finally:
        for _, _, response in answers:
            response.close()
