"""A real PostgreSQL server for the tests: a throwaway cluster on loopback, started once per
test session, with a fresh database for each test that asks for one.

PostgreSQL refuses to run as root, so when the tests do, its programs run as the `postgres`
user (runuser), in a folder that user owns. The programs are Debian's newest
(/usr/lib/postgresql/<version>/bin, as scripts/install-system-packages --tests installs
them), else whichever `pg_ctl` is on PATH.
"""

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

USER = "postgres"
BACKENDS = ("sqlite", "postgresql")
both_databases = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
"""Run a test once with its state in SQLite, once in PostgreSQL (the `backend` fixture)."""
START_ATTEMPTS = 3  # another program may take the free port between choosing it and binding
# Throwaway data: no syncing, no WAL beyond what crash recovery needs, no background vacuum
# (the machine's CPUs are the tests').
SETTINGS = ("-c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c wal_level=minimal "
            "-c max_wal_senders=0 -c autovacuum=off -c checkpoint_timeout=1h")


def binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None if PostgreSQL is not installed."""
    found = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    if found:
        newest = max(found, key=lambda path: int(Path(path).parts[-3].split(".")[0]))
        return Path(newest).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One cluster in a temporary folder, reached over TCP on 127.0.0.1 with trust auth."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="gateway-postgres-"))
        self.data = self.root / "data"
        self.port = 0
        self._names = itertools.count(1)

    def start(self) -> None:
        """Make the cluster and start it; pg_ctl -w returns once it accepts connections."""
        sockets = self.root / "sockets"
        sockets.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam(USER)
            for path in (self.root, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", USER, "-E", "UTF8",
                  "--locale=C", "--no-sync")
        for attempt in range(START_ATTEMPTS):
            self.port = free_port()
            try:
                self._run("pg_ctl", "-D", self.data, "-l", self.root / "server.log", "-w",
                          "-t", "60", "-o", f"-p {self.port} -k {sockets} {SETTINGS}", "start")
                break
            except RuntimeError:
                if attempt == START_ATTEMPTS - 1:
                    raise
        self.admin().close()  # it answers over TCP, as the gateway will reach it

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres",
                               autocommit=True, connect_timeout=10)

    def url(self, name: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"gateway_test_{next(self._names)}"
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')  # little WAL
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database`, ending any connection still open to it."""
        name = url.rsplit("/", 1)[1]
        with self.admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _run(self, program: str, *args) -> None:
        command = [str(self.bin / program), *map(str, args)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{program} exited {done.returncode}: {done.stderr[-2000:]}"
                               f"{self.log()[-2000:]}")
