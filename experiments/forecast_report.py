"""Outputs of the forecast test: JSON, a plain-language summary and four figures."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments.plots import plot_trajectories
from experiments.store import atomic_write, git_revision, package_version


def plot_channels(result: dict[str, object]) -> Figure:
    """Each channel's contribution (total − effect without it) and its effect alone, with 95% intervals."""
    names = list(result["channels"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    y = np.arange(len(names) + 2)[::-1]
    rows = [("total", result["effect_pp"], result["ci95"])]
    rows += [(f"{name}: contribution", v["effect_pp"], v["ci95"]) for name, v in result["channels"].items()]
    rows += [("interaction (total − Σ alone)", result["channel_interaction_pp"], None)]
    for yy, (label, value, ci) in zip(y, rows, strict=True):
        ax.barh(yy, value, color="C3" if label == "total" else "C0", alpha=0.8)
        if ci is not None:
            ax.plot(ci, [yy, yy], color="black", lw=1.5)
    alone = [result["channels_alone"][name]["effect_pp"] for name in names]
    ax.scatter(alone, y[1 : len(names) + 1], color="C1", zorder=3, label="channel alone")
    ax.set_yticks(y, [label for label, *_ in rows])
    ax.axvline(0, color="black", lw=0.7)
    ax.set_xlabel("effect on the share approving at the horizon (pp)")
    ax.set_title("Channels of the punitive shift")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_subgroup_forest(result: dict[str, object]) -> Figure:
    groups = list(result["subgroups"])
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(groups) + 1.5))
    y = np.arange(len(groups))[::-1]
    for yy, group in zip(y, groups, strict=True):
        value = result["subgroups"][group]
        ax.plot(value["ci95"], [yy, yy], color="C0")
        ax.scatter(value["effect_pp"], yy, color="C0", zorder=3)
    ax.axvline(result["effect_pp"], color="C3", lw=1, label="everyone")
    ax.axvline(0, color="black", lw=0.7)
    ax.set_yticks(y, groups, fontsize=8)
    ax.set_xlabel("effect on the share approving at the horizon (pp), 95% interval")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_dose_response(result: dict[str, object]) -> Figure:
    doses = result["dose_response"]
    x = [d["multiplier"] for d in doses]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, [d["effect_pp"] for d in doses], marker="o")
    ax.fill_between(x, [d["ci95"][0] for d in doses], [d["ci95"][1] for d in doses], alpha=0.25)
    ax.axhline(0, color="black", lw=0.7)
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [f"{m}×" for m in x])
    ax.set_xlabel("blacklisting rate, multiple of the 2018 baseline")
    ax.set_ylabel("effect on the share approving (pp)")
    ax.set_title("Dose–response of the punitive shift")
    fig.tight_layout()
    return fig


def summary_markdown(result: dict[str, object]) -> str:
    """A short plain-language summary for a policy analyst."""
    low, high = result["ci95"]
    split = result["uncertainty"]
    largest = max(result["channels"].items(), key=lambda item: abs(item[1]["effect_pp"]))
    words = {
        "supported": "supports the paper's forecast: the punitive shift lowers approval",
        "contradicted": "contradicts the paper's forecast: approval rises",
        "inconclusive": "is inconclusive: the interval includes no change",
    }[result["verdict"]]
    lines = [
        "# Does a punitive shift dampen support for social credit systems?",
        "",
        f"Kostka (2019) forecasts that wider use of the punitive elements of SCSs 'would likely dampen some "
        f"citizens' enthusiasm'. We simulated {result['n']:,} citizens for {result['months']} months, "
        f"{result['replications']} paired replications, with the shift ({result['shift_scenario']}) from month "
        f"{result['shift_month']}.",
        "",
        f"**Result.** At month {result['months']}, {result['shift_share']:.1f}% approve under the shift against "
        f"{result['baseline_share']:.1f}% without it: an effect of **{result['effect_pp']:+.2f} percentage points** "
        f"(95% interval {low:+.2f} to {high:+.2f}). The simulation {words}.",
        "",
        f"**Uncertainty.** The interval includes the uncertainty of the approval model's coefficients "
        f"({100 * split['parameter_share']:.0f}% of the variance) as well as chance.",
        "",
        f"**How it works.** The largest single channel is **{largest[0]}** ({largest[1]['effect_pp']:+.2f} pp). "
        "The paper's own coefficient on received disadvantages is small and not significant (−0.101, SE 0.130), "
        "so the direct disadvantage channel is small; most of the effect runs through perceived functions "
        "(`framing`: sanctioned citizens see less use in the system) and fairness after wrongful listings. "
        "These rules are assumptions with named parameters (sim/README.md), so the size of the effect is "
        "conditional on them. With every channel switched off the effect is "
        f"{result['all_channels_off']['effect_pp']:+.2f} pp.",
        "",
        "| channel | contribution (pp) | 95% interval | alone (pp) |",
        "|---|---|---|---|",
        *[
            f"| {name} | {v['effect_pp']:+.2f} | {v['ci95'][0]:+.2f} to {v['ci95'][1]:+.2f} | "
            f"{result['channels_alone'][name]['effect_pp']:+.2f} |"
            for name, v in result["channels"].items()
        ],
        f"| interaction (total − sum alone) | {result['channel_interaction_pp']:+.2f} | | |",
        "",
        "**Who loses most.** Effects by subgroup are in `subgroups.png`. Being blacklisted or aware of a "
        "pilot is a state the shift itself changes, so those two comparisons involve different people and are "
        "compositional, not causal.",
        "",
        "**Dose–response** (blacklisting rate as a multiple of 2018): "
        + ", ".join(f"{d['multiplier']}×: {d['effect_pp']:+.2f} pp" for d in result["dose_response"])
        + ".",
        "",
        "Caveats: the policy levers' 2018 values and the behavioural rates are assumptions (sim/README.md); the "
        "joint approval model's coefficients vary across calibrations (calibration/README.md).",
        "",
    ]
    return "\n".join(lines)


def write_forecast(result: dict[str, object], frames: dict[str, pd.DataFrame], out: Path) -> None:
    """Write ``forecast.json``, ``forecast.md`` and the four figures into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    stored = {**result, "package_version": package_version(), "git": git_revision()}
    text = json.dumps(stored, indent=1, default=float) + "\n"
    atomic_write(out / "forecast.json", lambda tmp: tmp.write_text(text))
    atomic_write(out / "forecast.md", lambda tmp: tmp.write_text(summary_markdown(result)))
    trajectories = plot_trajectories(pd.concat(frames.values(), ignore_index=True))
    figures = {
        "trajectories.png": trajectories,
        "channels.png": plot_channels(result),
        "subgroups.png": plot_subgroup_forest(result),
        "dose_response.png": plot_dose_response(result),
    }
    for name, fig in figures.items():
        atomic_write(out / name, lambda tmp, fig=fig: fig.savefig(tmp, dpi=110, format="png"))
        plt.close(fig)
