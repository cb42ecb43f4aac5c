"""A key's requests per minute under real gunicorn, two workers, thread and gevent ones, with
the state in SQLite and in PostgreSQL: exact however many requests arrive at once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.shared.keys import KeyStore
from tests.support.postgres import both_databases

AT_ONCE = 20
RPM = 7


@both_databases
@pytest.mark.parametrize("worker_class", ["gthread", "gevent"])
def test_requests_per_minute_are_exact_across_workers(live_server, state_db, worker_class):
    key = KeyStore(state_db).create("hasty", ["chat"], rpm=RPM)
    server = live_server(WEB_CONCURRENCY="2", API_KEY="operator-key-for-tests",
                         GUNICORN_WORKER_CLASS=worker_class)
    start = threading.Barrier(AT_ONCE)

    def models(_) -> int:
        start.wait()
        return requests.get(server.url + "/v1/models", timeout=30,
                            headers={"Authorization": f"Bearer {key}"}).status_code
    with ThreadPoolExecutor(AT_ONCE) as pool:
        codes = list(pool.map(models, range(AT_ONCE)))
    assert codes.count(200) == RPM and codes.count(429) == AT_ONCE - RPM, codes
