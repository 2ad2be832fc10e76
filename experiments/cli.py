"""The ``scsim`` command line.

Every user error (bad parameter, unreadable or malformed data file, unwritable
output) ends with one line on stderr naming the field and what is allowed, and
exit status 2; nothing already on disk is overwritten unless the new file was
written completely first.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from experiments.store import atomic_write

EXIT_USAGE = 2


class UserError(Exception):
    """An error caused by input, reported as one line without a traceback."""


def int_at_least(field: str, minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum``, with a one-line message naming ``field``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{field}: must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{field}: must be an integer >= {minimum}, got {value}")
        return value

    return parse


def positive_int(field: str) -> Callable[[str], int]:
    return int_at_least(field, 1)


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed: must be an integer in [0, 2**63), got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"--seed: must be an integer in [0, 2**63), got {value}")
    return value


def check_writable_file(path: Path, field: str) -> None:
    """Fail early if ``path`` cannot be created (before any expensive work)."""
    directory = path.parent if str(path.parent) else Path(".")
    if path.exists() and path.is_dir():
        raise UserError(f"{field}: {path} is a directory; give a file path")
    if not directory.is_dir():
        raise UserError(f"{field}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise UserError(f"{field}: directory {directory} is not writable")


def check_writable_dir(path: Path, field: str) -> None:
    if path.exists() and not path.is_dir():
        raise UserError(f"{field}: {path} exists and is not a directory")
    parent = path if path.exists() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise UserError(f"{field}: {path} is not writable")


def cmd_population(args: argparse.Namespace) -> int:
    from calibration.published import approval_rule
    from calibration.sample import generate_sample

    out = Path(args.out)
    if out.suffix != ".parquet":
        raise UserError(f"--out: must end in .parquet, got {out.name!r}")
    check_writable_file(out, "--out")
    coefficients = Path(args.coefficients) if args.coefficients else None
    if coefficients is not None and args.model == "default":
        raise UserError("--coefficients: applies to a published model; also pass --model model1..model7")
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
    from calibration.report import write_report

    out = Path(args.out)
    check_writable_dir(out, "--out")
    facts = write_report(out, n=args.n, seed=args.seed)
    outside_w = len(facts["cells_outside_weighted_tolerance"])
    outside_u = len(facts["cells_outside_unweighted_tolerance"])
    print(f"population report written to {out}/")
    print("  report.md, marginals.csv, approval_by_model.csv, summary.json, population_report.png")
    print(f"  margin of error at N=2,209: {facts['margin_of_error_pct_at_2209']:.2f}% (paper 2.22%)")
    print(
        f"  weighted age mean {facts['age_weighted_mean']:.2f}, SD {facts['age_weighted_sd']:.2f} (paper 31.21, 10.32)"
    )
    print(f"  Table A2 cells outside tolerance: weighted {outside_w}, unweighted {outside_u}")
    for row in facts["models"]:
        print(
            f"  {row['model']}: n={row['n_subsample']:,}, implied approval max |diff| {row['max_abs_diff_pp']:.2f} pp"
        )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.report:
        return calibrate_report(Path(args.report), args.n, args.seed)
    return calibrate_refit(Path(args.params_dir), args.seed, args.iterations)


def calibrate_report(out: Path, n: int, seed: int) -> int:
    from calibration.joint_report import write_joint_report

    check_writable_dir(out, "--report")
    report = write_joint_report(out, n=n, seed=seed)
    summary = report["summary"]["coefficients"]
    print(f"joint-model calibration report written to {out}/ (calibration.json, table4_refits.csv, *.png)")
    print(
        f"  Table 4 coefficients (status ok, Model 5 education excluded), n={summary['n']}: "
        f"{100 * summary['within_1se']:.1f}% within 1 SE, {100 * summary['within_2se']:.1f}% within 2 SE; "
        f"significant signs kept {summary['significant_sign_kept']}/{summary['significant']}"
    )
    print(f"  approval distribution max |diff| {report['approval_max_abs_diff_pp']:.2f} pp (weighted, vs Table A2)")
    print(f"  A4 tolerances max |diff| {report['tolerance_max_abs_diff']:.3f}")
    return 0


def calibrate_refit(directory: Path, seed: int, iterations: int) -> int:
    from calibration.fit_joint import calibrate_all, calibrate_joint
    from calibration.fit_population import calibrate_population, polish_small_branch
    from calibration.joint import PARAMS_FILE

    check_writable_dir(directory, "--params-dir")
    directory.mkdir(parents=True, exist_ok=True)
    print("stage 1/5: generator against Tables A2, A4 and the text facts (N = 60,000)", flush=True)
    generator = calibrate_population(n=60_000, seed=seed, max_nfev=iterations)
    print("stage 2/5: generator polish (N = 150,000)", flush=True)
    generator = calibrate_population(n=150_000, seed=seed, max_nfev=max(iterations // 2, 1), start=generator)
    print("stage 3/5: joint model with the generator fixed (Table 4 by indirect inference)", flush=True)
    joint, _, _ = calibrate_joint(generator=generator, iterations=2 * iterations)
    print("stage 4/5: generator correlations and joint model together", flush=True)
    generator, joint = calibrate_all(generator, joint, seed=seed + 2, iterations=2 * iterations)
    print("stage 5/5: government-pilot score weight loading at N = 1,000,000", flush=True)
    generator = polish_small_branch(generator, "gov_relative_score", seed=seed + 3)
    atomic_write(directory / "population_v2.json", generator.save)
    atomic_write(directory / PARAMS_FILE.name, joint.save)
    print(f"wrote {directory}/population_v2.json and {directory}/{PARAMS_FILE.name}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from experiments.scenario import load_scenario
    from experiments.simulation import Simulation

    scenario = load_scenario(args.scenario)
    out = Path(args.out)
    check_writable_dir(out, "--out")
    simulation = Simulation(scenario, n=args.n, seed=args.seed)
    results = simulation.run(months=args.months, replications=args.replications, progress=True)
    results.save(out)
    series = results.series("share_approve")
    start, end = 100 * series.iloc[0].mean(), 100 * series.iloc[-1].mean()
    print(f"{scenario.name}: share approving {start:.2f}% at month 0, {end:.2f}% at month {args.months}")
    print(f"wrote {out}/trajectory.parquet, {out}/manifest.json, {out}/trajectory.png")
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    from experiments.forecast import run_forecast
    from experiments.forecast_report import write_forecast
    from experiments.scenario import load_scenario

    baseline, shift = load_scenario(args.baseline), load_scenario(args.shift)
    out = Path(args.out)
    check_writable_dir(out, "--out")
    workers = min(2, os.cpu_count() or 1)
    result, frames = run_forecast(
        baseline, shift, args.n, args.months, args.replications, args.seed, progress=True, workers=workers
    )
    write_forecast(result, frames, out)
    low, high = result["ci95"]
    print(
        f"{shift.name} vs {baseline.name}: share approving at month {args.months} {result['shift_share']:.2f}% vs "
        f"{result['baseline_share']:.2f}%, effect {result['effect_pp']:+.2f} pp (95% {low:+.2f} to {high:+.2f}): "
        f"{result['verdict']}"
    )
    for name, value in result["channels"].items():
        print(
            f"  channel {name}: {value['effect_pp']:+.2f} pp (95% {value['ci95'][0]:+.2f} to {value['ci95'][1]:+.2f})"
        )
    print(f"wrote {out}/forecast.json, forecast.md and figures")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from calibration.published import DEFAULT_RULE, MODEL_NAMES

    parser = argparse.ArgumentParser(
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
    forecast.add_argument("--replications", type=positive_int("--replications"), default=10, help="default 10")
    forecast.add_argument("--seed", type=seed_int, default=0)
    forecast.set_defaults(func=cmd_forecast)

    calibrate = sub.add_parser("calibrate", help="joint-model calibration: report from shipped parameters, or refit")
    mode = calibrate.add_mutually_exclusive_group(required=True)
    mode.add_argument("--report", metavar="DIR", help="rebuild the calibration evidence from the shipped parameters")
    mode.add_argument("--refit", action="store_true", help="re-run the whole calibration (about 17 minutes on 2 cores)")
    calibrate.add_argument("--n", type=positive_int("--n"), default=50_000, help="report: simulated sample size")
    calibrate.add_argument("--seed", type=seed_int, default=20180401)
    calibrate.add_argument("--iterations", type=positive_int("--iterations"), default=15, help="refit: LM iterations")
    calibrate.add_argument("--params-dir", default=str(Path(__file__).resolve().parents[1] / "calibration" / "params"))
    calibrate.set_defaults(func=cmd_calibrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from calibration.paper import DataFileError

    parser = build_parser()

    def one_line_error(message: str) -> None:
        print(f"scsim: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)

    parser.error = one_line_error  # type: ignore[method-assign]
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for subparser in action.choices.values():
            subparser.error = one_line_error  # type: ignore[method-assign]
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UserError, DataFileError, ValueError, OSError) as err:
        print(f"scsim: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
