"""Uncertainty over the assumptions: prior draws, prior-predictive checks, and Morris screening.

Every assumption with a ``prior`` in the register (``sim.params``) is drawn
from it (a Latin hypercube over the uniform priors, one point per draw). Draw
d runs with replicate d's seed (its citizens, calibration member and
coefficient draw, as in the headline arms), so its effect differs from the
headline replicate's only by the assumptions. A draw is kept only if it passes
the prior-predictive checks:

1. **Xu, Kostka & Cao (2022).** The in-silico experiments of
   ``calibration.information`` (a half of 18–25-year-old graduates told of
   repressive uses, a quarter given the social-order frame, a quarter as the
   control) give −16% to −8% and −2% to +2% in mean scale position. They run
   with the draw's own calibration member and coefficient draw, on
   ``XU_CHECK_N`` citizens of that member, before the arms, so rejected draws
   cost no forecast run.
2. **Stationary baseline.** The baseline arm's share approving moves by at most
   ``STATIONARY_TOLERANCE_PP`` from t = 0 to the horizon.
3. **List sizes.** In both arms, in every month, the blacklisted share lies in
   ``LIST_SHARE_BOUNDS``. The bounds come from 2018's enforcement volume:
   17.46 million flight and 5.47 million train ticket purchases were blocked
   (national public credit information centre, 2018 annual figures), 22.93
   million restrictions in all. These count restrictions, not people, so they
   bound list sizes only under stated assumptions: a listed person has at most
   52 purchases blocked a year (lower bound 22.93 M / 52 = 0.44 M people, 0.03%
   of 1.4 billion) and at least one listed person in four tries to buy a
   ticket in a year (upper bound 4 × 22.93 M = 92 M people, 6.6%).

The Morris screening (SALib) varies the same assumptions over their priors on
one paired replicate (shipped calibration, point coefficients, common random
numbers): μ* ranks the assumptions by how far they move the effect.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc
from tqdm import tqdm

from calibration.citizens import build_population, engine_approval_model
from calibration.information import TARGETS, treatment_effects
from calibration.members import load_calibration
from experiments.analysis_methods import morris_indices
from experiments.forecast_stats import paired_effect, uncertainty_summary, verdict, without_replicates
from experiments.scenario import Scenario
from experiments.simulation import replicate_member, replicate_seeds, split_seed
from experiments.sweep_design import MORRIS_LEVELS
from sim.metrics import METRIC_KEYS
from sim.params import DynamicsParams, SimulationParams
from sim.schema import parameter_specs

PRIOR_STREAM = 0x9A10B  # entropy word that keeps the prior draws apart from the replicates'
XU_CHECK_N = 150_000
XU_CHECK_SEED = 2019
STATIONARY_TOLERANCE_PP = 1.0
LIST_SHARE_BOUNDS = (0.0003, 0.066)
PRIOR_KEYS = ("all|share_approve", "all|share_blacklisted")


def prior_ranges() -> dict[str, tuple[float, float]]:
    """The assumptions drawn, with their uniform priors (from the register)."""
    return {name: spec.prior for name, spec in parameter_specs(DynamicsParams).items() if spec.prior is not None}


def draw_assumptions(seed: int, draws: int) -> list[dict[str, float]]:
    """``draws`` points of a Latin hypercube over the priors (the same for the same seed)."""
    sampler = qmc.LatinHypercube(d=len(prior_ranges()), seed=np.random.default_rng([PRIOR_STREAM, seed]))
    return _prior_values(sampler.random(draws))


def _prior_values(units: np.ndarray) -> list[dict[str, float]]:
    """Points of the unit cube (one column per assumption) → the assumptions' values, uniform on their priors."""
    ranges = prior_ranges()
    lows, highs = np.array([r[0] for r in ranges.values()]), np.array([r[1] for r in ranges.values()])
    return [{name: float(v) for name, v in zip(ranges, lows + row * (highs - lows), strict=True)} for row in units]


_check_populations: dict[int | None, object] = {}


def xu_effects(
    dynamics: DynamicsParams, member: int | None = None, coefficients: np.random.SeedSequence | None = None
) -> dict[str, float]:
    """The in-silico Xu et al. (2022) effects under ``dynamics`` (relative change in mean scale position).

    Args:
        dynamics: The assumptions.
        member: The calibration member (None: the shipped calibration); its citizens are
            ``XU_CHECK_N`` drawn from a fixed seed, built once per process.
        coefficients: The stream of the approval model's coefficient draw (None: its point estimate).
    """
    calibration = load_calibration(member)
    if member not in _check_populations:
        _check_populations[member] = build_population(
            XU_CHECK_N, np.random.SeedSequence(XU_CHECK_SEED), calibration.generator
        )
    rng = None if coefficients is None else np.random.default_rng(coefficients)
    approval = engine_approval_model(calibration.joint, rng)
    kinds = [kind for kind, _, _ in TARGETS.values()]
    params = SimulationParams(dynamics=dynamics)
    return treatment_effects(_check_populations[member], approval, params, kinds, XU_CHECK_SEED)


def check_xu(batch: list[tuple]) -> list[tuple[int, dict[str, float]]]:
    """Backend job: the Xu effects of each (draw, dynamics dump, member, coefficient stream) of the batch."""
    return [(d, xu_effects(DynamicsParams.model_validate(dump), member, stream)) for d, dump, member, stream in batch]


def xu_passes(effects: dict[str, float]) -> dict[str, bool]:
    return {kind: band[0] <= effects[kind] <= band[1] for kind, _, band in TARGETS.values()}


def run_prior(runner, baseline: Scenario, shift: Scenario, draws: int, seed: int, run_batch) -> dict[str, object]:
    """Draw, check and run the assumptions; the filtered prior's effect and verdict (``forecast.json``'s ``prior``)."""
    assumptions = draw_assumptions(seed, draws)
    dumps = [shift.dynamics.model_copy(update=a).model_dump() for a in assumptions]
    seeds = replicate_seeds(seed, draws)
    # Each draw is checked with the calibration member and coefficient draw it runs with; the
    # draws are batched by member, so that a worker builds each member's check citizens once.
    members = [replicate_member(runner.calibration, s) for s in seeds]
    checks = [(d, dumps[d], members[d], split_seed(seeds[d])[2]) for d in range(draws)]
    checks.sort(key=lambda check: (-1 if check[2] is None else check[2], check[0]))
    jobs = [checks[i : i + 4] for i in range(0, draws, 4)]
    xu: dict[int, dict[str, float]] = {}
    with _bar(runner, draws, "prior checks", "draw") as bar:
        for _, results in runner.backend.run(check_xu, jobs):
            xu |= dict(results)
            bar.update(len(results))
    passed_xu = [d for d in range(draws) if all(xu_passes(xu[d]).values())]
    index = [METRIC_KEYS.index(key) for key in PRIOR_KEYS]
    batches = []
    for d in passed_xu:
        dynamics = DynamicsParams.model_validate(dumps[d])
        batches.append([
            (scenario.model_copy(update={"dynamics": dynamics}), runner.n, runner.months, seeds[d], True, index,
             runner.calibration)
            for scenario in (baseline, shift)
        ])  # fmt: skip
    runs: dict[int, list] = {}
    with _bar(runner, 2 * len(batches), "prior runs", "run") as bar:
        for position, values in runner.backend.run(run_batch, batches):
            runs[passed_xu[position]] = values
            bar.update(2)
    rows, accepted_effects = [], []
    for d in range(draws):
        row: dict[str, object] = {"assumptions": assumptions[d], "xu": xu[d], "passes": dict(xu_passes(xu[d]))}
        if d in runs:
            (base, _), (shifted, _) = runs[d]
            drift = 100 * (base[-1, 0] - base[0, 0])
            listed = np.concatenate([base[:, 1], shifted[:, 1]])
            row["passes"] |= {
                "stationary_baseline": bool(abs(drift) <= STATIONARY_TOLERANCE_PP),
                "list_sizes": bool(LIST_SHARE_BOUNDS[0] <= listed.min() and listed.max() <= LIST_SHARE_BOUNDS[1]),
            }
            row |= {"baseline_drift_pp": float(drift), "blacklisted_share_range": [float(listed.min()),
                    float(listed.max())], "effect_pp": float(paired_effect(base[None, :, 0], shifted[None, :, 0],
                                                                           runner.months)[0])}  # fmt: skip
        row["accepted"] = d in runs and all(row["passes"].values())
        if row["accepted"]:
            accepted_effects.append(row["effect_pp"])
        rows.append(row)
    return _prior_summary(rows, np.array(accepted_effects), draws, seed)


def _prior_summary(rows: list[dict], effects: np.ndarray, draws: int, seed: int) -> dict[str, object]:
    checks = sorted({name for row in rows for name in row["passes"]})
    out: dict[str, object] = {
        "draws": draws,
        "accepted": int(effects.size),
        "acceptance_rate": effects.size / draws if draws else None,
        "passed_by_check": {name: sum(bool(row["passes"].get(name)) for row in rows) for name in checks},
        # The checks on the runs apply only to the draws that passed both Xu checks and were run.
        "run_after_xu_checks": sum("effect_pp" in row for row in rows),
        "priors": {name: list(bounds) for name, bounds in prior_ranges().items()},
        "checks": {
            "xu_bands": {kind: list(band) for kind, _, band in TARGETS.values()},
            "xu_check_n": XU_CHECK_N,
            "stationary_tolerance_pp": STATIONARY_TOLERANCE_PP,
            "blacklisted_share_bounds": list(LIST_SHARE_BOUNDS),
        },
        "per_draw": rows,
    }
    if effects.size >= 2:
        summary = uncertainty_summary(effects, seed)
        out |= without_replicates(summary)
        out["verdict"] = verdict(summary["uncertainty_interval"])
        out["effects"] = effects.tolist()
    else:
        out["verdict"] = None
    return out


def morris_screening(
    runner, baseline: Scenario, shift: Scenario, trajectories: int, seed: int, run_batch
) -> dict[str, object]:
    """Morris μ* of the forecast effect over the priors (one paired replicate, common random numbers)."""
    from SALib.sample import morris as morris_sample

    ranges = prior_ranges()
    problem = {"num_vars": len(ranges), "names": list(ranges), "bounds": [[0.0, 1.0]] * len(ranges)}
    units = morris_sample.sample(problem, trajectories, num_levels=MORRIS_LEVELS, seed=seed + 1)
    replicate = replicate_seeds(seed, 1)[0]
    index = [METRIC_KEYS.index("all|share_approve")]
    batches = []
    for update in _prior_values(units):
        pair = []
        for scenario in (baseline, shift):
            drawn = scenario.model_copy(update={"dynamics": scenario.dynamics.model_copy(update=update)})
            pair.append((drawn, runner.n, runner.months, replicate, False, index, "shipped"))
        batches.append(pair)
    effects = np.empty(len(units))
    with _bar(runner, 2 * len(batches), "morris", "run") as bar:
        for position, ((base, _), (shifted, _)) in runner.backend.run(run_batch, batches):
            effects[position] = paired_effect(base[None, :, 0], shifted[None, :, 0], runner.months)[0]
            bar.update(2)
    # The sweeps' Morris analysis (its bootstrap of μ*'s interval included).
    indices = morris_indices(problem, units, effects, MORRIS_LEVELS)
    factors = indices["factors"]
    return {
        "trajectories": trajectories,
        "points": len(units),
        "effect_range_pp": [float(effects.min()), float(effects.max())],
        "share_of_points_with_effect_above_zero": float((effects > 0).mean()),
        **{key: {name: factors[name][key] for name in ranges} for key in ("mu_star", "mu_star_conf", "sigma")},
        "top_three": indices["ranking_by_mu_star"][:3],
    }


def _bar(runner, total: int, description: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=description, unit=unit, disable=not runner.progress)


def add_assumptions(split: dict[str, object], prior: dict[str, object]) -> None:
    """Add the assumptions to the variance split: V(accepted prior draws) − V(headline arms A)."""
    components = split.get("components", {})
    effects = np.asarray(prior.get("effects", []), dtype=float)
    if effects.size < 2 or components.get("chance", {}).get("variance") is None:
        components["assumptions"] = {"variance": None, "share": None}
        return
    raw = float(np.var(effects, ddof=1)) - float(split["total_variance"])
    components["assumptions"] = {"variance": max(raw, 0.0), "estimate": raw, "clipped": raw < 0}
    split["arms"]["P"] = {"description": "accepted prior draws of the assumptions (each with A's member and "
                          "coefficient draw)", "variance": float(np.var(effects, ddof=1)),
                          "mean_effect_pp": float(effects.mean()), "per_replicate": effects.tolist()}  # fmt: skip
    total = sum(value["variance"] for value in components.values())
    for value in components.values():
        value["share"] = value["variance"] / total if total > 0 else None
    split["sum_of_components"] = total
    split["method"] = str(split["method"]) + (
        " P: the accepted prior draws of the assumptions, each on replicate d's seed; assumptions = V(P) - V(A)."
    )
