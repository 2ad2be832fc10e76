"""``scsim bench``: the engine's speed and memory, beside its per-agent Mesa reference in the same run.

The engine runs N citizens for M months; the reference (``sim.reference``,
one ``mesa.Agent`` per citizen, the same rules) runs a smaller N for at most
12 months, because it is a few hundred times slower. Both count agent-steps
(citizens × months) per second of stepping, set-up excluded.

Memory is the peak resident size the engine's part of the run added to the
process (``getrusage``'s maximum minus the resident size before the citizens
were drawn), per citizen; it includes the synthetic sample the citizens are
drawn from, as every run does. A survey-sized engine runs one month first, so
that what a process pays once whatever its citizens (about 27 MB for LLVM and
the compiled loops, loaded on their first call) is not counted per citizen.
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from calibration.citizens import build_population, engine_approval_model
from sim.model import STAGES, SCSEngine
from sim.params import SimulationParams
from sim.reference import ReferenceModel

REFERENCE_N = 2_209  # the survey's size: the reference-equivalence test runs at it too
MAX_REFERENCE_MONTHS = 12


def _resident_bytes() -> int:
    """The process's resident size now (Linux ``/proc``; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_resident_bytes() -> int:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_engine(n: int, months: int, seed: int = 1) -> dict[str, Any]:
    """Time the engine's population draw, set-up and months (per stage), and its peak memory."""
    with SCSEngine(build_population(REFERENCE_N, seed), engine_approval_model(), SimulationParams(), seed=seed) as warm:
        warm.run(1)
    gc.collect()
    before = _resident_bytes()
    started = time.perf_counter()
    population = build_population(n, seed)
    drawn = time.perf_counter()
    model = SCSEngine(population, engine_approval_model(), SimulationParams(), seed=seed)
    built = time.perf_counter()
    model.run(months)
    stepped = time.perf_counter()
    peak = _peak_resident_bytes()
    seconds = stepped - built
    return {
        "n": n,
        "months": months,
        "population_seconds": drawn - started,
        "setup_seconds": built - drawn,
        "seconds_per_month": seconds / months,
        "agent_steps_per_s": n * months / seconds,
        "stage_seconds": {stage: model.stage_seconds[stage] / months for stage in STAGES},
        "peak_rss_bytes": peak,
        "bytes_per_citizen": (peak - before) / n if before else None,
        "share_approve": float(model.metrics()["all|share_approve"]),
    }


def bench_reference(n: int, months: int, seed: int = 1) -> dict[str, Any]:
    """Time the per-agent reference's months (set-up excluded)."""
    population = build_population(n, seed)
    with ReferenceModel(population, engine_approval_model(), SimulationParams(), seed=seed) as reference:
        started = time.perf_counter()
        reference.run(months)
        seconds = time.perf_counter() - started
    return {"reference_n": n, "reference_months": months, "reference_agent_steps_per_s": n * months / seconds}


def run_bench(n: int, months: int, reference_n: int = REFERENCE_N) -> dict[str, Any]:
    """The figures ``scsim bench`` prints, on one core. The engine runs first, so its peak memory is its own."""
    # One core: the metrics' matrix products would otherwise use every core BLAS finds.
    with threadpool_limits(limits=1):
        engine = bench_engine(n, months)
        reference = bench_reference(min(reference_n, n), min(months, MAX_REFERENCE_MONTHS))
    return {
        **engine,
        **reference,
        "speedup": engine["agent_steps_per_s"] / reference["reference_agent_steps_per_s"],
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "blas_threads": 1,
            "platform": sys.platform,
        },
    }


def render(figures: dict[str, Any]) -> str:
    """The figures as lines for a terminal."""
    stages = ", ".join(f"{stage} {1000 * seconds:.1f}" for stage, seconds in figures["stage_seconds"].items())
    memory = figures["bytes_per_citizen"]
    return "\n".join([
        f"engine: {figures['n']:,} citizens × {figures['months']} months",
        f"  population draw {figures['population_seconds']:.2f} s, set-up {figures['setup_seconds']:.2f} s",
        f"  {1000 * figures['seconds_per_month']:.1f} ms per month: "
        f"{figures['agent_steps_per_s'] / 1e6:.2f} million agent-steps per second",
        f"  per stage (ms per month): {stages}",
        f"  peak memory: {'not measured' if memory is None else f'{memory:,.0f} bytes per citizen'}",
        f"reference (one mesa.Agent per citizen): {figures['reference_n']:,} citizens × "
        f"{figures['reference_months']} months, {figures['reference_agent_steps_per_s']:,.0f} agent-steps per second",
        f"speed-up of the engine over the reference: {figures['speedup']:,.0f}×",
    ])  # fmt: skip
