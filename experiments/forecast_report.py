"""Outputs of the forecast test: JSON, a plain-language summary and figures."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments.forecast_summary import summary_markdown
from experiments.plots import plot_trajectories
from experiments.store import atomic_write, git_revision, package_version

FIGURES = ("trajectories.png", "channels.png", "subgroups.png", "dose_response.png")


def plot_channels(result: dict[str, object]) -> Figure:
    """Each routed channel's contribution (total − effect without it) and its effect alone, with intervals."""
    routed = [name for name, value in result["channels"].items() if value["route"]]
    silent = [name for name, value in result["channels"].items() if not value["route"]]
    rows = [("total", result["effect_pp"], result["uncertainty_interval"])]
    rows += [(f"{name}: contribution", result["channels"][name]["contribution"]["effect_pp"],
              result["channels"][name]["contribution"]["uncertainty_interval"]) for name in routed]  # fmt: skip
    rows += [("interaction (total − Σ alone)", result["channel_interaction_pp"], None)]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 2))
    y = np.arange(len(rows))[::-1]
    for yy, (label, value, interval) in zip(y, rows, strict=True):
        ax.barh(yy, value, color="C3" if label == "total" else "C0", alpha=0.8)
        if interval is not None:
            ax.plot(interval, [yy, yy], color="black", lw=1.5)
    alone = [result["channels"][name]["alone"]["effect_pp"] for name in routed]
    ax.scatter(alone, y[1 : len(routed) + 1], color="C1", zorder=3, label="channel alone")
    ax.set_yticks(y, [label for label, *_ in rows])
    ax.axvline(0, color="black", lw=0.7)
    ax.set_xlabel("effect on the share approving at the horizon (pp); bars: 95% uncertainty interval")
    title = f"Channels of {result['shift_scenario']}"
    if silent:
        title += f"\nno route in this configuration: {', '.join(silent)}"
    ax.set_title(title, fontsize=10)
    if routed:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_subgroup_forest(result: dict[str, object]) -> Figure:
    """Effect by subgroup with its uncertainty interval; compositional groups in grey."""
    groups = [g for g, v in result["subgroups"].items() if "effect_pp" in v]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(groups) + 1.5))
    y = np.arange(len(groups))[::-1]
    for yy, group in zip(y, groups, strict=True):
        value = result["subgroups"][group]
        colour = "grey" if value["compositional"] else "C0"
        ax.plot(value["uncertainty_interval"], [yy, yy], color=colour)
        ax.scatter(value["effect_pp"], yy, color=colour, zorder=3)
    ax.axvline(result["effect_pp"], color="C3", lw=1, label="everyone")
    ax.axvline(0, color="black", lw=0.7)
    ax.set_yticks(y, groups, fontsize=8)
    ax.set_xlabel("effect on the share approving at the horizon (pp), 95% uncertainty interval\n"
                  "grey: states the shift itself changes (compositional, not causal)")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_dose_response(result: dict[str, object]) -> Figure:
    """One panel per lever of the shift (moved alone from the baseline), and one for the whole shift scaled."""
    levers = list(result["dose_response"])
    panels = len(levers) + 1
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.6), sharey=True, squeeze=False)
    series = [(name, result["dose_response"][name]["points"], "value") for name in levers]
    series.append(("whole shift, scaled", result["combined_dose_response"], "fraction"))
    for ax, (title, points, key) in zip(axes[0], series, strict=True):
        x = [p[key] for p in points if p[key] is not None]
        kept = [p for p in points if p[key] is not None]
        ax.plot(x, [p["effect_pp"] for p in kept], marker="o")
        ax.fill_between(x, [p["uncertainty_interval"][0] for p in kept], [p["uncertainty_interval"][1] for p in kept],
                        alpha=0.25)  # fmt: skip
        for p in kept:
            if p["is_baseline"]:
                ax.scatter([p[key]], [p["effect_pp"]], color="black", zorder=3, s=20)
        ax.axhline(0, color="black", lw=0.7)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("lever value (black: baseline)" if key == "value" else "fraction of the shift (0 = baseline)")
    axes[0][0].set_ylabel("effect on the share approving (pp)")
    fig.suptitle("Dose–response at the horizon; band: 95% uncertainty interval", fontsize=10)
    fig.tight_layout()
    return fig


def write_forecast(result: dict[str, object], frames: dict[str, pd.DataFrame], out: Path) -> None:
    """Write ``forecast.json``, ``forecast.md`` and the figures into ``out``.

    ``channels.png`` and ``dose_response.png`` are written only when the decomposition ran.
    """
    out.mkdir(parents=True, exist_ok=True)
    stored = {**result, "package_version": package_version(), "git": git_revision()}
    text = json.dumps(stored, indent=1, default=float, allow_nan=False) + "\n"
    atomic_write(out / "forecast.json", lambda tmp: tmp.write_text(text))
    atomic_write(out / "forecast.md", lambda tmp: tmp.write_text(summary_markdown(result)))
    figures = {
        "trajectories.png": plot_trajectories(pd.concat(frames.values(), ignore_index=True)),
        "subgroups.png": plot_subgroup_forest(result),
    }
    if result["decomposition_replications"]:
        figures |= {"channels.png": plot_channels(result), "dose_response.png": plot_dose_response(result)}
    for name, fig in figures.items():
        atomic_write(out / name, lambda tmp, fig=fig: fig.savefig(tmp, dpi=110, format="png"))
        plt.close(fig)
