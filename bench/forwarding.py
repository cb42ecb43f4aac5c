"""First-token latency of a turn forwarded to its session's host, against the same turn sent
to that host directly, in the same run.

Two gateway hosts (one gthread worker each, LIVE_IDLE_MS=300000, WARM_POOL_SIZE=0) share a
throwaway PostgreSQL and Redis on loopback, as the two-host tests do. One untimed turn on
host A makes a session; its process stays loaded there. Each round then times that session's
next turn twice, the order alternating from round to round: sent to A (local), and sent to B,
which forwards it to A (forwarded). Both are served by the same live process, so the
difference is what forwarding costs. A check at the end: B never started a `claude`.
Everything runs on loopback against the stand-in API; nothing leaves the machine.

    .venv/bin/python bench/forwarding.py --rounds 30
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live import claude_pids, percentile, sse_data  # noqa: E402
from tests.support.anthropic_standin import AnthropicStandIn, Text  # noqa: E402
from tests.support.postgres import PostgresServer, binaries  # noqa: E402
from tests.support.real_cli import REAL_CLAUDE, cli_environment  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.server import GatewayServer  # noqa: E402

KEY = "bench-forwarding-key"
SECRET = "bench-forwarding-cluster-secret"
AUTH = {"Authorization": f"Bearer {KEY}"}
REQUEST_SECONDS = 60
HOSTS_SECONDS = 30  # until both hosts see each other in the registry


def start_host(standin, home: Path, database_url: str, redis_url: str) -> GatewayServer:
    home.mkdir()
    settings = {"STATE_DIR": str(home / "state"), "WORKSPACE_BASE_PATH": str(home / "ws"),
                "CLAUDE_PATH": str(REAL_CLAUDE), "API_KEY": KEY, "LOG_LEVEL": "WARNING",
                "STARTUP_CHECK": "false", "WARM_POOL_SIZE": "0", "LIVE_IDLE_MS": "300000",
                "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                "CLUSTER_SECRET": SECRET}
    server = GatewayServer(settings, workdir=home,
                           env={**cli_environment(standin, home), "WEB_CONCURRENCY": "1"})
    server.env["NODE_URL"] = server.url
    server.start()
    return server


def first_token(url: str, session: str | None) -> tuple[float, str]:
    """One streamed /api/claude turn: (seconds to its first text token, its session)."""
    body = {"prompt": "Say hello", **({"session-id": session} if session else {})}
    started = time.perf_counter()
    first = None
    with requests.post(url + "/api/claude", json=body, headers=AUTH, stream=True,
                       timeout=REQUEST_SECONDS) as response:
        response.raise_for_status()
        for data in sse_data(response):
            session = session or data.get("session_id")
            if data.get("type") == "result" and data.get("is_error"):
                raise RuntimeError(f"the turn failed: {data}")
            if first is None and data.get("type") == "stream_event" and \
                    (data["event"].get("delta") or {}).get("type") == "text_delta":
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("the turn streamed no text token")
    return first, session


def wait_for_each_other(hosts: list[GatewayServer]) -> None:
    deadline = time.monotonic() + HOSTS_SECONDS
    while time.monotonic() < deadline:
        if all(len(requests.get(h.url + "/health", timeout=10).json().get("hosts", [])) == 2
               for h in hosts):
            return
        time.sleep(0.1)  # the registry fills on each host's housekeeping tick
    raise RuntimeError("the hosts did not see each other")


def measure(hosts: list[GatewayServer], rounds: int) -> dict[str, list[float]]:
    home, other = hosts
    _, session = first_token(home.url, None)  # the session and its live process, on A
    first_token(other.url, session)  # one untimed forwarded turn: connections are made
    samples = {"local": [], "forwarded": []}
    for number in range(rounds):
        order = [("local", home), ("forwarded", other)]
        for kind, server in order if number % 2 == 0 else order[::-1]:
            seconds, _ = first_token(server.url, session)
            samples[kind].append(seconds)
    if claude_pids(other):
        raise RuntimeError("host B started a claude: the turns were not forwarded")
    return samples


def report(samples: dict[str, list[float]]) -> None:
    print(f"\n{len(samples['local'])} rounds, interleaved\n")
    print("| turn | first token p50 | first token p90 |")
    print("| --- | --- | --- |")
    for kind, label in (("local", "sent to the session's host"),
                        ("forwarded", "sent to the other host, forwarded")):
        values = samples[kind]
        print(f"| {label} | {statistics.median(values) * 1000:.1f} ms | "
              f"{percentile(values, 90) * 1000:.1f} ms |")
    pairs = [f - loc for f, loc in zip(samples["forwarded"], samples["local"])]
    extra = statistics.median(samples["forwarded"]) - statistics.median(samples["local"])
    print(f"\nforwarding adds {extra * 1000:.1f} ms at the median (median of the per-round "
          f"differences: {statistics.median(pairs) * 1000:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    found = binaries()
    if found is None:
        sys.exit("PostgreSQL is not installed: run scripts/install-system-packages --tests")
    postgres, redis_server = PostgresServer(found), RedisServer()
    postgres.start()
    hosts: list[GatewayServer] = []
    try:
        redis_server.start()
        database_url = postgres.create_database()
        with tempfile.TemporaryDirectory() as tmp, AnthropicStandIn() as standin:
            standin.default_reply = Text("one two three four five")
            for name in ("a", "b"):
                hosts.append(start_host(standin, Path(tmp) / name, database_url,
                                        redis_server.url))
            wait_for_each_other(hosts)
            samples = measure(hosts, args.rounds)
            for server in hosts:
                server.stop()
        report(samples)
    finally:
        for server in hosts:
            server.stop()
        redis_server.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
