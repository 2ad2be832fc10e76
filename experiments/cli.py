"""The ``scsim`` command line.

Errors are reported by kind:

* input that cannot be used (a bad parameter, scenario, data or parameter
  file, output path, or a run too large for the machine) raises a
  ``sim.errors.UserError``: one line on stderr naming the field and what is
  allowed, exit status 2;
* Ctrl-C: one line, exit status 130;
* anything else is a bug: its traceback, a line saying so, exit status 1.

Nothing already on disk is replaced unless the new output was written
completely first.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from experiments.cli_calibrate import add_calibrate_parser
from experiments.cli_types import (
    check_writable_file,
    int_at_least,
    port_number,
    positive_int,
    seed_int,
)
from experiments.outputs import output_directory
from experiments.parallel import stop_workers
from experiments.resources import check_memory
from experiments.store import atomic_write
from sim.errors import UserError

EXIT_USAGE = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
INTERRUPTED = "interrupted; no output was replaced (a sweep keeps its finished runs and resumes)"


class OneLineParser(argparse.ArgumentParser):
    """argparse reporting a usage error as one line (subcommand parsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        print(f"scsim: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from experiments.bench import render, run_bench

    check_memory(args.n, "run")
    figures = run_bench(args.n, args.months)
    print(json.dumps(figures, indent=1) if args.json else render(figures))
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from experiments.serve import serve

    return serve(args.host, args.port)


def cmd_population(args: argparse.Namespace) -> int:
    from calibration.rules import approval_rule
    from calibration.sample import generate_sample

    if not args.out:
        raise UserError("--out: must not be empty; give a file path ending in .parquet")
    out = Path(args.out)
    if out.suffix != ".parquet":
        raise UserError(f"--out: must end in .parquet, got {out.name!r}")
    check_writable_file(out, "--out")
    coefficients = Path(args.coefficients) if args.coefficients else None
    if coefficients is not None and args.model == "default":
        raise UserError("--coefficients: applies to a published model; also pass --model model1..model7")
    check_memory(args.n, "population")
    rule = approval_rule(args.model, coefficients)
    sample = generate_sample(args.n, args.seed, rule)
    frame = sample.to_frame()
    atomic_write(out, lambda tmp: frame.to_parquet(tmp, index=False))
    print(
        f"wrote {len(frame):,} respondents to {out} (approval: {args.model}; "
        f"{sample.n_outside_primary:,} outside its subsample scored by Model 1)"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    check_memory(args.n, "report")
    with output_directory(args.out, field="--out", kind="report") as staging:
        from calibration.report import write_report

        facts = write_report(staging, n=args.n, seed=args.seed)
    out = Path(args.out)
    outside_w = len(facts["cells_outside_weighted_tolerance"])
    outside_u = len(facts["cells_outside_unweighted_tolerance"])
    print(f"population report written to {out}/")
    print("  report.md, marginals.csv, approval_by_model.csv, summary.json, population_report.png")
    paper_mean, paper_sd = facts["age_paper_mean_sd"]
    print(
        f"  margin of error at N={facts['paper_n']:,}: {facts['margin_of_error_pct_at_2209']:.2f}% "
        f"(paper {facts['margin_of_error_pct_paper']:.2f}%)"
    )
    print(
        f"  weighted age mean {facts['age_weighted_mean']:.2f}, SD {facts['age_weighted_sd']:.2f} "
        f"(paper {paper_mean:.2f}, {paper_sd:.2f})"
    )
    print(f"  Table A2 cells outside tolerance: weighted {outside_w}, unweighted {outside_u}")
    for row in facts["models"]:
        print(
            f"  {row['model']}: n={row['n_subsample']:,}, implied approval max |diff| {row['max_abs_diff_pp']:.2f} pp"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from experiments.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    scenario.check_horizon(args.months)
    check_memory(args.n, "run")
    from calibration.citizens import check_parameter_files

    check_parameter_files()
    with output_directory(args.out, field="--out", kind="run") as staging:
        # Imported only once --out is known to be usable, so that a bad --out fails in a fraction of a second.
        from experiments.simulation import Simulation

        simulation = Simulation(scenario, n=args.n, seed=args.seed)
        results = simulation.run(months=args.months, replications=args.replications, progress=True)
        results.save(staging)
    out = Path(args.out)
    series = results.series("share_approve")
    start, end = 100 * series.iloc[0].mean(), 100 * series.iloc[-1].mean()
    print(f"{scenario.name}: share approving {start:.2f}% at month 0, {end:.2f}% at month {args.months}")
    print(f"wrote {out}/trajectory.parquet, {out}/manifest.json, {out}/trajectory.png")
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    from experiments.backends import make_backend
    from experiments.scenario import load_scenario

    baseline, shift = load_scenario(args.baseline), load_scenario(args.shift)
    for scenario in (baseline, shift):
        scenario.check_horizon(args.months)
    workers = 1 if args.backend == "serial" else (args.workers or min(2, os.cpu_count() or 1))
    if args.scheduler is None:
        check_memory(args.n, "run", processes=workers + (workers > 1))
    from calibration.citizens import check_parameter_files

    check_parameter_files()
    with output_directory(args.out, field="--out", kind="forecast") as staging:
        from experiments.forecast import run_forecast
        from experiments.forecast_report import write_forecast

        backend = make_backend(args.backend, args.workers, args.scheduler)
        try:
            if args.backend == "dask":
                print(f"dask dashboard: {backend.dashboard}", flush=True)
            result, frames = run_forecast(
                baseline,
                shift,
                args.n,
                args.months,
                args.replications,
                args.seed,
                progress=True,
                backend=backend,
                decomposition_replications=args.decomposition_replications,
            )
        finally:
            backend.close()
        write_forecast(result, frames, staging)
    low, high = result["uncertainty_interval"]
    settled = "" if result["verdict_settled"] else " (not settled: rerun with more --replications)"
    print(
        f"{shift.name} vs {baseline.name}: share approving at month {args.months} {result['shift_share']:.2f}% vs "
        f"{result['baseline_share']:.2f}%, effect {result['effect_pp']:+.2f} pp "
        f"(95% uncertainty interval {low:+.2f} to {high:+.2f}, {args.replications} replications): "
        f"{result['verdict']}{settled}"
    )
    for name, value in result["channels"].items():
        if not value["route"]:
            print(f"  channel {name}: no route in this configuration")
        elif "contribution" in value:
            contribution = value["contribution"]
            interval = contribution["uncertainty_interval"]
            print(f"  channel {name}: {contribution['effect_pp']:+.2f} pp ({interval[0]:+.2f} to {interval[1]:+.2f})")
    print(f"wrote {Path(args.out)}/forecast.json, forecast.md and figures")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from experiments.backends import make_backend
    from experiments.sweep import load_sweep
    from experiments.sweep_design import build_design

    sweep = load_sweep(args.sweep).with_overrides(args.n, args.months, args.replications)
    design = build_design(sweep)
    workers = 1 if args.backend == "serial" else (args.workers or min(2, os.cpu_count() or 1))
    if args.scheduler is None:
        check_memory(sweep.file.n, "run", processes=workers + (workers > 1))
    from calibration.citizens import check_parameter_files

    check_parameter_files()
    from experiments.sweep_run import run_sweep
    from experiments.sweep_store import SweepStore

    # The backend first: a bad --scheduler must fail before the results directory is created.
    backend = make_backend(args.backend, args.workers, args.scheduler)
    try:
        with SweepStore(args.out, sweep, design) as store:
            runs = design.points * sweep.file.replications
            print(f"{sweep.name}: {design.kind} design, {design.points:,} points × {sweep.file.replications} "
                  f"replications = {runs:,} runs ({len(store.done()):,} already done) into {args.out}",
                  flush=True)  # fmt: skip
            if args.backend == "dask":
                print(f"dask dashboard: {backend.dashboard}", flush=True)
            timing = run_sweep(sweep, design, store, backend, progress=True)
            path = store.consolidate(sweep, design)
    finally:
        backend.close()
    print(f"ran {timing['ran_now']:,} runs in {timing['seconds']:.1f} s; wrote {path}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from experiments.analysis import ANALYSIS_FILE, FIGURE_DIR, analyze

    result = analyze(args.dir, outcomes=args.outcome, month=args.month, threshold=args.threshold,
                     factors=args.factors, side=args.side, out_dir=args.out_dir)  # fmt: skip
    for line in result["summary"]:
        print(line)
    target = Path(args.out_dir or args.dir)
    count = len(result["figures"])
    print(f"wrote {target / ANALYSIS_FILE} and {count} figure{'s' * (count != 1)} in {target / FIGURE_DIR}/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from calibration.published import MODEL_NAMES
    from calibration.rules import DEFAULT_RULE

    parser = OneLineParser(
        prog="scsim",
        description="Simulate public approval of China's social credit systems (Kostka 2019).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    population = sub.add_parser("population", help="write a synthetic survey sample (Parquet)")
    population.add_argument("--n", type=positive_int("--n"), required=True, help="number of respondents (>= 1)")
    population.add_argument("--seed", type=seed_int, default=0, help="root seed (default 0)")
    population.add_argument("--out", required=True, help="output file, .parquet")
    population.add_argument(
        "--model",
        default=DEFAULT_RULE,
        help=f"approval rule: {DEFAULT_RULE} (the joint approval model) or a published "
        f"model applied on its subsample with Model 1 elsewhere: {', '.join(MODEL_NAMES)}",
    )
    population.add_argument("--coefficients", help="alternative Table 4 CSV (same columns as the shipped one)")
    population.set_defaults(func=cmd_population)

    report = sub.add_parser("report", help="calibrated t=0 population report against the paper")
    report.add_argument("--out", required=True, help="output directory")
    report.add_argument("--n", type=positive_int("--n"), default=200_000, help="respondents (default 200,000)")
    report.add_argument("--seed", type=seed_int, default=1)
    report.set_defaults(func=cmd_report)

    run = sub.add_parser("run", help="simulate a scenario month by month")
    run.add_argument("scenario", help="scenario TOML file, or a shipped name (baseline, punitive_shift, ...)")
    run.add_argument("--out", required=True, help="output directory")
    run.add_argument("--n", type=positive_int("--n"), default=100_000, help="citizens (default 100,000)")
    run.add_argument("--months", type=int_at_least("--months", 0), default=60, help="months (default 60)")
    run.add_argument("--replications", type=positive_int("--replications"), default=10, help="default 10")
    run.add_argument("--seed", type=seed_int, default=0)
    run.set_defaults(func=cmd_run)

    forecast = sub.add_parser("forecast", help="test the paper's forecast: punitive shift against baseline")
    forecast.add_argument("--baseline", default="baseline", help="baseline scenario (name or TOML)")
    forecast.add_argument("--shift", default="punitive_shift", help="shift scenario (name or TOML)")
    forecast.add_argument("--out", required=True, help="output directory")
    forecast.add_argument("--n", type=positive_int("--n"), default=20_000, help="citizens (default 20,000)")
    forecast.add_argument("--months", type=positive_int("--months"), default=60, help="months (default 60)")
    forecast.add_argument(
        "--replications", type=positive_int("--replications"), default=20, help="paired replications (default 20)"
    )
    forecast.add_argument(
        "--decomposition-replications",
        type=int_at_least("--decomposition-replications", 0),
        default=10,
        help="replications of the channel decomposition and dose-responses (default 10; 0 skips them)",
    )
    forecast.add_argument("--backend", choices=("serial", "processes", "dask"), default="processes")
    forecast.add_argument("--scheduler", default=None, help="dask: address of an existing scheduler (tcp://HOST:PORT)")
    forecast.add_argument(
        "--workers", type=positive_int("--workers"), default=None, help="worker processes (default: up to 2)"
    )
    forecast.add_argument("--seed", type=seed_int, default=0)
    forecast.set_defaults(func=cmd_forecast)

    sweep = sub.add_parser("sweep", help="run a sweep over levers and uncertainties (resumable)")
    sweep.add_argument("sweep", help="sweep TOML file, or a shipped name (sanction_x_benefit, levers_sobol, ...)")
    sweep.add_argument("--out", required=True, help="results directory (re-running the same sweep resumes)")
    sweep.add_argument("--backend", choices=("serial", "processes", "dask"), default="processes")
    sweep.add_argument("--scheduler", default=None, help="dask: address of an existing scheduler (tcp://HOST:PORT)")
    sweep.add_argument("--workers", type=positive_int("--workers"), default=None, help="default: up to 2")
    sweep.add_argument("--n", type=positive_int("--n"), default=None, help="override the file's N")
    sweep.add_argument("--months", type=positive_int("--months"), default=None, help="override the file's months")
    sweep.add_argument(
        "--replications", type=positive_int("--replications"), default=None, help="override the file's replications"
    )
    sweep.set_defaults(func=cmd_sweep)

    analyze = sub.add_parser("analyze", help="sensitivity analysis and scenario discovery of a finished sweep")
    analyze.add_argument("dir", metavar="DIR", help="the --out directory of a finished scsim sweep")
    analyze.add_argument(
        "--outcome", action="extend", nargs="+", default=None, help="outcomes of the sweep (default: every one)"
    )
    analyze.add_argument("--month", type=int, default=None, help="month to analyse (default: the sweep's horizon)")
    analyze.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="scenario discovery: the outcome's threshold, in %% (pp for a paired effect) for shares "
        "(default: 0 for a paired effect, none for levels)",
    )
    analyze.add_argument(
        "--side",
        choices=("above", "below"),
        default=None,
        help="scenario discovery: cases at or above, or at or below the threshold (default: away from most points)",
    )
    analyze.add_argument(
        "--factors", nargs=2, metavar=("A", "B"), default=None, help="grid: the two factors of the heatmap"
    )
    analyze.add_argument("--out-dir", default=None, help="write analysis.json and analysis/ here instead of DIR")
    analyze.set_defaults(func=cmd_analyze)

    add_calibrate_parser(sub)

    bench = sub.add_parser("bench", help="time the engine beside its per-agent Mesa reference")
    bench.add_argument("--n", type=positive_int("--n"), default=1_000_000, help="citizens (default 1,000,000)")
    bench.add_argument("--months", type=positive_int("--months"), default=12, help="months (default 12)")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.set_defaults(func=cmd_bench)

    app = sub.add_parser("app", help="serve the interactive app (SolaraViz) in the browser")
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    app.add_argument("--port", type=port_number, default=8765, help="port (1-65535, default 8765)")
    app.set_defaults(func=cmd_app)
    return parser


def report_error(message: str) -> None:
    """Print one error line (progress bars are closed, with their newline, before errors get here)."""
    sys.stdout.flush()
    print(f"scsim: {message}", file=sys.stderr)


def interrupted(err: BaseException | None) -> bool:
    """Whether ``err`` was caused by Ctrl-C (Python wraps it, e.g. in a RuntimeError when it hits a class body)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # Parsing imports the heavy modules: inside the try, so Ctrl-C there is one line too.
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UserError as err:
        report_error(f"error: {err}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        report_error(INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as err:
        if interrupted(err):
            report_error(INTERRUPTED)
            return EXIT_INTERRUPTED
        traceback.print_exc()
        report_error("internal error: this is a bug in scsim, not a problem with your input (traceback above)")
        return EXIT_BUG
    finally:
        # A command that failed may leave a worker pool running: end its workers now, not after their calls.
        stop_workers()


if __name__ == "__main__":
    raise SystemExit(main())
