"""Test the paper's forecast: does a punitive shift dampen support? (``scsim forecast``)

Design: paired replications. Replicate r of every arm uses child r of one root
seed, so the baseline and the shift share their citizens, their monthly draws
(the engine draws the same arrays whatever the levers) and their draw of the
joint approval model from its calibrated uncertainty. The effect is shift minus
baseline in each replicate; its 95% interval is the 2.5–97.5 percentile range
over replicates, which carries stochastic and parameter uncertainty. A second
set of replicates without parameter draws splits the variance between them.

Channel decomposition reruns the pair with one channel off (contribution =
total − effect without it) and with only one channel on; the part of the total
that the one-channel effects do not add up to is reported as the interaction.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
from tqdm import tqdm

from experiments.scenario import Scenario
from experiments.simulation import replicate_seeds, run_replicate
from sim.params import Channels

# Every channel of the engine: the five the forecast question names (direct
# disadvantage, fairness, relative score, awareness, benefits withdrawn) and the
# perceived functions ("framing": they fall while sanctioned) and transparency,
# so that no route of the effect hides in the interaction term.
FORECAST_CHANNELS = (
    "disadvantage", "fairness", "relative_score", "awareness", "benefits", "framing", "transparency",
)  # fmt: skip
DOSES = (1, 2, 4, 8)  # blacklisting-rate multipliers of the baseline rate
SUBGROUP_ATTRIBUTES = ("urban", "age_group", "income_group", "education", "commercial_user",
                       "gov_pilot_participant", "blacklisted")  # fmt: skip


def verdict(ci95: tuple[float, float]) -> str:
    """'supported' if the interval lies below zero, 'contradicted' if above, else 'inconclusive'."""
    low, high = ci95
    if high < 0:
        return "supported"
    if low > 0:
        return "contradicted"
    return "inconclusive"


def interval(values: np.ndarray) -> list[float]:
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def with_channels(scenario: Scenario, channels: Channels) -> Scenario:
    """The scenario with its channel switches replaced."""
    return scenario.model_copy(update={"channels": type(scenario.channels)(**asdict(channels))})


def with_dose(shift: Scenario, baseline_rate: float, multiplier: float) -> Scenario:
    changes = [
        change.model_copy(update={"blacklist_rate": min(baseline_rate * multiplier, 1.0)}) for change in shift.changes
    ]
    return shift.model_copy(update={"changes": changes, "name": f"{shift.name}_x{multiplier:g}"})


class Arms:
    """Runs scenario arms replicate by replicate (in worker processes) and keeps the tidy frames.

    Each replicate depends only on (seed, r), so results are identical whatever
    the number of workers.
    """

    def __init__(self, n: int, months: int, replications: int, seed: int, progress: bool, workers: int) -> None:
        self.n, self.months, self.replications, self.seed = n, months, replications, seed
        self.bar = tqdm(desc="forecast", unit="replicate", disable=not progress)
        self.pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None

    def run(self, scenario: Scenario, draw_parameters: bool = True) -> pd.DataFrame:
        jobs = [
            (scenario, self.n, self.months, child, r, draw_parameters)
            for r, child in enumerate(replicate_seeds(self.seed, self.replications))
        ]
        results = self.pool.map(_run, jobs) if self.pool else map(_run, jobs)
        frames = []
        for frame in results:
            frames.append(frame)
            self.bar.update(1)
        return pd.concat(frames, ignore_index=True)

    def close(self) -> None:
        self.bar.close()
        if self.pool:
            self.pool.shutdown()


def _run(job: tuple) -> pd.DataFrame:
    return run_replicate(*job)


def paired(base: pd.DataFrame, shift: pd.DataFrame, metric: str, group: str = "all") -> pd.DataFrame:
    """Replicates × months of shift − baseline for one metric and group."""

    def table(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame[(frame["metric"] == metric) & (frame["group"] == group)]
        return rows.pivot(index="month", columns="replicate", values="value")

    return table(shift) - table(base)


def effect_summary(
    base: pd.DataFrame,
    shift: pd.DataFrame,
    horizon: int,
    start: int,
    metric: str = "share_approve",
    group: str = "all",
    scale: float = 100.0,
) -> dict[str, object]:
    """Effect at the horizon and averaged over the post-shift months, with 95% intervals."""
    difference = paired(base, shift, metric, group)
    at_horizon = scale * difference.loc[horizon].to_numpy()
    post = scale * difference.loc[start:horizon].mean(axis=0).to_numpy()
    return {
        "effect_pp": float(at_horizon.mean()),
        "ci95": interval(at_horizon),
        "post_shift_mean_pp": float(post.mean()),
        "post_shift_ci95": interval(post),
        "per_replicate": at_horizon.tolist(),
    }


def run_forecast(
    baseline: Scenario,
    shift: Scenario,
    n: int = 20_000,
    months: int = 60,
    replications: int = 10,
    seed: int = 0,
    progress: bool = False,
    workers: int = 1,
) -> tuple[dict[str, object], dict[str, pd.DataFrame]]:
    """The full forecast test; returns the result dict (``forecast.json``) and the main arms' frames."""
    start = min((change.month for change in shift.changes), default=1)
    if months < start:
        raise ValueError(f"months: must be at least the shift month ({start}), got {months}")
    arms = Arms(n, months, replications, seed, progress, workers)
    base_frame, shift_frame = arms.run(baseline), arms.run(shift)
    main = effect_summary(base_frame, shift_frame, months, start)
    base_fixed, shift_fixed = arms.run(baseline, draw_parameters=False), arms.run(shift, draw_parameters=False)
    stochastic = effect_summary(base_fixed, shift_fixed, months, start)
    total_var = float(np.var(main["per_replicate"], ddof=1)) if replications > 1 else 0.0
    stochastic_var = float(np.var(stochastic["per_replicate"], ddof=1)) if replications > 1 else 0.0

    channels: dict[str, object] = {}
    only: dict[str, object] = {}
    everything_on = Channels()
    for name in FORECAST_CHANNELS:
        off = replace(everything_on, **{name: False})
        without = effect_summary(
            arms.run(with_channels(baseline, off)), arms.run(with_channels(shift, off)), months, start
        )
        contribution = np.array(main["per_replicate"]) - np.array(without["per_replicate"])
        channels[name] = {"effect_pp": float(contribution.mean()), "ci95": interval(contribution),
                          "effect_without_pp": without["effect_pp"]}  # fmt: skip
        alone = Channels(**{f: f == name for f in asdict(everything_on)})
        only_effect = effect_summary(arms.run(with_channels(baseline, alone)), arms.run(with_channels(shift, alone)),
                                     months, start)  # fmt: skip
        only[name] = {"effect_pp": only_effect["effect_pp"], "ci95": only_effect["ci95"]}
    none_on = Channels(**dict.fromkeys(asdict(everything_on), False))
    all_off = effect_summary(arms.run(with_channels(baseline, none_on)), arms.run(with_channels(shift, none_on)),
                             months, start)  # fmt: skip
    interaction = main["effect_pp"] - sum(v["effect_pp"] for v in only.values())

    subgroups = {}
    for group in sorted(g for g in base_frame["group"].unique() if g.split("=")[0] in SUBGROUP_ATTRIBUTES):
        summary = effect_summary(base_frame, shift_frame, months, start, group=group)
        if np.all(np.isfinite(summary["per_replicate"])):
            subgroups[group] = {"effect_pp": summary["effect_pp"], "ci95": summary["ci95"]}

    baseline_rate = baseline.params().levers.blacklist_rate
    dose_response = []
    for multiplier in DOSES:
        dosed = with_dose(shift, baseline_rate, multiplier)
        effect = effect_summary(base_frame, arms.run(dosed), months, start)
        dose_response.append({"multiplier": multiplier, "blacklist_rate": min(baseline_rate * multiplier, 1.0),
                              "effect_pp": effect["effect_pp"], "ci95": effect["ci95"]})  # fmt: skip
    arms.close()

    shares = {name: 100 * frame[(frame["metric"] == "share_approve") & (frame["group"] == "all")
                                & (frame["month"] == months)]["value"].mean()
              for name, frame in (("baseline", base_frame), ("shift", shift_frame))}  # fmt: skip
    categories = {
        f"share_{k}": effect_summary(base_frame, shift_frame, months, start, metric=f"share_{k}")["effect_pp"]
        for k in range(1, 6)
    }
    mean_approval = effect_summary(base_frame, shift_frame, months, start, metric="mean_approval", scale=1.0)
    result = {
        "effect_pp": main["effect_pp"],
        "ci95": main["ci95"],
        "verdict": verdict(main["ci95"]),
        "baseline_share": shares["baseline"],
        "shift_share": shares["shift"],
        "post_shift_mean_effect_pp": main["post_shift_mean_pp"],
        "post_shift_mean_ci95": main["post_shift_ci95"],
        "mean_approval_effect": {"effect": mean_approval["effect_pp"], "ci95": mean_approval["ci95"]},
        "category_effects_pp": categories,
        "uncertainty": {
            "total_variance": total_var,
            "stochastic_variance": stochastic_var,
            "parameter_share": max(0.0, 1 - stochastic_var / total_var) if total_var > 0 else 0.0,
            "effect_without_parameter_draws_pp": stochastic["effect_pp"],
            "ci95_without_parameter_draws": stochastic["ci95"],
        },
        "channels": channels,
        "channels_alone": only,
        "channel_interaction_pp": interaction,
        "all_channels_off": {"effect_pp": all_off["effect_pp"], "ci95": all_off["ci95"]},
        "subgroups": subgroups,
        "subgroups_note": (
            "blacklisted and gov_pilot_participant are states, not fixed traits: the shift changes who is in "
            "them, so their effects compare different people and are compositional, not causal"
        ),
        "dose_response": dose_response,
        "replications": replications,
        "seed": seed,
        "n": n,
        "months": months,
        "shift_month": start,
        "baseline_scenario": baseline.name,
        "shift_scenario": shift.name,
        "per_replicate_effect_pp": main["per_replicate"],
    }
    return result, {"baseline": base_frame, "shift": shift_frame}
