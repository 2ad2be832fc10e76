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
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from experiments.cli_calibrate import add_calibrate_parser
from experiments.cli_commands import cmd_forecast, cmd_population, cmd_run, cmd_sweep
from experiments.cli_types import (
    int_at_least,
    port_number,
    positive_int,
    seed_int,
)
from experiments.outputs import output_directory
from experiments.parallel import stop_workers
from experiments.resources import check_memory
from sim.errors import UserError

EXIT_USAGE = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
INTERRUPTED = "interrupted; no output was replaced (a sweep keeps its finished runs and resumes)"
CALIBRATION_HELP = (
    "shipped (the single shipped calibration), ensemble (each replicate draws an accepted member of the "
    "calibration ensemble) or member:K (member K in every replicate)"
)


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
    population.add_argument(
        "--calibration", default="shipped", help="shipped (default) or member:K: the generator and joint model used"
    )
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
    run.add_argument("--calibration", default="shipped", help=f"{CALIBRATION_HELP} (default shipped)")
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
    forecast.add_argument(
        "--prior-draws",
        type=int_at_least("--prior-draws", 0),
        default=400,
        help="draws of the assumptions from their priors, kept if they pass the prior-predictive checks "
        "(default 400; 0 skips them)",
    )
    forecast.add_argument(
        "--morris-trajectories",
        type=int_at_least("--morris-trajectories", 0),
        default=6,
        help="Morris trajectories over the assumptions' priors (default 6; 0 skips the screening)",
    )
    forecast.add_argument("--backend", choices=("serial", "processes", "dask"), default="processes")
    forecast.add_argument("--scheduler", default=None, help="dask: address of an existing scheduler (tcp://HOST:PORT)")
    forecast.add_argument(
        "--workers", type=positive_int("--workers"), default=None, help="worker processes (default: up to 2)"
    )
    forecast.add_argument("--seed", type=seed_int, default=0)
    forecast.add_argument(
        "--calibration",
        default="ensemble",
        help=f"{CALIBRATION_HELP} (default ensemble; the variance is then split three ways, with between calibrations)",
    )
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
    sweep.add_argument(
        "--calibration",
        default="shipped",
        help=f"{CALIBRATION_HELP} (default shipped; a calibration_member uncertainty in the file sets it per point)",
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
