"""Handlers of the simulation subcommands: ``population``, ``run``, ``forecast`` and ``sweep``.

``experiments.cli`` builds the parser and reports errors; each handler here
takes the parsed arguments, checks them before any expensive work (bad input
raises ``sim.errors.UserError``: one line, exit status 2) and returns the exit
status.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from experiments.cli_types import check_writable_file
from experiments.outputs import output_directory
from experiments.resources import check_memory
from experiments.store import atomic_write
from sim.errors import UserError


def population_calibration(text: str):
    """The calibration of ``scsim population``: shipped or one member (a single sample has no replicates)."""
    from calibration.members import checked_choice, load_calibration, parse_calibration

    if parse_calibration(text).kind == "ensemble":
        raise UserError(
            "--calibration: population writes one sample, so it takes shipped or member:K; "
            "ensemble (a member drawn per replicate) applies to run, forecast and sweep"
        )
    choice = checked_choice(text)
    return load_calibration(choice.member if choice.kind == "member" else None)


def cmd_population(args: argparse.Namespace) -> int:
    from calibration.ensemble_files import member_dir
    from calibration.parameter_files import JOINT_FILE
    from calibration.rules import DEFAULT_RULE, approval_rule, default_rule
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
    calibration = population_calibration(args.calibration)
    check_memory(args.n, "population")
    member = calibration.member
    # A member's sample is drawn with its generator and, for the default rule, scored with its joint model.
    if member is not None and args.model == DEFAULT_RULE:
        rule = default_rule(member_dir(member) / JOINT_FILE)
    else:
        rule = approval_rule(args.model, coefficients)
    sample = generate_sample(args.n, args.seed, rule, calibration.generator)
    frame = sample.to_frame()
    atomic_write(out, lambda tmp: frame.to_parquet(tmp, index=False))
    source = "" if member is None else f"; calibration {calibration.label}"
    print(
        f"wrote {len(frame):,} respondents to {out} (approval: {args.model}{source}; "
        f"{sample.n_outside_primary:,} outside its subsample scored by Model 1)"
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
        from calibration.members import checked_choice
        from experiments.simulation import Simulation

        calibration = checked_choice(args.calibration)  # before any work; nothing on disk is replaced

        simulation = Simulation(scenario, n=args.n, seed=args.seed, calibration=calibration)
        results = simulation.run(months=args.months, replications=args.replications, progress=True)
        results.save(staging)
    out = Path(args.out)
    series = results.series("share_approve")
    start, end = 100 * series.iloc[0].mean(), 100 * series.iloc[-1].mean()
    print(f"{scenario.name}: share approving {start:.2f}% at month 0, {end:.2f}% at month {args.months}")
    if calibration.kind != "shipped":
        print(f"calibration {calibration}: members by replicate {', '.join(map(str, results.members))}")
    written = f"{out}/trajectory.parquet, {out}/manifest.json, {out}/trajectory.png"
    if results.treatments is not None:
        from experiments.treatment_effects import summarise, summary_lines

        for line in summary_lines(summarise(results.treatments)):
            print(line)
        written += f", {out}/treatments.parquet, {out}/treatments.json"
    print(f"wrote {written}")
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
        from calibration.members import checked_choice
        from experiments.forecast import run_forecast
        from experiments.forecast_report import write_forecast

        # Checked once --out is known to be usable (a bad --out is reported first, as before the ensemble).
        calibration = checked_choice(args.calibration)

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
                calibration=calibration,
                prior_draws=args.prior_draws,
                morris_trajectories=args.morris_trajectories,
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
    print(f"  {variance_line(result['uncertainty'])}")
    never = result["by_sanction"]["never_sanctioned"]
    if "effect_pp" in never:
        print(f"  never-sanctioned citizens ({100 * never['share_of_citizens']:.1f}%): {never['effect_pp']:+.2f} pp")
    prior = result["prior"]
    if prior is not None:
        shown = "too few accepted draws for a verdict" if prior["verdict"] is None else (
            f"effect {prior['effect_pp']:+.2f} pp ({prior['uncertainty_interval'][0]:+.2f} to "
            f"{prior['uncertainty_interval'][1]:+.2f}): {prior['verdict']}"
        )
        print(f"  assumptions drawn from their priors: {prior['accepted']} of {prior['draws']} draws pass the "
              f"prior-predictive checks ({100 * prior['acceptance_rate']:.0f}%); {shown}")  # fmt: skip
    if result["morris"] is not None:
        print(f"  assumptions that move the effect most (Morris mu*): {', '.join(result['morris']['top_three'])}")
    for name, value in result["channels"].items():
        if not value["route"]:
            print(f"  channel {name}: no route in this configuration")
        elif "contribution" in value:
            contribution = value["contribution"]
            interval = contribution["uncertainty_interval"]
            print(f"  channel {name}: {contribution['effect_pp']:+.2f} pp ({interval[0]:+.2f} to {interval[1]:+.2f})")
    print(f"wrote {Path(args.out)}/forecast.json, forecast.md and figures")
    return 0


def variance_line(split: dict) -> str:
    """One line of the forecast's variance split (``experiments.forecast_variance``)."""
    components = split.get("components")
    if not components or components["chance"]["variance"] is None:
        return "variance split: needs at least 2 replications"
    parts = [
        f"{name} {100 * value['share']:.0f}%" if value["share"] is not None else f"{name} -"
        for name, value in components.items()
    ]
    return f"variance of the effect ({split['calibration']}): " + ", ".join(parts)


def cmd_sweep(args: argparse.Namespace) -> int:
    from calibration.members import checked_choice
    from experiments.backends import make_backend
    from experiments.sweep import load_sweep
    from experiments.sweep_design import build_design

    calibration = checked_choice(args.calibration)
    sweep = load_sweep(args.sweep).with_overrides(args.n, args.months, args.replications).with_calibration(calibration)
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
