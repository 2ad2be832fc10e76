"""``scsim calibrate``: the calibration report, the full refit, and the calibration ensemble."""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.cli_types import check_writable_dir, positive_int, seed_int
from experiments.outputs import output_directory
from experiments.resources import check_memory
from experiments.store import atomic_write_all
from sim.errors import UserError


def cmd_calibrate(args: argparse.Namespace) -> int:
    # --seed and --n default per mode: each mode's own defaults.
    if args.recheck and args.ensemble is None:
        raise UserError("--recheck: applies to --ensemble only")
    if args.out is not None and args.ensemble is None:
        raise UserError("--out: only --ensemble takes an output directory (--report takes its own)")
    if args.ensemble is not None:
        return calibrate_ensemble(args)
    if args.report is not None:
        from calibration.joint_report import REPORT_SEED

        n = 50_000 if args.n is None else args.n
        return calibrate_report(args.report, n, REPORT_SEED if args.seed is None else args.seed)
    from calibration.fit_population import REFIT_SEED

    iterations = 15 if args.iterations is None else args.iterations
    return calibrate_refit(Path(args.params_dir), REFIT_SEED if args.seed is None else args.seed, iterations)


def calibrate_report(report_dir: str, n: int, seed: int) -> int:
    check_memory(n, "calibrate_report")
    with output_directory(report_dir, field="--report", kind="calibration") as staging:
        from calibration.joint_report import write_joint_report

        report = write_joint_report(staging, n=n, seed=seed)
        identification = write_identification_if_present(staging)
    out = Path(report_dir)
    summary = report["summary"]["coefficients"]
    print(f"joint-model calibration report written to {out}/ (calibration.json, table4_refits.csv, *.png)")
    print(
        f"  Table 4 coefficients (status ok, Model 5 education excluded), n={summary['n']}: "
        f"{100 * summary['within_1se']:.1f}% within 1 SE, {100 * summary['within_2se']:.1f}% within 2 SE; "
        f"significant signs kept {summary['significant_sign_kept']}/{summary['significant']}"
    )
    print(f"  approval distribution max |diff| {report['approval_max_abs_diff_pp']:.2f} pp (weighted, vs Table A2)")
    print(f"  A4 tolerances max |diff| {report['tolerance_max_abs_diff']:.3f}")
    if identification is None:
        print("  identification: no calibration ensemble in the parameter directory, section skipped")
    else:
        verdicts = [row["pinned"] for row in identification["coefficients"]]
        pinned = (
            "too few accepted members to classify the coefficients"
            if None in verdicts
            else f"{sum(verdicts)} of {len(verdicts)} joint coefficients pinned by the tables"
        )
        print(f"  identification (identification.md): {identification['n_accepted']} accepted members; {pinned}")
    return 0


def write_identification_if_present(out: Path) -> dict[str, object] | None:
    """The identification section, when an ensemble sits beside the loaded calibration."""
    from calibration.ensemble_files import MANIFEST_FILE, ensemble_dir
    from calibration.identification import write_identification

    if not (ensemble_dir() / MANIFEST_FILE).exists():
        return None
    return write_identification(out)


def calibrate_ensemble(args: argparse.Namespace) -> int:
    from experiments.ensemble_run import EnsembleSettings, recheck_ensemble, run_ensemble

    if args.out is None:
        raise UserError("--out: --ensemble needs an output directory (--out DIR)")
    if args.scheduler is not None and args.backend != "dask":
        raise UserError("--scheduler: only the dask backend takes a scheduler address")
    defaults = EnsembleSettings()
    settings = EnsembleSettings(
        root_seed=defaults.root_seed if args.seed is None else args.seed,
        n=defaults.n if args.n is None else args.n,
        iterations=defaults.iterations if args.iterations is None else args.iterations,
        reference_n=defaults.reference_n if args.reference_n is None else args.reference_n,
        check_n=args.check_n,
        refit_n=args.refit_n,
    )
    check_memory(max(settings.reference_n, settings.check_n), "calibrate_report")
    if args.recheck:
        manifest = recheck_ensemble(args.ensemble, args.out, settings, args.backend, args.workers, args.scheduler)
    else:
        manifest = run_ensemble(args.ensemble, args.out, settings, args.backend, args.workers, args.scheduler)
    accepted = [m["index"] for m in manifest["members"] if m["accepted"]]
    print(
        f"ensemble in {args.out}: {len(manifest['members'])} members, {len(accepted)} accepted "
        f"({', '.join(map(str, accepted)) or 'none'}); manifest.json lists every member with its figures"
    )
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
    # Together: a generator and a joint model were fitted as a pair, and neither is valid with the other's old file.
    atomic_write_all([(directory / "population_v2.json", generator.save), (directory / PARAMS_FILE.name, joint.save)])
    print(f"wrote {directory}/population_v2.json and {directory}/{PARAMS_FILE.name}")
    return 0


def add_calibrate_parser(sub: argparse._SubParsersAction) -> None:
    calibrate = sub.add_parser("calibrate", help="joint-model calibration: report from shipped parameters, or refit")
    mode = calibrate.add_mutually_exclusive_group(required=True)
    mode.add_argument("--report", metavar="DIR", help="rebuild the calibration evidence from the shipped parameters")
    mode.add_argument("--refit", action="store_true", help="re-run the whole calibration (about 17 minutes on 2 cores)")
    mode.add_argument(
        "--ensemble", metavar="K", type=positive_int("--ensemble"), help="build (or resume) K calibrations in --out"
    )
    calibrate.add_argument(
        "--n",
        type=positive_int("--n"),
        default=None,
        help="report: sample size (50,000); ensemble: optimiser N (40,000)",
    )
    calibrate.add_argument(
        "--seed", type=seed_int, default=None, help="report: default 7; refit: 20180401; ensemble: root seed 20180405"
    )
    calibrate.add_argument(
        "--iterations", type=positive_int("--iterations"), default=None, help="LM iterations (refit 15, ensemble 16)"
    )
    calibrate.add_argument("--out", default=None, help="ensemble: output directory (re-running resumes)")
    calibrate.add_argument(
        "--recheck",
        action="store_true",
        help="ensemble: re-run the acceptance checks of the members stored in --out (their fits are kept)",
    )
    calibrate.add_argument("--backend", choices=("serial", "processes", "dask"), default="processes")
    calibrate.add_argument("--workers", type=positive_int("--workers"), default=None, help="default: up to 2")
    calibrate.add_argument("--scheduler", default=None, help="dask: address of an existing scheduler")
    calibrate.add_argument(
        "--reference-n", type=positive_int("--reference-n"), default=None, help="ensemble: thresholds' draw (1,000,000)"
    )
    calibrate.add_argument(
        "--check-n", type=positive_int("--check-n"), default=200_000, help="ensemble: N of the A2/qualitative checks"
    )
    calibrate.add_argument(
        "--refit-n", type=positive_int("--refit-n"), default=50_000, help="ensemble: N of the Table 4 refit check"
    )
    calibrate.add_argument("--params-dir", default=str(Path(__file__).resolve().parents[1] / "calibration" / "params"))
    calibrate.set_defaults(func=cmd_calibrate)
