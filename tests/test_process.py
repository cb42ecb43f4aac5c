"""The process runner on its own: limits that hold even when nobody reads the output."""

import threading

from app.claude.process import ClaudeProcess, Limits, stop_all
from app.claude.run import user_message
from tests.conftest import FAKE_CLAUDE
from tests.test_faults import process_gone, wait_until


def start(prompt: str, tmp_path, **limits) -> ClaudeProcess:
    process = ClaudeProcess([str(FAKE_CLAUDE), "--input-format=stream-json"], str(tmp_path),
                            {"PATH": "/usr/bin:/bin"}, Limits(**limits))
    process.send(user_message([{"type": "text", "text": prompt}]))
    return process


def test_total_limit_stops_a_run_nobody_reads(tmp_path):
    process = start("fake:hang", tmp_path, total=0.3, kill_grace=1)
    assert wait_until(lambda: process_gone(process.pid), seconds=5)
    assert process.timed_out == "total"


def test_stop_all_ends_every_child_within_one_grace(tmp_path):
    processes = [start("fake:ignore-term", tmp_path, kill_grace=0.5) for _ in range(4)]
    stop_all()
    assert all(process_gone(p.pid) for p in processes)


def test_a_stop_from_elsewhere_wakes_a_waiting_reader(tmp_path):
    process = start("fake:hang", tmp_path, keepalive=60)
    lines = process.lines()
    assert b'"init"' in next(lines)
    rest = []
    reader = threading.Thread(target=lambda: rest.extend(lines))  # blocks in its 60 s wait
    reader.start()
    process.stop()
    reader.join(timeout=30)
    assert not reader.is_alive() and rest == []
