"""Latency of one turn through the gateway with the real CLI and the stand-in API.

Measures, per request: time to the first SSE byte, to the first text token, and to the
end of the stream, for /api/claude and /v1/chat/completions, sequentially and with
several requests at once. Everything runs on loopback; nothing leaves the machine.

    .venv/bin/python bench/latency.py --runs 10 --concurrency 4
"""

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.anthropic_standin import AnthropicStandIn, Text  # noqa: E402
from tests.support.real_cli import REAL_CLAUDE, cli_environment  # noqa: E402
from tests.support.server import GatewayServer  # noqa: E402

BODIES = {
    "/api/claude": {"prompt": "Say hello"},
    "/v1/chat/completions": {"model": "claude-code", "stream": True,
                             "messages": [{"role": "user", "content": "Say hello"}]},
}
TOKEN_MARKS = {"/api/claude": b'"text_delta"', "/v1/chat/completions": b'"content": "one'}


def one_request(url: str, path: str) -> tuple[float, float, float]:
    """Seconds to first byte, first token and end of stream."""
    started = time.perf_counter()
    first_byte = first_token = None
    with requests.post(url + path, json=BODIES[path], stream=True, timeout=120) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=None):
            now = time.perf_counter() - started
            first_byte = first_byte or now
            if first_token is None and TOKEN_MARKS[path] in chunk:
                first_token = now
    return first_byte, first_token or float("nan"), time.perf_counter() - started


def report(label: str, samples: list[tuple[float, float, float]]) -> None:
    columns = list(zip(*samples, strict=True))
    cells = [f"{name} p50 {statistics.median(c) * 1000:6.0f} ms  max {max(c) * 1000:6.0f} ms"
             for name, c in zip(("first byte", "first token", "total"), columns, strict=True)]
    print(f"{label:<44} " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, AnthropicStandIn() as standin:
        home = Path(tmp)
        standin.default_reply = Text("one two three four five")
        env = {**cli_environment(standin, home), "GUNICORN_WORKER_CLASS": args.worker_class}
        server = GatewayServer({"STATE_DIR": str(home / "state"), "CLAUDE_PATH": str(REAL_CLAUDE),
                                "WORKSPACE_BASE_PATH": str(home / "ws"), "LOG_LEVEL": "WARNING",
                                "STARTUP_CHECK": "false"},
                               workdir=home, env=env)
        server.start()
        try:
            for path in BODIES:
                one_request(server.url, path)  # warm the page cache
                report(f"{path} sequential x{args.runs}",
                       [one_request(server.url, path) for _ in range(args.runs)])
                with ThreadPoolExecutor(args.concurrency) as pool:
                    samples = list(pool.map(one_request, [server.url] * args.runs,
                                            [path] * args.runs))
                report(f"{path} {args.concurrency} at once x{args.runs}", samples)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
