"""A run's event log: what it streamed, in order, each event with its sequence number, kept a
while after the run ends (RUN_LOG_MINUTES), so a client can reconnect and miss nothing.

Embedded (one host): a folder per run under STATE_DIR/runs, holding its metadata and an
append-only file of events, one line each, which any worker can read and follow. Many hosts
(REDIS_URL): a Redis stream per run and a hash of its metadata, followed with blocking
reads. The log keeps each event as the surface rendered it (its SSE event name and data),
so a replay is byte for byte what the live stream sent.
"""

import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple, Protocol, TextIO, cast

import redis
from redis.exceptions import RedisError

POLL_SECONDS = 0.05  # how often a follower on another worker looks for new events
UNENDED_SECONDS = 86400  # how long Redis keeps a run that never said it ended
ENDED = ("completed", "failed", "cancelled", "incomplete")


class Frame(NamedTuple):
    """One event of a run's stream (a tuple: a long answer makes thousands)."""
    seq: int
    event: str | None  # the SSE event name, for surfaces that name their events
    data: str


@dataclass
class RunMeta:
    """What a run is and where it stands."""
    id: str
    owner: str
    surface: str  # "claude" (native events), "chat", "messages" or "responses"
    status: str = "queued"  # queued, running, waiting, completed, failed, cancelled, incomplete
    session_id: str | None = None
    workspace: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    waiting: dict | None = None  # what it waits for, while waiting (an approval, functions)
    result: dict | None = None  # the final result, once ended
    summary: dict | None = None  # the surface's own view of it as it began (a response)
    webhook: str | None = None
    host: str | None = None  # the id of the host running it (several hosts)
    worker: int = field(default_factory=os.getpid)  # the process running it

    @property
    def ended(self) -> bool:
        return self.status in ENDED


class RunLog(Protocol):
    def open(self, meta: RunMeta) -> None: ...

    def append(self, run_id: str, frames: list[Frame]) -> None:
        """Add frames that came together (one write, one wake-up for the followers)."""

    def follow(self, run_id: str, after: int,
               keepalive: float) -> Iterator[list[Frame] | None]:
        """The run's events after `after`, as they come (those read together in one list),
        until it has ended and all are read; None after `keepalive` seconds without one."""

    def save(self, meta: RunMeta) -> None: ...

    def meta(self, run_id: str) -> RunMeta | None: ...

    def runs_of(self, owner: str) -> list[RunMeta]: ...

    def prune(self, keep_seconds: float) -> int: ...

    def delete(self, run_id: str) -> None: ...


class FileRunLog:
    """Runs as folders under STATE_DIR/runs: meta.json beside an append-only events file."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._changed = threading.Condition()  # wakes this worker's followers at once
        self._writing: dict[str, TextIO] = {}  # the events file of each run pumped here

    def _dir(self, run_id: str) -> Path:
        return self.folder / run_id

    def open(self, meta: RunMeta) -> None:
        self._dir(meta.id).mkdir(parents=True, exist_ok=True)
        (self._dir(meta.id) / "events").touch()
        self.save(meta)

    def append(self, run_id: str, frames: list[Frame]) -> None:
        lines = "".join([_line(frame) for frame in frames])
        events = self._writing.get(run_id)
        try:
            if events is None:
                events = self._writing[run_id] = open(self._dir(run_id) / "events", "a",
                                                      encoding="utf-8")
            events.write(lines)
            events.flush()  # whole lines, for readers in other workers
        except FileNotFoundError:
            return  # deleted while it ran: what it streams now is for nobody
        with self._changed:
            self._changed.notify_all()

    def follow(self, run_id: str, after: int,
               keepalive: float) -> Iterator[list[Frame] | None]:
        try:
            events = open(self._dir(run_id) / "events", encoding="utf-8")
        except FileNotFoundError:
            return
        with events:
            partial, quiet_since, ending = "", time.monotonic(), False
            while True:
                found = []
                for line in events.readlines():
                    partial += line
                    if partial.endswith("\n"):  # else the rest comes on the next read
                        frame = _frame(partial)
                        partial = ""
                        if frame.seq > after:
                            found.append(frame)
                if found:
                    quiet_since = time.monotonic()
                    yield found
                    continue
                if ending:
                    return  # read to the end after the run had ended: nothing more comes
                meta = self.meta(run_id)
                if meta is None:
                    return
                if meta.ended:
                    ending = True  # what it wrote before it ended is still to read
                    continue
                if time.monotonic() - quiet_since >= keepalive:
                    quiet_since = time.monotonic()
                    yield None
                with self._changed:
                    self._changed.wait(POLL_SECONDS)

    def save(self, meta: RunMeta) -> None:
        """Replace the run's metadata at once (readers see the old or the new, never half)."""
        folder = self._dir(meta.id)
        temporary = folder / f".meta-{os.getpid()}-{threading.get_ident()}"
        temporary.write_text(json.dumps(asdict(meta)))
        os.replace(temporary, folder / "meta.json")
        if meta.ended:
            self._close(meta.id)
        with self._changed:
            self._changed.notify_all()

    def _close(self, run_id: str) -> None:
        events = self._writing.pop(run_id, None)
        if events is not None:
            events.close()

    def meta(self, run_id: str) -> RunMeta | None:
        try:
            return RunMeta(**json.loads((self._dir(run_id) / "meta.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def runs_of(self, owner: str) -> list[RunMeta]:
        found = []
        for entry in self.folder.glob("*/meta.json"):
            meta = self.meta(entry.parent.name)
            if meta is not None and meta.owner == owner:
                found.append(meta)
        return sorted(found, key=lambda m: m.created_at, reverse=True)

    def delete(self, run_id: str) -> None:
        self._close(run_id)
        shutil.rmtree(self._dir(run_id), ignore_errors=True)

    def prune(self, keep_seconds: float) -> int:
        """Forget runs that ended more than `keep_seconds` ago, and end the runs of workers
        that died while they ran (their turns died with them); return how many were
        forgotten."""
        cutoff, removed = time.time() - keep_seconds, 0
        for entry in self.folder.glob("*/meta.json"):
            meta = self.meta(entry.parent.name)
            if meta is None:
                continue
            if not meta.ended and not _alive(meta.worker):
                meta.status, meta.ended_at = "failed", time.time()
                meta.result = {"error": "The server process running it stopped."}
                self.save(meta)
            elif meta.ended and (meta.ended_at or 0) < cutoff:
                shutil.rmtree(entry.parent, ignore_errors=True)
                removed += 1
        return removed


def _line(frame: Frame) -> str:
    """A frame as a line of its run's events file: `seq<TAB>event<TAB>data`, or a JSON array
    for data that holds a line break (or an event name a tab). The data is itself JSON,
    which encoding it again would escape character by character: on a long answer that was
    most of the pump's work."""
    if "\n" in frame.data or "\r" in frame.data or "\t" in (frame.event or ""):
        return json.dumps([frame.seq, frame.event, frame.data], ensure_ascii=False) + "\n"
    return f"{frame.seq}\t{frame.event or ''}\t{frame.data}\n"


def _frame(line: str) -> Frame:
    """The frame of a line written by `_line`."""
    if line.startswith("["):
        seq, event, data = json.loads(line)
        return Frame(seq, event, data)
    seq, event, data = line[:-1].split("\t", 2)
    return Frame(int(seq), event or None, data)


def _alive(pid: int) -> bool:
    """Whether a process of this host still runs (the workers of one host share STATE_DIR)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RedisRunLog:
    """Runs in Redis: a stream of events and a hash of metadata per run, a set per owner."""

    def __init__(self, client: redis.Redis, keep_seconds: float):
        self._client = client
        self._keep = int(keep_seconds)

    @staticmethod
    def _key(run_id: str, part: str) -> str:
        return f"ccg:run:{run_id}:{part}"

    def open(self, meta: RunMeta) -> None:
        self.save(meta)
        self._client.zadd(f"ccg:runs-of:{meta.owner}", {meta.id: meta.created_at})

    def append(self, run_id: str, frames: list[Frame]) -> None:
        key, pipe = self._key(run_id, "events"), self._client.pipeline(transaction=False)
        for frame in frames:
            pipe.xadd(key, {"event": frame.event or "", "data": frame.data}, id=f"{frame.seq}-1")
        pipe.execute()

    def follow(self, run_id: str, after: int,
               keepalive: float) -> Iterator[list[Frame] | None]:
        key, last, quiet_since = self._key(run_id, "events"), f"{after}-1", time.monotonic()
        while True:
            try:
                # redis-py types a reply as sync or async; this client is the sync one.
                found = cast(list, self._client.xread(
                    {key: last}, count=1000, block=max(1, int(min(keepalive, 1.0) * 1000))))
            except RedisError:
                found = []
            frames = [Frame(int(entry_id.decode().split("-")[0]),
                            fields[b"event"].decode() or None, fields[b"data"].decode())
                      for _, entries in found for entry_id, fields in entries]
            if frames:
                last, quiet_since = f"{frames[-1].seq}-1", time.monotonic()
                yield frames
                continue
            meta = self.meta(run_id)
            if meta is None or meta.ended and not self._more(key, last):
                return
            if time.monotonic() - quiet_since >= keepalive:
                quiet_since = time.monotonic()
                yield None

    def _more(self, key: str, last: str) -> bool:
        """Whether the stream holds events after `last` (written just before the run ended)."""
        return bool(self._client.xrange(key, min=f"({last}", count=1))

    def save(self, meta: RunMeta) -> None:
        pipe = self._client.pipeline()
        pipe.set(self._key(meta.id, "meta"), json.dumps(asdict(meta)))
        # Kept a while once ended, then Redis forgets it; a run whose host died while it ran
        # is forgotten a day later.
        for part in ("meta", "events"):
            pipe.expire(self._key(meta.id, part), self._keep if meta.ended else UNENDED_SECONDS)
        pipe.execute()

    def meta(self, run_id: str) -> RunMeta | None:
        raw = cast(bytes | None, self._client.get(self._key(run_id, "meta")))
        return RunMeta(**json.loads(raw)) if raw else None

    def runs_of(self, owner: str) -> list[RunMeta]:
        listed = cast(list[bytes], self._client.zrevrange(f"ccg:runs-of:{owner}", 0, 500))
        ids = [i.decode() for i in listed]
        found = [meta for meta in map(self.meta, ids) if meta is not None]
        gone = set(ids) - {meta.id for meta in found}
        if gone:
            self._client.zrem(f"ccg:runs-of:{owner}", *gone)
        return found

    def delete(self, run_id: str) -> None:
        meta = self.meta(run_id)
        self._client.delete(self._key(run_id, "meta"), self._key(run_id, "events"))
        if meta is not None:
            self._client.zrem(f"ccg:runs-of:{meta.owner}", run_id)

    def prune(self, keep_seconds: float) -> int:
        return 0  # Redis expires ended runs itself
