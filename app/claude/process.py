"""One `claude` child process: spawned in its own group, read line by line, always reaped.

Reader threads turn stdout into a queue of lines and drain stderr into a bounded
tail, so a chatty stderr never blocks the child. Under gunicorn's gevent worker
the standard library is already patched, and the same threads and queue become
cooperative greenlets.
"""

import os
import queue
import signal
import subprocess
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Iterator

from loguru import logger

KEEPALIVE = object()  # yielded by `lines()` while the child is silent
STDERR_TAIL_BYTES = 8192
_LINE_QUEUE_SIZE = 256
_EOF = object()
_live: "weakref.WeakSet[ClaudeProcess]" = weakref.WeakSet()


@dataclass(frozen=True)
class Limits:
    """How long a run may last and stay silent, and how stops escalate (seconds)."""
    total: float = 3600.0
    inactivity: float = 300.0
    kill_grace: float = 5.0
    keepalive: float = 15.0


class ClaudeProcess:
    """A running child whose stdout lines are consumed by exactly one reader."""

    def __init__(self, argv: list[str], cwd: str, env: dict[str, str], limits: Limits):
        self.limits = limits
        self.timed_out: str | None = None  # "total" or "inactivity" once a limit fired
        self._stderr = deque()
        self._stderr_size = 0
        self._lines: queue.Queue = queue.Queue(maxsize=_LINE_QUEUE_SIZE)
        self._stop_lock = threading.Lock()
        self._stopping = False
        self._started = time.monotonic()
        self._proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self._proc.pid
        _live.add(self)
        self._threads = [self._spawn(self._read_stdout), self._spawn(self._drain_stderr)]
        # The total limit holds even when nobody reads (a stalled client, a slow socket).
        self._watchdog = threading.Timer(limits.total, self._expire_total)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _spawn(self, target) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True, name=f"claude-{self.pid}")
        thread.start()
        return thread

    def send(self, data: bytes, close: bool = True) -> None:
        """Write to the child's stdin from a thread, so a large prompt never blocks us."""
        self._spawn(lambda: self._write_stdin(data, close))

    def _write_stdin(self, data: bytes, close: bool) -> None:
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
            if close:
                self._proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the child is gone; its exit is reported through stdout

    def _read_stdout(self) -> None:
        try:
            for line in self._proc.stdout:  # readline has no length limit
                if not self._put(line):
                    return
        except (ValueError, OSError):
            pass
        finally:
            _close_quietly(self._proc.stdout)
            self._put(_EOF)

    def _put(self, item) -> bool:
        """Queue an item, giving up once the process is being stopped."""
        while not self._stopping:
            try:
                self._lines.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _drain_stderr(self) -> None:
        try:
            for chunk in iter(lambda: self._proc.stderr.read1(65536), b""):
                self._stderr.append(chunk)
                self._stderr_size += len(chunk)
                while self._stderr_size - len(self._stderr[0]) >= STDERR_TAIL_BYTES:
                    self._stderr_size -= len(self._stderr.popleft())
        except (ValueError, OSError):
            pass
        finally:
            _close_quietly(self._proc.stderr)

    @property
    def stderr_tail(self) -> str:
        """The last few KB the child wrote to stderr, for error messages."""
        tail = b"".join(self._stderr)[-STDERR_TAIL_BYTES:]
        return tail.decode("utf-8", errors="replace").strip()

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has ended, else None."""
        return self._proc.poll()

    def lines(self) -> Iterator[bytes | object]:
        """Yield stdout lines, and KEEPALIVE while silent, until EOF or a time limit."""
        last_activity = time.monotonic()
        while True:
            now = time.monotonic()
            deadline = min(self._started + self.limits.total,
                           last_activity + self.limits.inactivity)
            if now >= deadline:
                self._expire(now)
                return
            wait = 0 if self._stopping else min(self.limits.keepalive, deadline - now)
            try:
                item = self._lines.get(timeout=wait)
            except queue.Empty:
                if self._stopping:
                    return  # stopped from elsewhere: what was queued has been read
                if time.monotonic() < deadline:
                    yield KEEPALIVE
                continue
            if item is _EOF:
                self._wait_exit()
                return
            last_activity = time.monotonic()
            yield item

    def _expire(self, now: float) -> None:
        """Record which limit fired and stop the child."""
        total_hit = now >= self._started + self.limits.total
        self.timed_out = self.timed_out or ("total" if total_hit else "inactivity")
        logger.warning("claude pid {} hit its {} timeout; stopping it", self.pid, self.timed_out)
        self.stop()

    def _expire_total(self) -> None:
        """The watchdog's end of a run that outlived its total limit."""
        if self.returncode is None:
            self.timed_out = "total"
            self._expire(time.monotonic())

    def _wait_exit(self) -> None:
        """After EOF, give the child its kill grace to exit on its own, then stop it."""
        try:
            self._proc.wait(timeout=self.limits.kill_grace)
        except subprocess.TimeoutExpired:
            pass
        self.stop()

    def terminate(self) -> None:
        """Ask the whole group to end (SIGTERM) without waiting; `stop()` finishes the job."""
        if not self._stopping:
            self._stopping = True
            _signal_group(self.pid, signal.SIGTERM)
            self._wake_reader()

    def stop(self) -> None:
        """End the whole process group: SIGTERM, SIGKILL after the grace, always reap.

        Idempotent; a second caller waits until the first has finished.
        """
        with self._stop_lock:
            if self._proc.returncode is not None and self not in _live:
                return
            self._watchdog.cancel()
            self.terminate()
            try:
                self._proc.wait(timeout=self.limits.kill_grace)
            except subprocess.TimeoutExpired:
                logger.warning("claude pid {} ignored SIGTERM; killing it", self.pid)
                _signal_group(self.pid, signal.SIGKILL)
                self._proc.wait()
            _signal_group(self.pid, signal.SIGKILL)  # stragglers the child left in its group
            _close_quietly(self._proc.stdin)  # the readers close stdout and stderr at EOF
            for thread in self._threads:
                thread.join(timeout=1.0)  # so stderr_tail holds everything the child wrote
            _live.discard(self)

    def _wake_reader(self) -> None:
        """Unblock `lines()` at once instead of at its next keep-alive tick."""
        try:
            self._lines.put_nowait(_EOF)
        except queue.Full:
            pass  # a full queue means the reader is not waiting


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _close_quietly(stream) -> None:
    try:
        stream.close()
    except (OSError, ValueError):
        pass


def stop_all() -> None:
    """Stop every child of this worker; called when the worker shuts down.

    All groups get SIGTERM first, so the kill grace runs once, not once per child.
    """
    processes = list(_live)
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop()
