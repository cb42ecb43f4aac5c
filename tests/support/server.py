"""A real gunicorn serving the app on a free loopback port, for end-to-end tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GatewayServer:
    """`gunicorn -c gunicorn.conf.py 'app:create_app()'` in a private working directory."""

    def __init__(self, settings: dict, workdir: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {**os.environ, **(env or {}), **settings, "PORT": str(self.port),
                    "HOST": "127.0.0.1", "PYTHONPATH": str(ROOT)}
        self.process: subprocess.Popen | None = None
        self.log = workdir / f"gunicorn-{self.port}.log"

    def start(self) -> None:
        """Launch gunicorn and wait until /health answers."""
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                 "app:create_app()"],
                cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-3000:]}")
            try:
                requests.get(self.url + "/health", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()  # a server that never answered must not outlive the test
        raise RuntimeError(f"gunicorn did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stop gunicorn gracefully, then for sure."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
