"""Benchmark: a 1,000-run sweep of 2,209 citizens over 60 months, and the scaling from 1 to 2 workers.

Run on demand (not a test): ``python benchmarks/bench_sweep.py [--runs 1000] [--scaling-runs 200]
[--workers 2] [--skip-scaling] [--keep DIR]``.

* **The sweep**: a grid of blacklist_rate (10 levels, 0–0.2) × benefit_generosity (10 levels, 0.5–2) ×
  media_framing (10 levels, −1 to 1), changed from month 1 of the baseline, one replication with common
  random numbers, four outcomes, run by ``scsim sweep`` with the processes backend on 2 workers. The target
  is ≤ 60 s on a 2-core machine.
* **Scaling**: the same grid with fewer media_framing levels (``--scaling-runs``, default 200 runs), on 1
  and on 2 workers, for the processes and the dask (LocalCluster) backends. Efficiency = t1 / (2 × t2).

Every sweep runs as the command line does, in a subprocess (``python -m experiments.cli sweep``), into a
fresh temporary directory. "wall" includes the interpreter's start-up, imports, the worker pool or cluster
and writing results.parquet; "runs" is the time the sweep reports for its runs alone. The figures are
printed, not checked; the load average is printed too, since another process using the CPU skews them.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N, MONTHS = 2209, 60

SWEEP = """\
name = "bench_sweep"
description = "Benchmark grid: blacklisting × benefits × media framing from month 1."
scenario = "baseline"
design = "grid"
months = {months}
n = {n}
replications = 1
seeds = "common"
seed = 0
outcomes = ["share_approve", "mean_approval", "share_blacklisted", "share_advantages"]

[levers]
blacklist_rate = {{ min = 0.0, max = 0.2, levels = 10 }}
benefit_generosity = {{ min = 0.5, max = 2.0, levels = 10 }}
media_framing = {{ min = -1.0, max = 1.0, levels = {framing} }}
"""


def write_sweep(directory: Path, runs: int, n: int, months: int) -> Path:
    if runs % 100 or runs < 200:
        raise SystemExit(f"runs must be a multiple of 100, at least 200 (10 × 10 × media_framing levels), got {runs}")
    path = directory / f"bench_{runs}.toml"
    path.write_text(SWEEP.format(months=months, n=n, framing=runs // 100))
    return path


def run_sweep(sweep: Path, out: Path, backend: str, workers: int) -> dict[str, float]:
    """One sweep in a subprocess; its wall time and the time it reports for its runs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "experiments.cli", "sweep", str(sweep), "--out", str(out),
               "--backend", backend, "--workers", str(workers)]  # fmt: skip
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sweep failed ({backend}, {workers} workers):\n{done.stderr[-3000:]}")
    match = re.search(r"ran ([\d,]+) runs in ([\d.]+) s", done.stdout)
    if match is None:
        raise SystemExit(f"unexpected output:\n{done.stdout}")
    return {"wall": wall, "runs_s": float(match.group(2)), "ran": int(match.group(1).replace(",", "")), "load": load}


def describe(label: str, result: dict[str, float], n: int, months: int) -> str:
    rate = result["ran"] / result["runs_s"]
    steps = result["ran"] * n * months / result["runs_s"] / 1e6
    return (f"{label:<26} wall {result['wall']:7.1f} s   runs {result['runs_s']:7.1f} s   {rate:6.1f} runs/s   "
            f"{steps:6.1f} M agent-steps/s   (load {result['load']:.1f} at start)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="runs of the main sweep (multiple of 100)")
    parser.add_argument("--scaling-runs", type=int, default=200, help="runs of each scaling sweep (multiple of 100)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the main sweep")
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--months", type=int, default=MONTHS)
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-main", action="store_true")
    parser.add_argument("--keep", help="write the sweeps' results under this directory (default: a temporary one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_sweep.") as scratch:
        base = Path(args.keep) if args.keep else Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        print(f"{os.cpu_count()} CPUs; {args.n:,} citizens × {args.months} months per run; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
        if not args.skip_main:
            sweep = write_sweep(base, args.runs, args.n, args.months)
            result = run_sweep(sweep, base / f"main_{time.time_ns()}", "processes", args.workers)
            print(f"\nsweep: {args.runs:,} runs, processes backend, {args.workers} workers")
            print(describe("processes", result, args.n, args.months))
            verdict = "met" if result["wall"] <= 60 else "missed"
            print(f"target ≤ 60 s wall: {verdict} ({result['wall']:.1f} s)")

        if not args.skip_scaling:
            sweep = write_sweep(base, args.scaling_runs, args.n, args.months)
            print(f"\nscaling: {args.scaling_runs:,} runs, 1 and 2 workers")
            for backend in ("processes", "dask"):
                timings = {}
                for workers in (1, 2):
                    timings[workers] = run_sweep(sweep, base / f"{backend}{workers}_{time.time_ns()}", backend, workers)
                    print(describe(f"{backend}, {workers} worker{'s' if workers > 1 else ''}", timings[workers],
                                   args.n, args.months))  # fmt: skip
                for key, label in (("runs_s", "runs only"), ("wall", "wall")):
                    t1, t2 = timings[1][key], timings[2][key]
                    print(f"  {backend} efficiency ({label}): t1 / (2 × t2) = {t1:.1f} / (2 × {t2:.1f}) = "
                          f"{t1 / (2 * t2):.2f}; speed-up {t1 / t2:.2f}×")  # fmt: skip
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
