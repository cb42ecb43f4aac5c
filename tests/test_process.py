"""The process runner on its own: limits that hold even when nobody reads, many turns, stops."""

import os
import threading
import time

import pytest

from app.claude import process as process_module
from app.claude.events import KeepAlive, parse_line
from app.claude.process import LiveProcess, stop_all
from app.claude.run import ClaudeRun, Limits
from tests.support.fake_cli import FAKE_CLAUDE
from tests.support.waiting import process_gone, wait_until


def spawn(tmp_path, kill_grace: float = 2) -> LiveProcess:
    return LiveProcess([str(FAKE_CLAUDE), "--input-format=stream-json"], str(tmp_path),
                       {"PATH": "/usr/bin:/bin"}, kill_grace)


def turn(process: LiveProcess, prompt: str, **limits) -> ClaudeRun:
    return ClaudeRun(process, [{"type": "text", "text": prompt}], Limits(**limits), None)


def events(run: ClaudeRun) -> list:
    return [e for e in run.events() if not isinstance(e, KeepAlive)]


def test_total_limit_stops_a_turn_nobody_reads(tmp_path):
    process = spawn(tmp_path, kill_grace=1)
    run = turn(process, "fake:hang", total=0.3, kill_grace=1)
    assert wait_until(lambda: process_gone(process.pid), seconds=5)
    assert run.timed_out == "total"


def test_one_process_answers_several_turns_in_order(tmp_path):
    process = spawn(tmp_path)
    first = events(turn(process, "one"))
    second = events(turn(process, "two"))
    assert first[-1].data["result"] == "echo: one"
    assert second[-1].data["result"] == "echo: two"
    assert first[0].session_id == second[0].session_id
    assert process.alive
    process.stop()
    assert process_gone(process.pid)


def test_an_interrupt_ends_the_turn_with_the_clis_result_and_keeps_the_process(tmp_path):
    process = spawn(tmp_path)
    run = turn(process, "fake:hang")
    assert run.first_event().type == "system"
    run.interrupt()
    result = events(run)[-1].data
    assert result["subtype"] == "error_during_execution" and not result.get("synthetic")
    assert run.finished and process.alive
    assert events(turn(process, "after"))[-1].data["result"] == "echo: after"
    process.stop()


def test_an_ignored_interrupt_stops_the_process_after_the_grace(tmp_path):
    process = spawn(tmp_path, kill_grace=0.5)
    run = turn(process, "fake:ignore-interrupt", kill_grace=0.5)
    run.first_event()
    run.interrupt()
    result = events(run)[-1].data
    assert result["subtype"] == "interrupted" and result["synthetic"]
    assert process_gone(process.pid)


@pytest.fixture
def worker_shutdown():
    """Let a test shut the 'worker' down, and start processes again afterwards."""
    yield stop_all
    process_module._shutting_down.clear()


def test_stop_all_ends_every_child_within_one_grace_and_starts_no_more(tmp_path,
                                                                      worker_shutdown):
    processes = [spawn(tmp_path, kill_grace=0.5) for _ in range(4)]
    runs = [turn(p, "fake:ignore-term") for p in processes]
    for run in runs:
        run.first_event()
    worker_shutdown()
    assert all(process_gone(p.pid) for p in processes)
    with pytest.raises(OSError):
        spawn(tmp_path)


def test_a_stop_from_elsewhere_wakes_a_waiting_reader(tmp_path):
    process = spawn(tmp_path)
    run = turn(process, "fake:hang", keepalive=60)
    assert run.first_event().type == "system"
    rest = []
    reader = threading.Thread(target=lambda: rest.extend(events(run)))  # blocks in its 60 s wait
    reader.start()
    process.stop()
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert [e.type for e in rest] == ["system", "result"] and rest[-1].data["synthetic"]


def pipe_of(writes: list[bytes], pause: float = 0.0):
    """The read end of a pipe that a thread fills with `writes`, then closes."""
    read_end, write_end = os.pipe()

    def fill():
        with os.fdopen(write_end, "wb", buffering=0) as out:
            for data in writes:
                out.write(data)
                time.sleep(pause)
    threading.Thread(target=fill, daemon=True).start()
    return os.fdopen(read_end, "rb")


def test_stdout_lines_come_whole_however_the_reads_cut_them(tmp_path):
    long = b"x" * (3 * process_module.READ_BYTES + 17)
    writes = [b'{"a":', b' 1}\n{"b": 2}\n' + long[:100], long[100:], b"\n", b'{"last": true}']
    with pipe_of(writes, pause=0.05) as stream:
        lines = [line for batch in process_module._lines(stream) for line in batch]
    assert lines == [b'{"a": 1}', b'{"b": 2}', long, b'{"last": true}']


def test_a_fast_stream_is_handed_over_in_few_batches_and_in_order(tmp_path):
    sent = [b'{"n": %d}\n' % n for n in range(3000)]
    with pipe_of(sent, pause=0.00002) as stream:
        batches = list(process_module._lines(stream))
    assert [line + b"\n" for batch in batches for line in batch] == sent
    assert len(batches) < 300  # one hand-over per read would be thousands


def test_a_stream_event_line_passes_through_unparsed_until_its_data_is_read():
    line = b'{"type":"stream_event","event":{"type":"ping"},"session_id":"s-1"}\n'
    event = parse_line(line)
    assert (event.type, event.raw) == ("stream_event", line.decode().strip())
    assert event._data is None  # nothing parsed yet: /api/claude passes the line on as it is
    assert event.data["event"] == {"type": "ping"} and event.session_id == "s-1"
    spaced = parse_line(b'{"type": "stream_event", "session_id": "s-1"}')
    assert spaced.type == "stream_event" and spaced._data is not None
    assert parse_line(b'{"type":"stream_event", broken') is None
