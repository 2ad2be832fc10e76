"""A memory guard: estimate what a run needs before allocating it, and refuse what cannot fit.

The estimates are peak resident memory measured on this code (Linux, 64-bit,
``resource.getrusage`` before and after, N = 100,000 and 400,000, which agree
within 5%; for a run, the slope of the maximum resident size from 1,000,000 to
2,000,000 citizens after the memory work of the performance issue), with a
margin. They are per process: a forecast with K workers holds K replicates at
once.
"""

from __future__ import annotations

import os
from pathlib import Path

from sim.errors import UserError

# Peak bytes per citizen, measured, rounded up by about 10%.
BYTES_PER_CITIZEN = {
    # synthetic sample, citizens, engine state, monthly metrics: 365 measured for `run` (1M → 2M citizens) and
    # 369 for a serial `forecast` (500k → 1M), whose replicates run one after another in a process.
    "run": 400,
    "population": 1_000,  # synthetic sample and its Parquet frame
    "report": 2_500,  # sample, tables and published-model predictions
    "calibrate_report": 4_000,  # sample, joint state and seven refits
}
PROCESS_BASE_BYTES = 250 * 2**20  # interpreter, NumPy, pandas, SciPy, Mesa


class ResourceError(UserError):
    """A run would need more memory than the machine has available."""


def available_memory() -> int | None:
    """Bytes this process can still allocate: MemAvailable, capped by a cgroup limit if one is set."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            room = int(limit) - used
            available = room if available is None else min(available, room)
    except (OSError, ValueError):
        pass
    if available is None and hasattr(os, "sysconf"):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            available = None
    return available


def estimate_bytes(n: int, kind: str, processes: int = 1) -> int:
    """Estimated peak memory of a command on ``n`` citizens with ``processes`` processes at once."""
    return processes * (PROCESS_BASE_BYTES + BYTES_PER_CITIZEN[kind] * n)


def _size(value: float) -> str:
    return f"{value / 2**30:.1f} GiB" if value >= 2**30 else f"{value / 2**20:.0f} MiB"


def check_memory(n: int, kind: str, processes: int = 1, field: str = "--n") -> None:
    """Refuse, with one line, a run whose estimated memory exceeds what is available."""
    needed = estimate_bytes(n, kind, processes)
    available = available_memory()
    if available is None or needed <= available:
        return
    per_citizen = BYTES_PER_CITIZEN[kind] * processes
    largest = max((available - processes * PROCESS_BASE_BYTES) // per_citizen, 0)
    workers = f" with {processes} processes" if processes > 1 else ""
    raise ResourceError(
        f"{field}: {n:,} citizens{workers} need about {_size(needed)} of memory, but {_size(available)} is "
        f"available; use at most about {largest:,}"
    )
