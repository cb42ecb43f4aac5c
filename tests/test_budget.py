"""The process budget on its own: slots, the queue, and what a dead worker leaves behind."""

import os
import subprocess

import pytest

from app.claude.budget import Budget, QueueFull


def dead_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_slots_cap_the_processes_and_free_on_release(tmp_path):
    budget = Budget(tmp_path, cap=2, queue_max=4)
    first, second = budget.try_take(), budget.try_take()
    assert first and second and budget.try_take() is None
    first.release()
    third = budget.try_take()
    assert third is not None
    for slot in (second, third):
        slot.release()


def test_the_cap_holds_while_the_state_folder_is_made_again(tmp_path):
    budget = Budget(tmp_path / "budget", cap=2, queue_max=4)
    held = [budget.try_take(), budget.try_take()]
    (tmp_path / "budget").rename(tmp_path / "gone")  # STATE_DIR removed while running
    again = Budget(tmp_path / "budget", cap=2, queue_max=4)  # another worker, made again
    assert again.try_take() is None and again.counts()["running"] == 2
    held[0].release()
    taken = again.try_take()
    assert taken is not None
    for slot in (held[1], taken):
        slot.release()


def test_a_dead_workers_slot_keeps_its_groups_until_the_master_reclaims_them(tmp_path):
    budget = Budget(tmp_path, cap=2, queue_max=4)
    gone = dead_pid()
    (tmp_path / "slots").mkdir(exist_ok=True)
    (tmp_path / "slots" / "slot-0").write_text(f"{gone} {gone}-abcd idle 424242")
    assert budget.holders() == []  # its lock is free: nobody holds the slot
    assert budget.counts()["idle"] == 0
    assert budget.reclaim(gone) == [424242]  # the probes above left the record in place
    assert budget.reclaim(gone) == []
    assert not (tmp_path / "slots" / "slot-0").exists()


def test_the_queue_is_full_at_queue_max_and_dead_workers_tickets_are_dropped(tmp_path):
    budget = Budget(tmp_path, cap=1, queue_max=2)
    mine = budget.enqueue()
    (tmp_path / "queue" / f"{0:020d}-{dead_pid()}-deadbeef").touch()
    assert budget.queued() == 1
    budget.enqueue()
    with pytest.raises(QueueFull):
        budget.enqueue()
    mine.cancel()
    assert budget.queued() == 1 and os.listdir(tmp_path / "queue")
