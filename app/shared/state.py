"""The gateway's state under STATE_DIR, shared by every worker: one SQLite file and file locks.

SQLite holds what must outlive a request (where sessions live, whose they are, how
many turns they have had; conversation fingerprints). File locks hold what lasts
as long as a process (a session's running turn, a slot of the process budget): the
kernel releases them when their holder dies, even by SIGKILL.
"""

import fcntl
import hashlib
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from loguru import logger

from app.errors import ServiceUnavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    created_at REAL NOT NULL,
    used_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    fingerprint TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    options TEXT NOT NULL,
    used_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    rpm INTEGER,
    daily_tokens INTEGER,
    daily_usd REAL,
    capture INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS usage (
    key TEXT NOT NULL,
    day TEXT NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (key, day)
);
CREATE TABLE IF NOT EXISTS spend_holds (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    usd REAL NOT NULL,
    until REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS spend_holds_by_key ON spend_holds (key);
CREATE TABLE IF NOT EXISTS key_requests (
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS key_requests_by_key ON key_requests (key, at);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    session_id TEXT,
    worker INTEGER NOT NULL,
    request TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    status TEXT NOT NULL,
    answer TEXT
);
"""
APPROVAL_RETENTION_SECONDS = 86400.0  # answered permission requests are kept a day (for 409s)
# Columns added after the first release, for databases made before them.
_ADDED_COLUMNS = (
    ("sessions", "turns", "INTEGER NOT NULL DEFAULT 0"),
    ("sessions", "owner", "TEXT NOT NULL DEFAULT ''"),
    ("sessions", "last_message", "TEXT"),
    ("sessions", "title", "TEXT"),
    ("sessions", "cost_usd", "REAL NOT NULL DEFAULT 0"),
    ("sessions", "fork_of", "TEXT"),  # a fork made by the sessions API: the session it continues
    ("sessions", "fork_at", "TEXT"),  # and the message of that session it continues after
    ("conversations", "turns", "INTEGER NOT NULL DEFAULT 0"),
    ("conversations", "message", "TEXT"),
    ("api_keys", "id", "TEXT"),  # the key's identity; older keys keep their name's old hash
    ("usage", "calls", "INTEGER NOT NULL DEFAULT 0"),
    ("usage", "largest_call_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("usage", "largest_call_usd", "REAL NOT NULL DEFAULT 0"),
)
LOCK_POLL_SECONDS = 0.05


class StateUnavailable(ServiceUnavailable):
    """STATE_DIR cannot be used (read-only, full, a file where a folder should be)."""
    code = "state_unavailable"


class StateDB:
    """The gateway's small SQLite database, one short connection per call.

    It fails closed: a database that cannot be read is never replaced, so a server
    with managed keys never comes up keyless; every request that needs it answers 503
    until the operator repairs or removes it. A STATE_DIR removed while the server
    runs is made again on the next use, unless it held managed keys (`sealed`): then
    requests answer 503 until it is restored or the server is restarted.
    """

    def __init__(self, state_dir: Path):
        self.dir = state_dir
        self.path = state_dir / "gateway.sqlite3"
        self.sealed = False  # managed keys were seen: a missing database is not a fresh start
        self._folders: list[str] = []
        try:
            self._create()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not self.path.exists():
                raise
            logger.error("{} is not a usable database ({}); requests that need it answer 503 "
                         "until it is repaired, restored or removed", self.path, exc)

    def _create(self) -> None:
        """Make the folder, its subfolders and the schema (all idempotent)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for name in self._folders:
            (self.dir / name).mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                for table, column, kind in _ADDED_COLUMNS:
                    _add_column(db, table, column, kind)
                _give_old_keys_ids(db)
        finally:
            db.close()

    def folder(self, name: str) -> Path:
        """A subfolder of STATE_DIR (locks, budget/slots, ...), made again if it goes."""
        if name not in self._folders:
            self._folders.append(name)
        path = self.dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def ensure(self) -> None:
        """Make STATE_DIR again if it was removed while the server runs (one stat if not)."""
        if self.path.exists():
            return
        if self.sealed:
            raise StateUnavailable("The state database (in the STATE_DIR setting's folder) was "
                                   "removed while the server ran, with the keys it held: "
                                   "restore it, or restart the server to begin afresh.")
        logger.warning("the state folder {} or its database was removed; making them again",
                       self.dir)
        try:
            self._create()
        except (OSError, sqlite3.Error) as exc:
            raise StateUnavailable(f"The state folder (the STATE_DIR setting) is not usable: "
                                   f"{exc}.") from None

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """Open, commit on success, and always close; 503 if the state cannot be used."""
        self.ensure()
        try:
            db = sqlite3.connect(self.path, timeout=10)
        except sqlite3.Error as exc:
            raise StateUnavailable(f"The state folder (the STATE_DIR setting) is not usable: "
                                   f"{exc}.") from None
        try:
            with db:
                yield db
        except sqlite3.IntegrityError:
            raise  # a constraint the caller checks (a duplicate name), not a broken state
        except sqlite3.DatabaseError as exc:  # read-only, full, corrupt: the state is unusable
            raise StateUnavailable(f"The state folder (the STATE_DIR setting) is not usable: "
                                   f"{exc}.") from None
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that holds the database from its first statement, for a
        read-then-write that must not interleave with another worker's (limits, budgets)."""
        with self.connect() as db:
            db.isolation_level = None
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def prune(self, retention_days: int) -> int:
        """Forget sessions and conversations unused for `retention_days`; return how many."""
        cutoff = time.time() - retention_days * 86400
        with self.connect() as db:
            removed = db.execute("DELETE FROM sessions WHERE used_at < ?", (cutoff,)).rowcount
            removed += db.execute("DELETE FROM conversations WHERE used_at < ?",
                                  (cutoff,)).rowcount
            db.execute("DELETE FROM approvals WHERE expires_at < ?",
                       (time.time() - APPROVAL_RETENTION_SECONDS,))
        for path in (self.dir / "locks").glob("*.lock") if "locks" in self._folders else ():
            lock = FileLock.try_acquire(path)  # nobody holds it: its worker died mid-turn
            if lock is not None:
                lock.release()
        return removed


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


def _add_column(db: sqlite3.Connection, table: str, column: str, kind: str) -> None:
    """Add a column an older database lacks; another worker may just have added it."""
    if column in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
        return
    try:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise


def _give_old_keys_ids(db: sqlite3.Connection) -> None:
    """Keys made before keys had ids take the identity their sessions were kept under."""
    for (name,) in db.execute("SELECT name FROM api_keys WHERE id IS NULL").fetchall():
        owner = hashlib.sha256(("key-name:" + name).encode()).hexdigest()
        db.execute("UPDATE api_keys SET id = ? WHERE name = ?", (owner, name))


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
