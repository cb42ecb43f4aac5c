"""One process budget per host: at most `cap` claude processes, across every gunicorn worker.

A process runs only while it holds a slot: one of `cap` abstract unix socket names
bound by its worker, which the kernel frees when the worker dies, even by SIGKILL,
and which no file operation can remove (so the cap holds while a removed STATE_DIR
is being made again). A slot file under STATE_DIR says who holds it and why
("<worker pid> <holder> <state> <pgid>", the holder naming one worker's budget), so
a waiting request can ask another worker to give up an idle or warm process, and
the master can end the process groups of a worker that was killed.

Requests that find no slot wait in one FIFO queue shared by all workers: a
ticket file per waiter, named by arrival time and worker pid. A waiter may take
a slot only when fewer waiters are ahead of it than slots are free.
"""

import errno
import hashlib
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app import metrics

RUNNING, IDLE, WARM = "running", "idle", "warm"
POLL_SECONDS = 0.05
EVICT_REQUEST_SECONDS = 0.5  # how often the head of the queue may ask another worker again


class QueueFull(Exception):
    """QUEUE_MAX requests are already waiting."""


@dataclass(frozen=True)
class Holder:
    """What a slot file says about the process holding it."""
    slot: int
    worker_pid: int
    owner: str  # which worker's budget holds it
    state: str
    pgid: int | None


class SlotLock:
    """A held slot: a bound abstract socket name, and the file that says who holds it."""

    def __init__(self, held: socket.socket, path: Path):
        self._held: socket.socket | None = held
        self.path = path

    @classmethod
    def try_acquire(cls, name: bytes, path: Path) -> "SlotLock | None":
        """Hold the name if nobody does, else None at once."""
        held = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            held.bind(name)
        except OSError as exc:
            held.close()
            if exc.errno == errno.EADDRINUSE:
                return None
            raise
        return cls(held, path)

    @staticmethod
    def is_held(name: bytes) -> bool:
        probe = SlotLock.try_acquire(name, Path())
        if probe is None:
            return True
        assert probe._held is not None, "a lock just acquired holds its socket"
        probe._held.close()
        return False

    def write(self, text: str) -> None:
        """Say what the holder is doing (the file and its folder are made again if gone)."""
        if self._held is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(text)

    def release(self) -> None:
        """Let the next holder in; what this one wrote goes first (a dead holder's stays,
        for whoever ends what it left)."""
        if self._held is not None:
            self.path.unlink(missing_ok=True)
            self._held.close()
            self._held = None


class Slot:
    """The right to run one process; released when the process has been reaped."""

    def __init__(self, budget: "Budget", number: int, lock: SlotLock):
        self.number = number
        self._budget = budget
        self._lock = lock
        self.state = RUNNING
        self.pgid: int | None = None
        self.mark(RUNNING)

    def mark(self, state: str, pgid: int | None = None) -> None:
        """Say what the process is doing (and its group, once known), for other workers."""
        self.state = state
        self.pgid = pgid if pgid is not None else self.pgid
        self._lock.write(f"{os.getpid()} {self._budget.owner} {state} {self.pgid or ''}")

    def release(self) -> None:
        """Free the slot for the next waiter; idempotent."""
        self._lock.release()
        self._budget.changed()


class Budget:
    """The host's process cap and its queue, seen from one worker."""

    def __init__(self, folder: Path, cap: int, queue_max: int):
        self.cap = cap
        self.queue_max = queue_max
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.evict_local: Callable[[], bool] = lambda: False  # set by this worker's pool
        self._slots = _subfolder(folder, "slots")
        self._names = b"\0claude-gateway/" + hashlib.sha256(
            str(folder.resolve()).encode()).hexdigest()[:32].encode()
        self._queue = _subfolder(folder, "queue")
        self._evict = _subfolder(folder, "evict")
        self._changed = threading.Condition()
        self._last_evict_request = 0.0

    def changed(self) -> None:
        """Wake this worker's waiters: a slot was freed here."""
        with self._changed:
            self._changed.notify_all()

    def try_take(self) -> Slot | None:
        """A free slot if one is free and nobody waits for it, else None at once."""
        return None if self.queued() else self.take_free()

    def take_free(self) -> Slot | None:
        """A free slot, whoever waits: for the waiter whose turn it is."""
        for number in range(self.cap):
            lock = SlotLock.try_acquire(self._slot_name(number), self._slot_path(number))
            if lock is not None:
                _end_orphan(self._read_slot(number))
                return Slot(self, number, lock)
        return None

    def enqueue(self) -> "Ticket":
        """Join the queue; QueueFull when QUEUE_MAX requests already wait."""
        if self.queued() >= self.queue_max:
            raise QueueFull()
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        path = self._queue / name
        path.touch()
        return Ticket(self, path)

    def waiters(self) -> list[str]:
        """The tickets of live waiters, oldest first; tickets of dead workers are removed."""
        alive = []
        for name in sorted(_listdir(self._queue)):
            if pid_alive(int(name.split("-")[1])):
                alive.append(name)
            else:
                (self._queue / name).unlink(missing_ok=True)
        return alive

    def queued(self) -> int:
        return len(self.waiters())

    def holders(self) -> list[Holder]:
        """Who holds each slot now (slots whose holder died are skipped)."""
        found = []
        for number in range(self.cap):
            if SlotLock.is_held(self._slot_name(number)):
                found.append(self._read_slot(number) or Holder(number, 0, "", RUNNING, None))
        return found

    def counts(self) -> dict:
        """Running, idle, warm and queued processes on this host, and the cap."""
        states = [holder.state for holder in self.holders()]
        return {"running": states.count(RUNNING), "idle": states.count(IDLE),
                "warm": states.count(WARM), "queued": self.queued(), "cap": self.cap}

    def free(self) -> int:
        """How many slots nobody holds."""
        return self.cap - len(self.holders())

    def request_eviction(self) -> None:
        """Ask a worker holding an idle or warm process to give it up (this one first)."""
        if self.evict_local():
            return
        now = time.monotonic()
        if now - self._last_evict_request < EVICT_REQUEST_SECONDS:
            return
        self._last_evict_request = now
        for holder in self.holders():
            if holder.state in (IDLE, WARM) and holder.owner != self.owner:
                (self._evict / holder.owner).touch()
                return

    def eviction_requested(self) -> bool:
        """Whether another worker asked this one to give up a process (the ask is consumed)."""
        path = self._evict / self.owner
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    def reclaim(self, worker_pid: int) -> list[int]:
        """Free the slots of a worker that has died; return the process groups it left there."""
        groups = []
        for number in range(self.cap):
            holder = self._read_slot(number)
            if holder is None or holder.worker_pid != worker_pid:
                continue
            lock = SlotLock.try_acquire(self._slot_name(number), self._slot_path(number))
            if lock is None:
                continue  # taken meanwhile: by a live worker, who ended what was left
            if holder.pgid:
                groups.append(holder.pgid)
            lock.release()
        return groups

    def _read_slot(self, number: int) -> Holder | None:
        try:
            pid, owner, state, pgid = self._slot_path(number).read_text().split(" ")
            return Holder(number, int(pid), owner, state, int(pgid) if pgid else None)
        except (OSError, ValueError):
            return None

    def _slot_name(self, number: int) -> bytes:
        return self._names + f"/slot-{number}".encode()

    def _slot_path(self, number: int) -> Path:
        return self._slots / f"slot-{number}"

    def wait_for_change(self, seconds: float) -> None:
        with self._changed:
            self._changed.wait(seconds)


class Ticket:
    """One request's place in the queue; `wait()` until it gets a slot, `cancel()` always."""

    def __init__(self, budget: Budget, path: Path):
        self._budget = budget
        self._path = path
        self._since = time.monotonic()
        self._waiting = True

    def wait(self, seconds: float) -> Slot | None:
        """Wait up to `seconds` for a slot; None if none came (the place is kept)."""
        budget = self._budget
        deadline = time.monotonic() + seconds
        while True:
            waiters = budget.waiters()
            ahead = waiters.index(self._path.name) if self._path.name in waiters else 0
            if ahead < budget.cap:
                slot = budget.take_free() if ahead < budget.free() else None
                if slot is not None:
                    self._leave(served=True)
                    return slot
                if ahead == 0:
                    budget.request_eviction()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            budget.wait_for_change(min(POLL_SECONDS, remaining))

    def cancel(self) -> None:
        """Leave the queue; idempotent."""
        self._leave(served=False)

    def _leave(self, served: bool) -> None:
        """Give up the place, counting the wait once (with or without a slot)."""
        self._path.unlink(missing_ok=True)
        if self._waiting:
            self._waiting = False
            metrics.queue_left(time.monotonic() - self._since, served)


def _end_orphan(previous: Holder | None) -> None:
    """Kill what a dead worker left in the slot, had the master not done so yet."""
    if previous is not None and previous.pgid and not pid_alive(previous.worker_pid):
        try:
            os.killpg(previous.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _listdir(folder: Path) -> list[str]:
    """A folder's entries; none if it is gone (STATE_DIR removed, made again soon)."""
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _subfolder(folder: Path, name: str) -> Path:
    path = folder / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def pid_alive(pid: int) -> bool:
    """Tell whether a process of this host still runs (a worker, a child)."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
