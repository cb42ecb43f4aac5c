"""One turn as a run: its stream goes to the run's log from a thread of its own, so the turn
goes on whether a client reads it, reads it late, or has gone (when it asked to continue).

The surface renders the turn as frames (an SSE event name, its data, and what the frame
means for the run: running, waiting, how it ended). Readers follow the run, never the
turn: the client that started it and anyone who reconnects read the same events, each
exactly once from where they ask. In the worker that runs it they read its frames from
memory; anywhere else, from the log.

Frames are passed on in batches: while the turn's next event is already at hand (the CLI
printed several at once, as it does when it streams fast) they are gathered, and written
and announced together once the turn would wait. One write and one wake-up per batch,
not per text delta, is what lets a long answer stream at the CLI's own pace.
"""

import threading
import time
from typing import Callable, Iterator, Protocol

from loguru import logger

from app.runs.log import Frame, RunLog, RunMeta

# What a frame means for its run: a new status and its detail (what it waits for, or its
# result), or None for a frame that changes nothing.
Reading = tuple[str, dict | None] | None
Rendered = tuple[str | None, str, Reading]  # (SSE event name, data, reading)
MAX_GATHERED = 256  # frames passed on together at most, however fast they come


class Interrupt(Protocol):
    """Interrupts a run's turn (`client_left`: because its client has gone)."""

    def __call__(self, client_left: bool = False) -> None: ...


class Pacing(Protocol):
    """How a run learns when to pass its gathered frames on (its turn implements it)."""

    def ready(self) -> bool:
        """Whether the turn's next event is already at hand (reading it will not wait)."""

    def on_wait(self, flush: Callable[[], None]) -> None:
        """Have `flush` called whenever the turn is about to wait for its next event."""


class Unpaced:
    """No hint: every frame is passed on at once."""

    def ready(self) -> bool:
        return False

    def on_wait(self, flush: Callable[[], None]) -> None:
        pass


class Run:
    """A started run: `start()` once; `cancel()` from anywhere in this worker."""

    def __init__(self, log: RunLog, meta: RunMeta, frames: Iterator[Rendered],
                 interrupt: Interrupt, session: Callable[[], str | None],
                 on_status: Callable[[RunMeta], None] = lambda meta: None,
                 pacing: Pacing = Unpaced()):
        self.log = log
        self.meta = meta
        self._frames = frames
        self._interrupt = interrupt
        self._session = session
        self._on_status = on_status
        self._pacing = pacing
        self._thread: threading.Thread | None = None
        self._cancelled = False
        self._gathered: list[Frame] = []  # frames not yet passed on (the pump's own)
        self._kept: list[Frame] = []  # every frame passed on, for readers in this worker
        self._changed = threading.Condition()
        self._done = False  # the pump has written its last frame and the final status

    @property
    def id(self) -> str:
        return self.meta.id

    def start(self) -> None:
        """Open the log and pump the frames from a thread of the run's own."""
        self.log.open(self.meta)
        self._pacing.on_wait(self._pass_on)  # called on the pump's thread, in its frames
        self._thread = threading.Thread(target=self._pump, daemon=True, name=f"run-{self.id}")
        self._thread.start()

    def cancel(self) -> None:
        """End the run early: its turn is interrupted, so its session stays resumable."""
        if not self.meta.ended:
            self._cancelled = True
            self._interrupt()

    def end(self) -> None:
        """Its client has gone: cancel the run and wait until its turn has wound down (the
        session is free again once this returns)."""
        if not self.meta.ended:
            self._cancelled = True
            self._interrupt(client_left=True)
        self.join()

    def join(self, seconds: float | None = None) -> bool:
        """Wait for the run to end; tell whether it has."""
        if self._thread is not None:
            self._thread.join(seconds)
        return self._done

    def follow(self, after: int, keepalive: float) -> Iterator[list[Frame] | None]:
        """The frames after `after`, as they come (those that came together in one list),
        until the run has ended; None after `keepalive` seconds without one (a stream sends
        a keep-alive then)."""
        position = after
        while True:
            with self._changed:
                if len(self._kept) <= position and not self._done:
                    self._changed.wait(keepalive)
                fresh, done = self._kept[position:], self._done
            if fresh:
                position += len(fresh)
                yield fresh
            elif done:
                return
            else:
                yield None

    def _pump(self) -> None:
        try:
            self._pump_frames()
        except Exception as exc:  # the run ends failed, with what went wrong, not silently
            logger.opt(exception=exc).error("run {} failed while streaming", self.id)
            try:
                self._pass_on()
            except Exception as lost:
                logger.opt(exception=lost).error("run {}: its last frames are lost", self.id)
            self._move("failed", {"error": "The gateway failed while running this turn."})
        finally:
            if not self.meta.ended:
                self._move("failed", {"error": "The run ended without a result."})
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def _pump_frames(self) -> None:
        seq = 0
        for event, data, reading in self._frames:
            seq += 1
            self._gathered.append(Frame(seq, event, data))
            if reading is not None and self._may_move(reading[0]):
                status, detail = reading  # in the log before its status says so, and
                self._pass_on(between=lambda: self._move(status, detail))  # read here after
            elif len(self._gathered) >= MAX_GATHERED or not self._pacing.ready():
                self._pass_on()
        self._pass_on()

    def _pass_on(self, between: Callable[[], None] = lambda: None) -> None:
        """Write the gathered frames to the log, then (after `between`) hand them to this
        worker's readers."""
        batch, self._gathered = self._gathered, []
        try:
            if batch:
                self.log.append(self.id, batch)
            between()
        finally:
            if batch:
                with self._changed:
                    self._kept.extend(batch)
                    self._changed.notify_all()

    def _may_move(self, status: str) -> bool:
        """Whether a frame's status could change the run's (most frames: nothing changes; a
        run's session, once known, stays)."""
        meta = self.meta
        return not (meta.ended or (status == meta.status and status != "waiting"
                                   and meta.session_id is not None))

    def _move(self, status: str, detail: dict | None) -> None:
        """Record a new status (and what it waits for, or its result) and tell who listens."""
        meta = self.meta
        if not self._may_move(status):
            return
        session_id = self._session()
        if status == meta.status and status != "waiting" and session_id == meta.session_id:
            return
        meta.session_id = session_id or meta.session_id
        if self._cancelled and status in ("completed", "failed"):
            status = "cancelled"  # an interrupted turn ends with a result of its own
        meta.status = status
        if status != "queued" and meta.started_at is None:
            meta.started_at = time.time()
        meta.waiting = detail if status == "waiting" else None
        if meta.ended:
            meta.ended_at, meta.result = time.time(), detail
        try:
            self.log.save(meta)
        except Exception as exc:  # the log's store failing must not end the turn
            logger.opt(exception=exc).error("run {}: saving its status failed", self.id)
        self._on_status(meta)
