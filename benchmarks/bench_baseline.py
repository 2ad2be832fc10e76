"""Benchmark: a 1,000,000-citizen, 60-month baseline run (one replicate, one core).

Run on demand: ``python benchmarks/bench_baseline.py [--n 1000000] [--months 60]``.
Prints the set-up time, the time per month and agent-steps per second. The
target is 20 million agent-steps per second on one core at 1M citizens.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from calibration.citizens import build_population, engine_approval_model
from sim.model import SCSEngine
from sim.params import SimulationParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=60)
    args = parser.parse_args()
    started = time.perf_counter()
    population = build_population(args.n, 1)
    built = time.perf_counter()
    model = SCSEngine(population, engine_approval_model(), SimulationParams(), seed=2)
    initialised = time.perf_counter()
    step_times = []
    for _ in range(args.months):
        before = time.perf_counter()
        model.step()
        step_times.append(time.perf_counter() - before)
    total = sum(step_times)
    print(f"citizens {args.n:,}, months {args.months}")
    print(f"population draw {built - started:.2f} s, model set-up {initialised - built:.2f} s")
    print(f"simulation {total:.2f} s: {1000 * total / args.months:.1f} ms per month (min {1000 * min(step_times):.1f})")
    print(f"agent-steps per second: {args.n * args.months / total / 1e6:.2f} million (target 20)")
    metrics = model.metrics()
    print(f"share approving at month {args.months}: {100 * metrics['all|share_approve']:.2f}%")


if __name__ == "__main__":
    main()
