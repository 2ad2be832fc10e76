"""Test the paper's forecast: does a punitive shift dampen support? (``scsim forecast``)

Design: paired replications. Replicate r of every arm uses child r of one root
seed, so the baseline and the shift share their citizens, their monthly draws
(the engine draws the same arrays whatever the levers) and their draw of the
joint approval model from its calibrated uncertainty. The effect is shift minus
baseline in each replicate.

The reported interval is the **uncertainty interval**: the 2.5th–97.5th
percentile of the replicate effects, which carry the approval model's
coefficient uncertainty and the simulation's noise at this N. Its ends are
estimated from a finite number of replicates, so their Monte Carlo standard
errors are reported too (bootstrap over replicates), and the verdict says
whether it could change with more replicates. Under the ``ensemble``
calibration every replicate also draws its member of the calibration
ensemble (the same member in every arm of the replicate), and the variance is
split three ways: chance, coefficients within a calibration, and between
calibrations (``experiments.forecast_variance``); further arms without
coefficient draws (and, for the ensemble, with the drawn member at its point
estimate) provide the split.

Channel decomposition reruns the pair with one channel off (contribution =
total − effect without it) and with only that channel on; what the
one-channel effects do not add up to is the interaction. A channel whose
covariates never leave their t = 0 values in any month of any replicate of
either arm has no route to approval in this configuration and is reported as
such. Dose–responses move one lever of the shift at a time from the baseline,
and the whole shift at fractions of its size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from calibration.citizens import check_parameter_files
from calibration.ensemble_files import SHIPPED, CalibrationChoice, parse_calibration
from calibration.members import checked_choice
from experiments.backends import SerialBackend
from experiments.forecast_design import (
    channel_variants,
    combined_doses,
    lever_doses,
    lever_ever_set,
    no_channels,
    shift_levers,
    shift_start,
    with_channels,
)
from experiments.forecast_groups import contributions_by_group, summarise_groups
from experiments.forecast_prior import add_assumptions, morris_screening, run_prior
from experiments.forecast_stats import (
    BOOTSTRAP_RESAMPLES,
    paired_effect,
    uncertainty_summary,
    verdict,
    verdict_settled,
    without_replicates,
)
from experiments.forecast_variance import calibration_record, fixed_label, variance_split
from experiments.scenario import Scenario
from experiments.simulation import cached_population, replicate_member, replicate_metrics, replicate_seeds, tidy
from sim.errors import UserError
from sim.metrics import GROUPS, METRIC_KEYS
from sim.perceptions import CHANNEL_INPUT_LEVERS
from sim.state import CHANNEL_COVARIATES

HYPOTHESIS = {
    "text": "As SCS pilots continue to develop it is possible that the more punitive elements of SCSs will come "
    "into wider use and this would likely dampen some citizens' enthusiasm",
    "source": "Kostka (2019), Conclusion",
}
COMPOSITIONAL = ("blacklisted", "gov_pilot_participant")  # states the shift itself changes
APPROVE = "all|share_approve"
MOVED = tuple(f"all|share_moved_{channel}" for channel in CHANNEL_COVARIATES)
SMALL_ARM_KEYS = (APPROVE, *MOVED)


class ArmRunner:
    """Runs arms in paired replicates on a backend (``experiments.backends``).

    Every (arm, replicate) is one job; the jobs of one replicate form one batch,
    so a worker builds that replicate's citizens once for all its arms (arms
    that share a calibration should be listed together: one population is kept
    at a time). A job depends only on (scenario, seed, r, calibration), so
    results are identical whatever the backend or the number of workers.
    """

    def __init__(
        self,
        n: int,
        months: int,
        replications: int,
        seed: int,
        backend,
        progress: bool,
        calibration: CalibrationChoice | str = SHIPPED,
    ) -> None:
        self.n, self.months, self.seed = n, months, seed
        self.seeds = replicate_seeds(seed, replications)
        self.backend = backend
        self.progress = progress
        self.calibration = parse_calibration(calibration)
        self.outcomes: dict[str, np.ndarray] = {}

    def members(self) -> list[int | None]:
        """The member each replicate runs with under the runner's calibration (None: shipped)."""
        return [replicate_member(self.calibration, seed) for seed in self.seeds]

    def run(self, arms: dict[str, tuple], replicates: int) -> dict:
        """Arm name → array (replicates, months + 1, keys) for the first ``replicates`` replicates.

        Each arm is (scenario, draw_parameters, keys) or (scenario, draw_parameters,
        keys, calibration); keys None keeps every metric, and the calibration
        defaults to the runner's.
        """
        names = list(arms)
        batches = []
        for r in range(replicates):
            batch = []
            for name in names:
                scenario, draw, keys, *rest = arms[name]
                calibration = parse_calibration(rest[0]) if rest else self.calibration
                index = None if keys is None else [METRIC_KEYS.index(key) for key in keys]
                batch.append((scenario, self.n, self.months, self.seeds[r], draw, index, calibration))
            batches.append(batch)
        results: dict[str, list] = {name: [None] * replicates for name in names}
        outcomes: dict[str, list] = {name: [None] * replicates for name in names}
        with tqdm(total=replicates * len(names), desc="forecast", unit="run", disable=not self.progress) as bar:
            for r, values in self.backend.run(run_batch, batches):
                for name, (value, codes) in zip(names, values, strict=True):
                    results[name][r], outcomes[name][r] = value, codes
                bar.update(len(names))
        # Each arm's citizens at the horizon (``SCSEngine.citizen_outcomes``), replicates × n.
        self.outcomes |= {name: np.stack(codes) for name, codes in outcomes.items()}
        return {name: np.stack(values) for name, values in results.items()}


def run_batch(batch: list[tuple]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Runs of one replicate: each (scenario, n, months, seed, draw, index, calibration) → (metrics, outcomes)."""
    out = []
    for scenario, n, months, seed, draw, index, calibration in batch:
        population = cached_population(n, seed, calibration)
        codes: list[np.ndarray] = []
        values = replicate_metrics(scenario, n, months, seed, draw, population=population, calibration=calibration,
                                   outcomes=codes)  # fmt: skip
        out.append((values if index is None else values[:, index], codes[0]))
    return out


def run_forecast(
    baseline: Scenario,
    shift: Scenario,
    n: int = 20_000,
    months: int = 60,
    replications: int = 40,
    seed: int = 0,
    progress: bool = False,
    backend=None,
    decomposition_replications: int = 10,
    calibration: CalibrationChoice | str = SHIPPED,
    prior_draws: int = 0,
    morris_trajectories: int = 0,
) -> tuple[dict[str, object], dict[str, pd.DataFrame]]:
    """The full forecast test; returns the result dict (``forecast.json``) and the main arms' tidy frames.

    Args:
        baseline, shift: The two scenarios.
        n, months, replications, seed: Run size, horizon, paired replicates and root seed.
        progress: Show a progress bar.
        backend: Where runs execute (``experiments.backends``; default serial). Results do not depend on it.
        decomposition_replications: Replicates used for the channel decomposition and the
            dose–responses (the first ones of the main effect's, at most all of them);
            0 skips both.
        calibration: ``shipped`` (default here; the command line defaults to
            ``ensemble``), ``ensemble`` or ``member:K``. Every arm but the
            variance split's fixed ones runs with it.
        prior_draws: Draws of the assumptions from their priors, filtered by the
            prior-predictive checks (``experiments.forecast_prior``); 0 skips them.
        morris_trajectories: Morris trajectories over the priors; 0 skips the screening.
    """
    baseline.check_horizon(months)
    shift.check_horizon(months)
    start = shift_start(shift)
    if months < start:
        raise UserError(f"months: must be at least the shift month ({start}), got {months}")
    for name, value in (("decomposition_replications", decomposition_replications), ("prior_draws", prior_draws),
                        ("morris_trajectories", morris_trajectories)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"{name}: must be an integer >= 0, got {value!r}")
    if morris_trajectories == 1:
        raise UserError("morris_trajectories: must be 0 (skip) or at least 2, got 1")
    check_parameter_files()  # a bad parameter file fails as one line, before any progress output
    choice = checked_choice(calibration)  # and so does a calibration that cannot be loaded
    runner = ArmRunner(n, months, replications, seed, backend or SerialBackend(), progress, choice)
    main = runner.run(_main_arms(baseline, shift, choice), replications)
    approve = METRIC_KEYS.index(APPROVE)
    total = paired_effect(main["baseline"][:, :, approve], main["shift"][:, :, approve], months)
    fixed = paired_effect(main["baseline_fixed"][:, :, 0], main["shift_fixed"][:, :, 0], months)
    member_point = (
        paired_effect(main["baseline_member"][:, :, 0], main["shift_member"][:, :, 0], months)
        if "baseline_member" in main
        else None
    )
    summary = uncertainty_summary(total, seed)
    # A route: the channel's covariates moved, and it had its input (channels that share covariates).
    routes = {
        channel: bool(max(main[arm][:, :, METRIC_KEYS.index(f"all|share_moved_{channel}")].max()
                          for arm in ("baseline", "shift")) > 0)
        and all(any(lever_ever_set(s, lever) for s in (baseline, shift))
                for lever in CHANNEL_INPUT_LEVERS.get(channel, ()))
        for channel in CHANNEL_COVARIATES
    }  # fmt: skip
    decomposition = min(decomposition_replications, replications)
    parts = (
        _decompose(runner, baseline, shift, routes, main["baseline"][:decomposition, :, approve],
                   main["shift"][:decomposition, :, approve], decomposition, seed)
        if decomposition
        else {"channels": {name: {"route": route, "covariates": list(CHANNEL_COVARIATES[name])}
                           for name, route in routes.items()},
              "channel_interaction_pp": None, "all_channels_off": None, "dose_response": None,
              "combined_dose_response": None}
    )  # fmt: skip
    split = variance_split(choice, total, member_point, fixed)
    prior = run_prior(runner, baseline, shift, prior_draws, seed, run_batch) if prior_draws else None
    if prior is not None:
        add_assumptions(split, prior)
    morris = (
        morris_screening(runner, baseline, shift, morris_trajectories, seed, run_batch) if morris_trajectories else None
    )
    frames = {
        side: pd.concat([tidy(main[side][r], scenario.name, r) for r in range(replications)], ignore_index=True)
        for side, scenario in (("baseline", baseline), ("shift", shift))
    }
    result = {
        "hypothesis": HYPOTHESIS,
        **summary,
        "verdict": verdict(summary["uncertainty_interval"]),
        "verdict_settled": verdict_settled(summary),
        "interval_definition": "2.5th-97.5th percentile of the paired replicate effects; each replicate has its "
        + ("own calibration member drawn from the ensemble, its " if choice.kind == "ensemble" else "")
        + "own draw of the approval model's coefficients and its own simulation noise at this N. Monte Carlo "
        f"standard errors of its ends: bootstrap over replicates ({BOOTSTRAP_RESAMPLES} resamples).",
        "calibration": calibration_record(choice, runner.members()),
        "baseline_share": float(100 * main["baseline"][:, months, approve].mean()),
        "shift_share": float(100 * main["shift"][:, months, approve].mean()),
        "post_shift_mean_effect_pp": float(
            100 * (main["shift"][:, start:, approve] - main["baseline"][:, start:, approve]).mean()
        ),
        "mean_approval_effect": _metric_effect(main, "all|mean_approval", months, seed, scale=1.0),
        "category_effects_pp": {
            f"share_{k}": _metric_effect(main, f"all|share_{k}", months, seed)["effect_pp"] for k in range(1, 6)
        },
        "uncertainty": split,
        # The effect and verdict with the assumptions drawn from their priors and filtered, and what decides them.
        "prior": prior,
        "morris": morris,
        "top_assumptions_by_morris": None if morris is None else morris["top_three"],
        "decomposition_replications": decomposition,
        **parts,
        "subgroups": _subgroups(main, months, seed),
        # The same citizens in both arms: the sanctioned, the never-sanctioned and those who only learned.
        "by_sanction": summarise_groups(
            runner.outcomes["baseline"], runner.outcomes["shift"], lambda e: uncertainty_summary(e, seed)
        ),
        "replications": replications,
        "seed": seed,
        "n": n,
        "months": months,
        "shift_month": start,
        "baseline_scenario": baseline.name,
        "shift_scenario": shift.name,
        "shift_levers": shift_levers(shift),
        "dynamics": shift.dynamics.model_dump(),
        "scores": shift.scores.model_dump(),
    }
    return result, frames


def _decompose(
    runner: ArmRunner,
    baseline: Scenario,
    shift: Scenario,
    routes: dict[str, bool],
    base: np.ndarray,
    shifted: np.ndarray,
    replicates: int,
    seed: int,
) -> dict[str, object]:
    """Channel decomposition and dose–responses on the first ``replicates`` replicates."""
    months = runner.months
    arms: dict[str, tuple[Scenario, bool, tuple[str, ...]]] = {}
    for channel in (name for name, route in routes.items() if route):
        for variant, switches in channel_variants(channel).items():
            for side, scenario in (("baseline", baseline), ("shift", shift)):
                arms[f"{variant}:{channel}:{side}"] = (with_channels(scenario, switches), True, SMALL_ARM_KEYS)
    for side, scenario in (("baseline", baseline), ("shift", shift)):
        arms[f"none:{side}"] = (with_channels(scenario, no_channels()), True, SMALL_ARM_KEYS)
    lever_points = {name: lever_doses(baseline, shift, name) for name in shift_levers(shift)}
    for name, doses in lever_points.items():
        for k, dose in enumerate(doses):
            arms[f"dose:{name}:{k}"] = (dose.scenario, True, SMALL_ARM_KEYS)
    combined = combined_doses(baseline, shift)
    for k, dose in enumerate(combined):
        arms[f"combined:{k}"] = (dose.scenario, True, SMALL_ARM_KEYS)
    extra = runner.run(arms, replicates)
    total = paired_effect(base, shifted, months)
    outcomes = runner.outcomes
    total_codes = (outcomes["baseline"][:replicates], outcomes["shift"][:replicates])

    def effect_of(prefix: str) -> np.ndarray:
        return paired_effect(extra[f"{prefix}:baseline"][:, :, 0], extra[f"{prefix}:shift"][:, :, 0], months)

    channels: dict[str, object] = {}
    alone_sum = np.zeros(replicates)
    for channel, route in routes.items():
        channels[channel] = {"route": route, "covariates": list(CHANNEL_COVARIATES[channel])}
        if route:
            alone = effect_of(f"alone:{channel}")
            alone_sum += alone
            channels[channel] |= {
                "contribution": uncertainty_summary(total - effect_of(f"off:{channel}"), seed),
                "alone": uncertainty_summary(alone, seed),
                "contribution_by_group": contributions_by_group(
                    total_codes, (outcomes[f"off:{channel}:baseline"], outcomes[f"off:{channel}:shift"]),
                    lambda e: uncertainty_summary(e, seed),
                ),
            }

    def dose_entry(key: str, dose, arm: str) -> dict[str, object]:
        effect = paired_effect(base, extra[arm][:, :, 0], months)
        return {key: dose.value, "label": dose.label, "is_baseline": dose.is_baseline,
                **uncertainty_summary(effect, seed)}  # fmt: skip

    return {
        "channels": channels,
        "channel_interaction_pp": float((total - alone_sum).mean()),
        "all_channels_off": uncertainty_summary(effect_of("none"), seed),
        "dose_response": {
            name: {
                "baseline_value": next((d.value for d in doses if d.is_baseline), None),
                "shift_value": shift_levers(shift)[name],
                "points": [dose_entry("value", dose, f"dose:{name}:{k}") for k, dose in enumerate(doses)],
            }
            for name, doses in lever_points.items()
        },
        "combined_dose_response": [dose_entry("fraction", dose, f"combined:{k}") for k, dose in enumerate(combined)],
    }


def _metric_effect(main: dict, key: str, months: int, seed: int, scale: float = 100.0) -> dict[str, object]:
    index = METRIC_KEYS.index(key)
    effect = paired_effect(main["baseline"][:, :, index], main["shift"][:, :, index], months, scale)
    return without_replicates(uncertainty_summary(effect, seed))


def _main_arms(baseline: Scenario, shift: Scenario, choice: CalibrationChoice) -> dict[str, tuple]:
    """The headline arms (A) and the variance split's arms (B under ``ensemble``, and C), in that order.

    A and B use the replicate's member, C a fixed calibration: listed in this
    order, a worker builds at most two populations per replicate.
    """
    fixed = parse_calibration(fixed_label(choice))
    arms = {"baseline": (baseline, True, None), "shift": (shift, True, None)}
    if choice.kind == "ensemble":
        arms |= {"baseline_member": (baseline, False, SMALL_ARM_KEYS), "shift_member": (shift, False, SMALL_ARM_KEYS)}
    arms |= {"baseline_fixed": (baseline, False, SMALL_ARM_KEYS, fixed),
             "shift_fixed": (shift, False, SMALL_ARM_KEYS, fixed)}  # fmt: skip
    return arms


def _subgroups(main: dict, months: int, seed: int) -> dict[str, object]:
    """Effect on the share approving by subgroup; empty groups give no value for that replicate."""
    out = {}
    for group in GROUPS[1:]:
        index = METRIC_KEYS.index(f"{group}|share_approve")
        effect = paired_effect(main["baseline"][:, :, index], main["shift"][:, :, index], months)
        defined = effect[np.isfinite(effect)]
        entry: dict[str, object] = {"replicates_defined": int(defined.size),
                                    "compositional": group.split("=")[0] in COMPOSITIONAL}  # fmt: skip
        if defined.size:
            summary = uncertainty_summary(defined, seed)
            entry |= {"effect_pp": summary["effect_pp"], "uncertainty_interval": summary["uncertainty_interval"]}
        out[group] = entry
    return out


__all__ = ["HYPOTHESIS", "ArmRunner", "run_forecast", "uncertainty_summary", "verdict", "verdict_settled"]
