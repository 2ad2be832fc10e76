"""Benchmark: many small runs, as a parameter sweep makes them (2,209 citizens × 60 months).

Run on demand: ``python benchmarks/bench_small_runs.py [--runs 200] [--n 2209] [--months 60] [--workers 1]
[--fresh] [--split-runs 50]``.

Prints seconds per run and runs per second for ``--runs`` baseline runs of
``experiments.simulation.replicate_metrics`` (what sweeps call), each on the
cached population of its seed unless ``--fresh`` builds it every run. With
``--workers K`` the runs are spread over K processes and the wall time of
the whole batch is reported, including starting the workers. The sweep target is 1,000 runs in 60 s with 2
workers on 2 cores, about 0.12 s per run per worker.

Then, in this process, ``--split-runs`` more runs are split into set-up
(approval model and model construction, including ``calibrate_baseline`` and
the month-0 metrics), months (the monthly stages) and metrics (the monthly
``sim.metrics.metric_values`` the DataCollector reporter calls).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import sim.model
from calibration.citizens import engine_approval_model
from experiments.scenario import load_scenario
from experiments.simulation import replicate_metrics, replicate_population, replicate_seeds
from sim.metrics import metric_values
from sim.model import SCSEngine
from sim.state import CitizenState

SEED = 0


def _runs(count: int, n: int, months: int, fresh: bool, first: int) -> float:
    """``count`` baseline runs in this process; returns their wall time.

    Each run uses the population of the first of its seeds, built before the timing starts (as a sweep's
    runs of one replicate share theirs), unless ``fresh`` builds every run's own.
    """
    scenario = load_scenario("baseline")
    seeds = replicate_seeds(SEED, first + count)[first:]
    population = None if fresh else replicate_population(n, seeds[0])
    started = time.perf_counter()
    for seed in seeds:
        replicate_metrics(scenario, n, months, seeds[0] if population is not None else seed, population=population)
    return time.perf_counter() - started


def headline(runs: int, n: int, months: int, workers: int, fresh: bool) -> None:
    """Seconds per run and runs per second, over ``workers`` processes."""
    _runs(1, n, months, fresh, 0)  # imports, caches and the first population, outside the timing
    started = time.perf_counter()
    if workers == 1:
        _runs(runs, n, months, fresh, 0)
    else:
        shares = [runs // workers + (k < runs % workers) for k in range(workers)]
        firsts = np.cumsum([0, *shares[:-1]]).tolist()
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_runs, shares, [n] * workers, [months] * workers, [fresh] * workers, firsts))
    elapsed = time.perf_counter() - started
    population = "a population built every run" if fresh else "a cached population"
    print(f"{runs} runs of {n:,} citizens × {months} months, {workers} process(es), {population}:")
    print(
        f"  {elapsed:.2f} s: {1000 * elapsed / runs * workers:.1f} ms per run per process, "
        f"{runs / elapsed:.2f} runs per second; 1,000 runs would take {1000 * elapsed / runs:.1f} s"
    )


def split(runs: int, n: int, months: int) -> None:
    """Set-up, months and metrics of ``runs`` runs on a cached population, in this process."""
    scenario = load_scenario("baseline")
    population = replicate_population(n, replicate_seeds(SEED, 1)[0])
    spent = [0.0]

    def timed_metrics(state: CitizenState, approval: np.ndarray) -> np.ndarray:
        before = time.perf_counter()
        values = metric_values(state, approval)
        spent[0] += time.perf_counter() - before
        return values

    setup = stepping = metrics = 0.0
    sim.model.metric_values = timed_metrics  # what the model's DataCollector reporter calls
    try:
        for _ in range(runs):
            started = time.perf_counter()
            model = SCSEngine(population, engine_approval_model(), scenario.params(), scenario.schedule(), seed=1)
            built = time.perf_counter()
            spent[0] = 0.0
            for _ in range(months):
                model.step()
            model.metric_history()
            setup += built - started
            stepping += time.perf_counter() - built - spent[0]
            metrics += spent[0]
    finally:
        sim.model.metric_values = metric_values
    total = setup + stepping + metrics
    print(
        f"split of {runs} runs (ms per run): set-up {1000 * setup / runs:.1f}, months {1000 * stepping / runs:.1f} "
        f"({1000 * stepping / runs / months:.2f} per month), metrics {1000 * metrics / runs:.1f}; "
        f"total {1000 * total / runs:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--n", type=int, default=2209)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--fresh", action="store_true", help="build the population every run")
    parser.add_argument("--split-runs", type=int, default=50, help="runs timed stage by stage (0: none)")
    args = parser.parse_args()
    headline(args.runs, args.n, args.months, args.workers, args.fresh)
    if args.split_runs:
        split(args.split_runs, args.n, args.months)


if __name__ == "__main__":
    main()
