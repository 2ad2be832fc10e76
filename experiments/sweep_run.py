"""Running a sweep: one run per design point and replicate, batched onto a backend, stored as it finishes.

Run r of point p has index ``p × replications + r``. Its seed derives from the
sweep seed through ``SeedSequence``: with ``seeds = "common"`` (the default)
replicate r of every point uses child r, so design points differ only by their
factors (common random numbers); with ``"independent"`` every run has its own
child. A paired run simulates the shifted arm and its baseline on the same
seed and stores their difference. Results do not depend on the backend, the
number of workers or the order in which runs finish.

A run's calibration is its point's ``calibration_member`` if the sweep varies
it, else the sweep's ``--calibration`` choice: under ``ensemble`` each run
draws its member from its own seed (with common seeds, replicate r has the same
member at every point, like its citizens). Every run stores its member.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from calibration.ensemble_files import CalibrationChoice
from experiments.backends import batches_of
from experiments.scenario import Change, Scenario
from experiments.simulation import cached_population, replicate_member, replicate_metrics
from experiments.sweep import MEMBER_FACTOR, Sweep
from experiments.sweep_design import Design
from experiments.sweep_store import SweepStore
from sim.errors import UserError
from sim.metrics import METRIC_KEYS
from sim.schema import validated


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs for one run."""

    run: int
    point: int
    replicate: int
    scenario: Scenario
    baseline: Scenario | None  # the unshifted arm of a paired run
    seed: np.random.SeedSequence
    n: int
    months: int
    outcomes: tuple[int, ...]  # positions in METRIC_KEYS
    draw_parameters: bool
    calibration: CalibrationChoice


@dataclass(frozen=True)
class RunResult:
    run: int
    values: np.ndarray  # (months + 1) × outcomes; NaN if the run could not start
    status: str  # "ok", or why the parameters could not start a run
    member: int | None = None  # the ensemble member it ran with (None: the shipped calibration)


def arms_for(sweep: Sweep, values: dict[str, object], label: str) -> tuple[Scenario, Scenario | None]:
    """The scenario of one design point, and its paired baseline (None for a level sweep).

    Uncertainties hold from t = 0 in both arms; levers are a change from the
    sweep's change month, on top of the shift's own changes in a paired sweep.
    """
    base = sweep.scenario
    updates: dict[str, object] = {}
    for group in ("dynamics", "scores"):
        chosen = {f.name: values[f.label] for f in sweep.factors if f.group == group}
        if chosen:
            current = getattr(base, group)
            updates[group] = validated(type(current), {**current.model_dump(), **chosen}, prefix=group)
    assumed = base.model_copy(update=updates)
    levers = {f.name: values[f.label] for f in sweep.factors if f.group == "levers"}
    changes = list(assumed.changes)
    if sweep.shift is not None:
        changes += list(sweep.shift.changes)
    if levers:
        changes.append(Change.model_validate({"month": sweep.change_month, **levers}))
    arm = assumed.model_copy(update={"changes": changes, "name": label})
    return arm, (assumed if sweep.shift is not None else None)


def run_seed(sweep: Sweep, run: int, replicate: int) -> np.random.SeedSequence:
    """The seed of one run: child ``replicate`` (common random numbers) or child ``run`` of the sweep seed."""
    key = replicate if sweep.file.seeds == "common" else run
    return np.random.SeedSequence(sweep.file.seed, spawn_key=(key,))


def plan_runs(sweep: Sweep, design: Design) -> list[RunSpec]:
    """Every run, in replicate-major order so that a worker's consecutive runs share their citizens."""
    replications = sweep.file.replications
    outcomes = tuple(METRIC_KEYS.index(key) for key in sweep.outcomes)
    arms = [arms_for(sweep, values, f"{sweep.name}_p{point}") for point, values in enumerate(design.values)]
    calibrations = [point_calibration(sweep, values) for values in design.values]
    specs = []
    for replicate in range(replications):
        for point, (scenario, baseline) in enumerate(arms):
            run = point * replications + replicate
            specs.append(RunSpec(run, point, replicate, scenario, baseline, run_seed(sweep, run, replicate),
                                 sweep.file.n, sweep.file.months, outcomes, sweep.file.coefficient_draws,
                                 calibrations[point]))  # fmt: skip
    return specs


def point_calibration(sweep: Sweep, values: dict[str, object]) -> CalibrationChoice:
    """The calibration of a design point: its ``calibration_member`` if swept, else the sweep's choice."""
    if sweep.member_factor is None:
        return sweep.calibration
    return CalibrationChoice("member", int(values[MEMBER_FACTOR]))


def execute(batch: list[RunSpec]) -> list[RunResult]:
    """Run a batch (in a worker); parameters that cannot start a run give NaN and the reason, not an error."""
    results = []
    for spec in batch:
        population = cached_population(spec.n, spec.seed, spec.calibration)
        member = replicate_member(spec.calibration, spec.seed)
        index = list(spec.outcomes)
        try:
            values = replicate_metrics(spec.scenario, spec.n, spec.months, spec.seed, spec.draw_parameters,
                                       population=population, calibration=spec.calibration)[:, index]  # fmt: skip
            if spec.baseline is not None:
                values = values - replicate_metrics(spec.baseline, spec.n, spec.months, spec.seed,
                                                    spec.draw_parameters, population=population,
                                                    calibration=spec.calibration)[:, index]  # fmt: skip
            results.append(RunResult(spec.run, values, "ok", member))
        except UserError as err:
            results.append(RunResult(spec.run, np.full((spec.months + 1, len(index)), np.nan), str(err), member))
    return results


def run_sweep(sweep: Sweep, design: Design, store: SweepStore, backend, progress: bool = True) -> dict[str, object]:
    """Run every run not yet stored, writing each as it finishes; returns counts and timings."""
    specs = [spec for spec in plan_runs(sweep, design) if spec.run not in store.done()]
    total = design.points * sweep.file.replications
    started = time.perf_counter()
    batches = batches_of(specs, backend.workers)
    # The bar shows runs done out of all, the rate and the estimated time left; the postfix, runs left.
    with tqdm(total=total, initial=total - len(specs), desc=sweep.name, unit="run", disable=not progress) as bar:
        bar.set_postfix_str(f"{len(specs)} left", refresh=False)
        for _, results in backend.run(execute, batches):
            for result in results:
                store.write_run(result)
            bar.update(len(results))
            bar.set_postfix_str(f"{total - bar.n} left", refresh=False)
    return {"runs": total, "ran_now": len(specs), "seconds": time.perf_counter() - started}
