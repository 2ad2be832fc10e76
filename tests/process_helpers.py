"""Helpers for the tests that start, signal and watch processes (read from /proc)."""

import contextlib
import os
import time
from pathlib import Path


def descendants(pid: int) -> set[int]:
    """Every descendant of ``pid``."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    kids = {int(k) for k in Path(f"/proc/{parent}/task/{task}/children").read_text().split()}
                    todo.extend(kids - found)
                    found |= kids
    return found


def gone(pid: int) -> bool:
    """The process no longer runs (absent, or a zombie waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def wait_until(condition, timeout: float, step: float = 0.01) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
