"""What differs between the two databases the stores run on, and nothing else: SQLite in
STATE_DIR (one host, the default) and PostgreSQL (DATABASE_URL, many hosts).

The stores write portable SQL; only here do the two part ways: how an engine is made, how a
read-then-write is kept from interleaving with another worker's or host's (SQLite's BEGIN
IMMEDIATE holds the whole file; PostgreSQL takes a transaction-scoped advisory lock on the
name, a key), and how a failure is told to a client.
"""

import hashlib
import time
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Iterator, Protocol

from loguru import logger
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

FILE_NAME = "gateway.sqlite3"
BUSY_SECONDS = 10  # how long SQLite waits for another worker's write
WAL_RETRY_SECONDS = 0.02  # between tries to switch a new file to WAL (see SQLite.prepare)
CONNECT_SECONDS = 5  # an unreachable PostgreSQL is a quick 503, not a hung request
UNACKED_MS = 10_000  # and so is one that vanished under an open connection
POOL_SIZE = 5  # PostgreSQL connections each worker keeps open
POOL_OVERFLOW = 10  # and may open beyond them at busy times
POOL_WAIT_SECONDS = 10  # a request waits this long for a free connection, then answers 503


class Dialect(Protocol):
    """One database's ways, as StateDB uses them."""

    @property
    def file(self) -> Path | None:
        """The database file, when it lives in STATE_DIR."""

    @property
    def where(self) -> str:
        """The database, for an operator (never a password)."""

    def engine(self) -> Engine: ...

    def prepare(self, engine: Engine) -> None:
        """Settings the database keeps, made once before the schema is upgraded."""

    def serialized(self, connection: Connection, name: str) -> AbstractContextManager[None]:
        """A transaction that no other on `name`, on any worker or host, interleaves with."""

    def unusable(self, exc: Exception) -> str:
        """What a client is told when the database fails."""


class SQLite:
    """The file STATE_DIR/gateway.sqlite3 in WAL mode, one short connection per use (a file
    removed or replaced under a running server is found at once, as it is)."""

    def __init__(self, state_dir: Path):
        self.file = state_dir / FILE_NAME
        self.where = str(self.file)

    def engine(self) -> Engine:
        engine = create_engine(f"sqlite:///{self.file}", poolclass=NullPool,
                               connect_args={"timeout": BUSY_SECONDS})
        event.listen(engine, "connect", _driver_without_transactions)
        event.listen(engine, "begin", _begin)
        return engine

    def prepare(self, engine: Engine) -> None:
        """WAL mode, which the file keeps once set. Switching needs the file to itself, and
        SQLite answers a switch that finds it in use "database is locked" at once, without
        waiting its busy timeout: workers that start together try again for as long."""
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as \
                        connection:
                    connection.exec_driver_sql("PRAGMA journal_mode=WAL")  # not in a transaction
                return
            except OperationalError as exc:
                if "locked" not in str(exc.orig) or time.monotonic() >= deadline:
                    raise
            time.sleep(WAL_RETRY_SECONDS)

    @contextmanager
    def serialized(self, connection: Connection, name: str) -> Iterator[None]:
        connection.execution_options(begin="IMMEDIATE")  # the write lock from the start
        with connection.begin():
            yield

    def unusable(self, exc: Exception) -> str:
        return (f"The state folder (the STATE_DIR setting) is not usable: "
                f"{getattr(exc, 'orig', None) or exc}.")


class PostgreSQL:
    """The database DATABASE_URL names, through psycopg 3, with a small pool per worker."""

    file = None

    def __init__(self, url: str):
        self.url = make_url(url).set(drivername="postgresql+psycopg")
        self.where = self.url.render_as_string(hide_password=True)

    def engine(self) -> Engine:
        return create_engine(self.url, pool_pre_ping=True, pool_size=POOL_SIZE,
                             max_overflow=POOL_OVERFLOW, pool_timeout=POOL_WAIT_SECONDS,
                             connect_args={"connect_timeout": CONNECT_SECONDS,
                                           "tcp_user_timeout": UNACKED_MS})

    def prepare(self, engine: Engine) -> None:
        pass

    @contextmanager
    def serialized(self, connection: Connection, name: str) -> Iterator[None]:
        with connection.begin():
            connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"),
                               {"lock": lock_number(name)})  # let go at commit or rollback
            yield

    def unusable(self, exc: Exception) -> str:
        # the driver's words name hosts and users: they go to the log, not to clients
        logger.warning("the state database (DATABASE_URL) failed: {}",
                       getattr(exc, "orig", None) or exc)
        return ("The state database (the DATABASE_URL setting) is not reachable or not usable; "
                "the server's log says why.")


def lock_number(name: str) -> int:
    """A signed 64-bit number for a name, as PostgreSQL's advisory locks take."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _driver_without_transactions(dbapi_connection, _record) -> None:
    """Stop Python's sqlite3 from opening transactions of its own: `_begin` opens them, so
    that DDL is transactional and a transaction may begin IMMEDIATE."""
    dbapi_connection.isolation_level = None


def _begin(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get("isolation_level") != "AUTOCOMMIT":
        connection.exec_driver_sql(f"BEGIN {options.get('begin', 'DEFERRED')}")
