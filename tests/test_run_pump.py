"""A run passes its frames on in batches: frames that came together reach the log in one write
and readers in one wake-up, and nothing gathered waits while the turn waits."""

import queue
import threading

from app.runs.log import FileRunLog, RunMeta
from app.runs.run import Run

READ_SECONDS = 10


class CountingLog(FileRunLog):
    """The real file log, counting its writes."""

    def __init__(self, folder):
        super().__init__(folder)
        self.writes: list[int] = []

    def append(self, run_id, frames):
        self.writes.append(len(frames))
        super().append(run_id, frames)


SILENT = object()  # an event of the turn that renders no frame
TURN_WAIT_SECONDS = 60  # longer than a reader waits: a frame held back fails the test


class ScriptedTurn:
    """A turn whose events come in bursts: `ready()` is true inside a burst, and before the
    turn waits for the next burst it calls what the run gave `on_wait`, as a real turn does."""

    def __init__(self):
        self.bursts: queue.Queue = queue.Queue()
        self.in_burst = False
        self.flush = lambda: None

    def ready(self) -> bool:
        return self.in_burst

    def on_wait(self, flush) -> None:
        self.flush = flush

    def frames(self):
        while True:
            self.flush()  # about to wait
            burst = self.bursts.get(timeout=TURN_WAIT_SECONDS)
            if burst is None:
                return
            for position, frame in enumerate(burst):
                self.in_burst = position < len(burst) - 1
                if frame is not SILENT:
                    yield frame


def running(data: str):
    return None, data, ("running", None)


def started(tmp_path, turn):
    log = CountingLog(tmp_path / "runs")
    run = Run(log, RunMeta("run_" + "c" * 32, "alice", "claude", status="running",
                           session_id="s1"),
              turn.frames(), lambda client_left=False: None, lambda: "s1", pacing=turn)
    run.start()
    return run, log


def follower(run):
    """The batches a reader in this worker gets, as they come."""
    got: queue.Queue = queue.Queue()

    def read():
        for batch in run.follow(0, keepalive=READ_SECONDS):
            if batch is not None:
                got.put([frame.data for frame in batch])
        got.put(None)

    threading.Thread(target=read, daemon=True).start()
    return got


def test_frames_that_came_together_are_written_and_read_together(tmp_path):
    turn = ScriptedTurn()
    run, log = started(tmp_path, turn)
    got = follower(run)
    turn.bursts.put([running(f"d{n}") for n in range(50)])
    assert got.get(timeout=READ_SECONDS) == [f"d{n}" for n in range(50)]
    assert log.writes == [50]
    turn.bursts.put([(None, "done", ("completed", {"result": "ok"}))])
    turn.bursts.put(None)
    assert got.get(timeout=READ_SECONDS) == ["done"]
    assert run.join(READ_SECONDS) and run.meta.status == "completed"


def test_a_frame_gathered_before_the_turn_waits_is_read_while_it_waits(tmp_path):
    turn = ScriptedTurn()
    run, _ = started(tmp_path, turn)
    got = follower(run)
    # More was at hand after the delta, but it rendered nothing; then the turn waits (a
    # tool runs, say) with the delta still gathered.
    turn.bursts.put([running("before the tool"), SILENT])
    assert got.get(timeout=READ_SECONDS) == ["before the tool"]
    turn.bursts.put([(None, "result", ("completed", {"result": "ok"}))])
    turn.bursts.put(None)
    assert got.get(timeout=READ_SECONDS) == ["result"]


def test_a_reader_here_sees_the_result_once_the_run_has_ended(tmp_path):
    turn = ScriptedTurn()
    run, _ = started(tmp_path, turn)
    ended_when_read: queue.Queue = queue.Queue()

    def read():
        for batch in run.follow(0, keepalive=READ_SECONDS):
            if batch and batch[-1].data == "result":
                ended_when_read.put(run.meta.status)

    threading.Thread(target=read, daemon=True).start()
    turn.bursts.put([running("d1"), (None, "result", ("completed", {"result": "ok"}))])
    turn.bursts.put(None)
    assert ended_when_read.get(timeout=READ_SECONDS) == "completed"
