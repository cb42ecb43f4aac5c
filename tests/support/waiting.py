"""Waiting for what a test can only observe: a condition, a process ending."""

import time
from pathlib import Path


def process_gone(pid: int) -> bool:
    """True once the process has ended (a zombie awaiting its reaper counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_until(condition, seconds: float) -> bool:
    """Poll an observable condition until it holds or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
