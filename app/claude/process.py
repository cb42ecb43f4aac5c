"""One live `claude` child: its own process group, pipes it owns, a routing reader, always reaped.

The child reads JSON lines on stdin (user messages and control requests) for as
long as it lives, so one process can serve many turns. One reader thread routes
each stdout line: a `control_response` to the request waiting for it, a
`control_request` to a handler, anything else to the queue of the turn being
run, all the lines of one read as one batch (a fast stream then costs one hand-over
between threads per read, not per line). A writer thread feeds stdin, so a large
prompt never blocks the caller, and stderr drains into a bounded tail. Under
gunicorn's gevent worker the standard library is already patched, and these
threads and queues become greenlets.
"""

import io
import json
import os
import queue
import select
import signal
import subprocess
import threading
import time
import uuid
from collections import deque
from typing import IO, Callable, Iterator, Protocol, cast

from loguru import logger

from app.claude.client_tools import ClientToolServer
from app.claude.events import KEEPALIVE, Event, KeepAlive, parse_line

STDERR_TAIL_BYTES = 8192
# Asked of a warm process once it has answered its handshake: building the context-usage
# report makes the CLI do now much of what its first turn would do later (system prompt,
# tools, skills, and its API client, whose token counts the gateway's proxy refuses: no
# turn runs on the process yet). Measured in docs/benchmarks.md (the perf commits).
WARM_UP = {"subtype": "get_context_usage", "detail": "full"}
READ_BYTES = 65536
# Once the CLI has printed lines faster than this for BURST_READS reads in a row (a model
# streaming as fast as the API can send), its lines are handed over once per COALESCE_SECONDS:
# each hand-over wakes the turn's thread and costs a write to the client, whatever it carries.
# Slower output, and the start of every burst (so the first token), goes over at once.
COALESCE_SECONDS = 0.005
BURST_READS = 8
_EVENT_QUEUE_SIZE = 32  # batches: the lines of one read (at most READ_BYTES), or one long line
_EOF = object()
_live: "set[LiveProcess]" = set()
_live_lock = threading.Lock()
_shutting_down = threading.Event()  # set by stop_all: the worker is going, start nothing

# (request id, body) -> the response body, or None when the handler answers later with
# `LiveProcess.reply()` (a person deciding, a client returning a tool's result).
ControlHandler = Callable[[str, dict], "dict | None"]


class ApiPass(Protocol):
    """A process's pass to the gateway's API proxy (app/proxy/passes.py): whose budget its
    calls spend, and whether they are its warm-up's."""
    warming: bool

    def bind(self, holder: object) -> None: ...

    def unbind(self) -> None: ...


class LiveProcess:
    """A running child; one turn at a time reads its events, anyone may stop it."""

    def __init__(self, argv: list[str], cwd: str, env: dict[str, str], kill_grace: float,
                 on_stop: list[Callable[[], None]] | None = None,
                 handlers: dict[str, ControlHandler] | None = None,
                 cli_pid: Callable[[int], int | None] | None = None):
        self.kill_grace = kill_grace
        self.handlers: dict[str, ControlHandler] = dict(handlers or {})  # by request subtype
        self.ended = False  # stdout reached EOF: nothing more will come
        self.tool_server: ClientToolServer | None = None  # the client's functions it serves
        self.api_pass: ApiPass | None = None  # its pass to the gateway's API proxy
        self._cli_pid = cli_pid  # finds the CLI inside a sandbox, whose init must not get SIGINT
        self._on_stop = list(on_stop or ())
        self._events: queue.Queue = queue.Queue(maxsize=_EVENT_QUEUE_SIZE)
        self._ready: deque[Event] = deque()  # taken from the queue, not yet from next_event
        self._stdin: queue.Queue = queue.Queue()
        self._responses: dict[str, dict] = {}
        self._handshake: str | None = None  # the request id of `initialize`, once sent
        self._warm_up: str | None = None  # the request id of WARM_UP, once sent
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._stop_lock = threading.Lock()
        self._stopping = False
        self._stopped = False
        if _shutting_down.is_set():
            raise OSError("the worker is shutting down")
        self._proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self._proc.pid
        with _live_lock:
            _live.add(self)
        self._threads = [self._spawn(target) for target in
                         (self._read_stdout, self._drain_stderr, self._write_stdin)]
        self._stderr_drain = self._threads[1]

    def _spawn(self, target) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True, name=f"claude-{self.pid}")
        thread.start()
        return thread

    @property
    def alive(self) -> bool:
        """Running, not being stopped, and still able to answer."""
        return not (self._stopping or self.ended) and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has ended, else None."""
        return self._proc.poll()

    @property
    def stderr_tail(self) -> str:
        """The last few KB the child wrote to stderr, for error messages."""
        tail = b"".join(self._stderr)[-STDERR_TAIL_BYTES:]
        return tail.decode("utf-8", errors="replace").strip()

    # -- writing --------------------------------------------------------------------------

    def send(self, frame: dict) -> None:
        """Queue one JSON line for stdin (ASCII escapes keep any string encodable)."""
        self._stdin.put((json.dumps(frame) + "\n").encode("ascii"))

    def request(self, subtype: str, **fields) -> str:
        """Send a control request without waiting; its response lands in `response()`."""
        request_id = "gw-" + uuid.uuid4().hex[:16]
        self.send({"type": "control_request", "request_id": request_id,
                   "request": {"subtype": subtype, **fields}})
        return request_id

    def handshake(self) -> None:
        """Send the Agent SDK's `initialize`: its answer is the CLI's sign that it has started.

        A process waiting for its first message prints nothing else. The 2.1.332 CLI also
        holds part of its start-up work until this handshake (or about a second without
        it), which otherwise runs into the first turn. Once it is answered, WARM_UP follows.
        """
        self._handshake = self.request("initialize", hooks=None)

    @property
    def ready(self) -> bool:
        """The CLI has answered the handshake and the warm-up: started up, and waiting for a
        message with what its first turn needs built."""
        return self._warm_up is not None and self._warm_up in self._responses

    def response(self, request_id: str) -> dict | None:
        """The CLI's answer to a control request, once it has come."""
        return self._responses.pop(request_id, None)

    def bill_to(self, holder: object) -> None:
        """Let the process's API calls spend `holder`'s budget from now on. Every launch
        issues a pass; a process without one must not run a turn, whose calls nobody would
        be billed for."""
        if self.api_pass is None:
            raise RuntimeError(f"claude pid {self.pid} has no pass to the API proxy")
        self.api_pass.bind(holder)

    def _write_stdin(self) -> None:
        stdin = cast(IO[bytes], self._proc.stdin)  # a pipe: the child was started with one
        try:
            for data in iter(self._stdin.get, None):
                stdin.write(data)
                stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the child is gone; its exit is reported through stdout
        finally:
            _close_quietly(self._proc.stdin)

    # -- reading --------------------------------------------------------------------------

    def next_event(self, timeout: float) -> Event | KeepAlive | None:
        """The next event for the running turn; KEEPALIVE after `timeout`, None at the end."""
        if not self._ready:
            if self.ended and self._events.empty():
                return None
            try:
                batch = self._events.get(timeout=max(0.0, timeout))
            except queue.Empty:
                return None if self._stopping else KEEPALIVE
            if batch is _EOF:
                return None
            self._ready.extend(batch)
        return self._ready.popleft()

    def has_ready(self) -> bool:
        """Whether `next_event()` would return at once (an event, or the end, is at hand)."""
        return bool(self._ready) or not self._events.empty()

    def drain(self) -> int:
        """Drop events left from an earlier turn; return how many there were."""
        dropped = len(self._ready)
        self._ready.clear()
        while not self._events.empty():
            batch = self._events.get_nowait()
            if batch is _EOF:
                self._events.put(_EOF)
                break
            dropped += len(batch)
        return dropped

    def _read_stdout(self) -> None:
        try:
            for lines in _lines(self._proc.stdout):
                if not self._route_all(lines):
                    return
        except (ValueError, OSError):
            pass
        finally:
            _close_quietly(self._proc.stdout)
            self.ended = True
            self._put(_EOF)

    def _route_all(self, lines: list[bytes]) -> bool:
        """Route the lines of one read, the turn's events as one batch; False once the process
        is being stopped."""
        batch = []
        for line in lines:
            event = parse_line(line)
            if event is None:
                continue
            if event.type not in ("control_response", "control_request"):
                batch.append(event)
                continue
            if batch and not self._put(batch):  # first: what a handler injects comes after
                return False
            batch = []
            self._route(event)
        return not batch or self._put(batch)

    def _route(self, event: Event) -> None:
        """Answer or file a control message of the CLI's."""
        if event.type == "control_response":
            response = event.data.get("response") or {}
            request_id = str(response.get("request_id"))
            if request_id == self._handshake and self._warm_up is None:
                self._warming(True)
                self._warm_up = self.request(**WARM_UP)  # before `ready` can see the answer
            elif request_id == self._warm_up:
                self._warming(False)
                response = {"subtype": response.get("subtype")}  # its report is not needed
            self._responses[request_id] = response
        else:
            self._answer(event.data)

    def _warming(self, on: bool) -> None:
        """Tell the API proxy that calls of this process are the warm-up's, not a turn's."""
        if self.api_pass is not None:
            self.api_pass.warming = on

    def _answer(self, frame: dict) -> None:
        """Answer the CLI's own control request with the registered handler, or refuse it."""
        body = frame.get("request") or {}
        request_id = str(frame.get("request_id"))
        handler = self.handlers.get(str(body.get("subtype")))
        if handler is None:
            self.reply_error(request_id, f"the gateway does not handle {body.get('subtype')!r}")
            return
        try:
            response = handler(request_id, body)
        except Exception as exc:  # a handler's failure is the CLI's answer, not our crash
            logger.opt(exception=exc).warning("answering the CLI's {} failed", body.get("subtype"))
            self.reply_error(request_id, str(exc))
            return
        if response is not None:
            self.reply(request_id, response)

    def reply(self, request_id: str, response: dict) -> None:
        """Answer a control request of the CLI's."""
        self.send({"type": "control_response", "response": {
            "subtype": "success", "request_id": request_id, "response": response}})

    def reply_error(self, request_id: str, message: str) -> None:
        """Refuse a control request of the CLI's."""
        self.send({"type": "control_response", "response": {
            "subtype": "error", "request_id": request_id, "error": message}})

    def inject(self, data: dict) -> None:
        """Put an event of the gateway's own into the running turn's stream, in order (call it
        from a handler, which runs on the reader thread)."""
        self._put([Event.made(data)])

    def _put(self, item) -> bool:
        """Queue an item, giving up once the process is being stopped."""
        while not self._stopping:
            try:
                self._events.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _drain_stderr(self) -> None:
        try:
            stderr = cast(io.BufferedReader, self._proc.stderr)  # a pipe, as stdout
            for chunk in iter(lambda: stderr.read1(65536), b""):
                self._stderr.append(chunk)
                self._stderr_size += len(chunk)
                while self._stderr_size - len(self._stderr[0]) >= STDERR_TAIL_BYTES:
                    self._stderr_size -= len(self._stderr.popleft())
        except (ValueError, OSError):
            pass
        finally:
            _close_quietly(self._proc.stderr)

    # -- ending ---------------------------------------------------------------------------

    def wait(self, seconds: float) -> bool:
        """Wait for the child to exit by itself; tell whether it did. Once it has, its
        stderr is read to the end too (a caller looks there for why it ended: under load
        the drain thread could still be a chunk behind)."""
        try:
            self._proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        self._stderr_drain.join(timeout=1.0)
        return True

    def terminate(self) -> None:
        """Ask the CLI to end without waiting; `stop()` finishes the job.

        SIGINT, not SIGTERM: on SIGINT the CLI ends the Bash commands it runs (in
        process groups of their own, which a signal to this group never reaches) and
        writes its session file before exiting. In a sandbox only the CLI gets it: the
        sandbox's init would die of it at once, and every process inside with it.
        """
        if not self._stopping:
            self._stopping = True
            inside = self._cli_pid(self.pid) if self._cli_pid is not None else None
            if inside is not None:
                _signal_pid(inside, signal.SIGINT)
            else:
                _signal_group(self.pid, signal.SIGINT)
            self._wake_reader()

    def stop(self) -> None:
        """End the whole process group: SIGINT, SIGKILL after the grace, always reap.

        Idempotent; a second caller waits until the first has finished.
        """
        with self._stop_lock:
            if self._stopped:
                return
            self.terminate()
            if not self.wait(self.kill_grace):
                logger.warning("claude pid {} did not exit when asked; killing it", self.pid)
                _signal_group(self.pid, signal.SIGKILL)
                self._proc.wait()
            _signal_group(self.pid, signal.SIGKILL)  # stragglers the child left in its group
            self._stdin.put(None)
            for thread in self._threads:
                thread.join(timeout=1.0)  # so stderr_tail holds everything the child wrote
            self._stopped = True
            with _live_lock:
                _live.discard(self)
            for callback in self._on_stop:
                callback()

    def _wake_reader(self) -> None:
        """Unblock `next_event()` at once instead of at its next keep-alive tick."""
        try:
            self._events.put_nowait(_EOF)
        except queue.Full:
            pass  # a full queue means the reader is not waiting


def _lines(stream) -> Iterator[list[bytes]]:
    """The complete lines of each read of `stream`; a line may span reads (no length limit)."""
    pending: list[bytes] = []
    last, burst = 0.0, 0  # when lines were last handed over; how many reads in a row were quick
    while chunk := stream.read1(READ_BYTES):
        burst = burst + 1 if time.monotonic() - last < COALESCE_SECONDS else 0
        if burst >= BURST_READS:
            time.sleep(COALESCE_SECONDS)  # let the CLI print more, and take it with these
            chunk += _available(stream)
        last = time.monotonic()
        *lines, tail = chunk.split(b"\n")
        if lines:
            lines[0] = b"".join([*pending, lines[0]])
            pending = []
            yield lines
        if tail:
            pending.append(tail)
    if pending:
        yield [b"".join(pending)]


def _available(stream) -> bytes:
    """What can be read from `stream` now without waiting (up to READ_BYTES)."""
    parts, size = [], 0
    while size < READ_BYTES and select.select([stream], [], [], 0)[0]:
        part = stream.read1(READ_BYTES - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_pid(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _close_quietly(stream) -> None:
    try:
        stream.close()
    except (OSError, ValueError):
        pass


def terminate_all() -> None:
    """Ask every child of this worker to end, without waiting (safe in a signal handler:
    no lock is taken, set.copy() is atomic)."""
    _shutting_down.set()
    for process in _live.copy():
        process.terminate()


def stop_all() -> None:
    """Stop every child of this worker; called when the worker shuts down.

    All groups are asked first, so the kill grace runs once, not once per child.
    """
    _shutting_down.set()
    with _live_lock:
        processes = list(_live)
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop()
