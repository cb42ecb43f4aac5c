"""The gateway's state, shared by every worker (and, with DATABASE_URL, every host): the state
database, and the folders and file locks under STATE_DIR.

The database holds what must outlive a request (where sessions live, whose they are, how
many turns they have had; conversation fingerprints; keys, usage, permission questions):
SQLite in STATE_DIR by default, or the PostgreSQL database DATABASE_URL names (app/wiring.py
chooses; app/shared/dialects.py holds what differs between them). File locks hold what lasts
as long as a process (a session's running turn, a slot of the process budget): the kernel
releases them when their holder dies, even by SIGKILL.
"""

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from loguru import logger
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.errors import ServiceUnavailable
from app.shared import migrations
from app.shared.dialects import Dialect, SQLite

APPROVAL_RETENTION_SECONDS = 86400.0  # answered permission requests are kept a day (for 409s)
STALE_SECONDS = 3600.0  # requests counted this long ago count for no limit any more
SCHEMA_LOCK = "schema"  # what upgrades of the schema serialize on
LOCK_POLL_SECONDS = 0.05


class StateUnavailable(ServiceUnavailable):
    """The state cannot be used (STATE_DIR read-only, full, a file where a folder should be;
    the database corrupt or out of reach)."""
    code = "state_unavailable"


class StateDB:
    """The state database over an SQLAlchemy engine, one short transaction per call, with the
    schema upgraded at start-up (app/shared/migrations).

    It fails closed: a database that cannot be read is never replaced, so a server with
    managed keys never comes up keyless; every request that needs it answers 503 until the
    operator repairs, restores or removes it (or, for PostgreSQL, until it can be reached).
    A STATE_DIR removed while the server runs is made again on the next use, unless its
    SQLite file held managed keys (`sealed`): then requests answer 503 until it is restored
    or the server is restarted.
    """

    def __init__(self, state_dir: Path, dialect: Dialect | None = None, migrate: bool = True):
        self.dir = state_dir
        self.dialect = dialect or SQLite(state_dir)
        self.path = self.dialect.file  # None: the database does not live in STATE_DIR
        self.where = self.dialect.where
        self.engine = self.dialect.engine()
        self.sealed = False  # managed keys were seen: a missing database is not a fresh start
        self._folders: list[str] = []
        self._ready = False  # the schema is known to be at the newest revision
        self._make_folders()
        if migrate:
            self._start()

    def _start(self) -> None:
        """Upgrade the schema; a database that cannot be used yet is logged, and whatever
        needs it answers 503 until it can be (a SQLite file that cannot be made fails)."""
        try:
            with self._usable():
                self._upgrade()
        except StateUnavailable as exc:
            if self.path is not None and not self.path.exists():
                raise
            logger.error("{} Requests that need it answer 503 until it is repaired, restored "
                         "or reachable.", exc)

    def _make_folders(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for name in self._folders:
            (self.dir / name).mkdir(parents=True, exist_ok=True)

    def _upgrade(self) -> tuple[str | None, str]:
        """Bring the schema to the newest revision, one worker or host at a time."""
        self.dialect.prepare(self.engine)
        with self.engine.connect() as connection, \
                self.dialect.serialized(connection, SCHEMA_LOCK):
            before, after = migrations.upgrade(connection)
        self._ready = True
        if before != after:
            logger.info("the state database's schema is now at revision {} (was {})", after,
                        before or "none")
        return before, after

    def upgrade(self) -> tuple[str | None, str]:
        """Upgrade the schema now (`flask --app app db upgrade`); return the revisions before
        and after, or raise StateUnavailable."""
        with self._usable():
            return self._upgrade()

    def folder(self, name: str) -> Path:
        """A subfolder of STATE_DIR (locks, budget/slots, ...), made again if it goes."""
        if name not in self._folders:
            self._folders.append(name)
        path = self.dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def ensure(self) -> None:
        """Make STATE_DIR again if it was removed while the server runs (a stat or two if not)."""
        if self.dir.is_dir() and (self.path is None or self.path.exists()):
            return
        if self.sealed and self.path is not None:
            raise StateUnavailable("The state database (in the STATE_DIR setting's folder) was "
                                   "removed while the server ran, with the keys it held: "
                                   "restore it, or restart the server to begin afresh.")
        logger.warning("the state folder {} or its database was removed; making them again",
                       self.dir)
        try:
            self._make_folders()
        except OSError as exc:
            raise StateUnavailable(f"The state folder (the STATE_DIR setting) is not usable: "
                                   f"{exc}.") from None
        if self.path is not None:
            with self._usable():
                self._upgrade()

    @contextmanager
    def _usable(self) -> Iterator[None]:
        """Turn the database's failures into 503 state_unavailable; a broken constraint (a
        duplicate name) stays the caller's to handle."""
        try:
            yield
        except IntegrityError:
            raise
        except (DBAPIError, PoolTimeout) as exc:
            raise StateUnavailable(self.dialect.unusable(exc)) from None
        except migrations.UnknownRevision as exc:
            raise StateUnavailable(f"The state database cannot be used: {exc}.") from None

    @contextmanager
    def _opened(self) -> Iterator[None]:
        """Heal STATE_DIR, finish an upgrade the database was not ready for at start-up (it
        was out of reach), and turn failures into 503s."""
        self.ensure()
        with self._usable():
            if not self._ready:
                self._upgrade()
            yield

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """One transaction: committed on success, rolled back on error; 503 if the state
        cannot be used."""
        with self._opened(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def transaction(self, name: str) -> Iterator[Connection]:
        """One transaction that no other on `name` (a key) interleaves with, on any worker or
        host: for a read-then-write that must be exact (limits, budgets)."""
        with self._opened(), self.engine.connect() as connection, \
                self.dialect.serialized(connection, name):
            yield connection

    def check(self) -> None:
        """Raise StateUnavailable unless the database answers (for /health and doctor)."""
        with self.connect() as db:
            db.execute(text("SELECT 1 FROM sessions LIMIT 1"))

    def prune(self, retention_days: int) -> int:
        """Forget sessions and conversations unused for `retention_days` (return how many),
        and what no longer counts: settled questions, lapsed holds, old request counts."""
        now = time.time()
        cutoff = now - retention_days * 86400
        with self.connect() as db:
            removed = db.execute(text("DELETE FROM sessions WHERE used_at < :cutoff"),
                                 {"cutoff": cutoff}).rowcount
            removed += db.execute(text("DELETE FROM conversations WHERE used_at < :cutoff"),
                                  {"cutoff": cutoff}).rowcount
            db.execute(text("DELETE FROM approvals WHERE expires_at < :settled"),
                       {"settled": now - APPROVAL_RETENTION_SECONDS})
            db.execute(text("DELETE FROM spend_holds WHERE until < :now"), {"now": now})
            db.execute(text("DELETE FROM key_requests WHERE at < :stale"),
                       {"stale": now - STALE_SECONDS})
        for path in (self.dir / "locks").glob("*.lock") if "locks" in self._folders else ():
            lock = FileLock.try_acquire(path)  # nobody holds it: its worker died mid-turn
            if lock is not None:
                lock.release()
        return removed

    def close(self) -> None:
        """Close the connections this worker keeps (PostgreSQL's pool; SQLite keeps none)."""
        self.engine.dispose()


class FileLock:
    """An exclusive lock on a file, shared by all workers; `release()` is idempotent.

    A lock file is removed when released, so finished sessions leave nothing behind;
    whoever locks a file that was removed meanwhile notices and locks the new one.
    """

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path, wait_seconds: float,
                on_busy: Callable[[], Exception]) -> "FileLock":
        """Lock `path`, waiting up to `wait_seconds`; raise `on_busy()` past that."""
        deadline = time.monotonic() + wait_seconds
        while True:
            lock = cls.try_acquire(path)
            if lock is not None:
                return lock
            if time.monotonic() >= deadline:
                raise on_busy()
            time.sleep(LOCK_POLL_SECONDS)

    @classmethod
    def try_acquire(cls, path: Path) -> "FileLock | None":
        """Lock `path` if nobody holds it, else return None at once."""
        while True:
            try:
                fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:  # its folder was removed: make it again
                path.parent.mkdir(parents=True, exist_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            if _same_file(fd, path):
                return cls(path, fd)
            os.close(fd)  # removed by its last holder after we opened it: lock the new one

    @staticmethod
    def is_held(path: Path) -> bool:
        """Tell whether someone holds the lock on `path`; the file is neither made nor removed
        (what a dead holder wrote in it stays readable)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def write(self, text: str) -> None:
        """Replace the file's content (what the holder is doing, for other workers)."""
        if self._fd is not None:
            data = text.encode()
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))

    def release(self, remove: bool = True) -> None:
        """Let the next holder in; remove the file first unless told to keep it."""
        if self._fd is None:
            return
        if remove:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        os.close(self._fd)  # closing the descriptor releases the lock
        self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
