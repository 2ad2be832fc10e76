"""Plots of scenario trajectories; every function returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

LABELS = {
    "share_approve": "share approving (4–5)",
    "mean_approval": "mean approval (1–5)",
    "share_advantages": "share with advantages (Sesame/Tencent users)",
    "share_disadvantages": "share with disadvantages (Sesame/Tencent users)",
    "share_blacklisted": "share blacklisted",
}
CATEGORY_LABELS = ("strongly disapprove", "somewhat disapprove", "neither", "somewhat approve", "strongly approve")


def band(frame: pd.DataFrame, metric: str, group: str) -> pd.DataFrame:
    """Mean and 95% band across replicates (2.5th–97.5th percentile), by scenario and month."""
    rows = frame[(frame["metric"] == metric) & (frame["group"] == group)]
    grouped = rows.groupby(["scenario", "month"])["value"]
    return pd.DataFrame(
        {"mean": grouped.mean(), "low": grouped.quantile(0.025), "high": grouped.quantile(0.975)}
    ).reset_index()


def plot_trajectories(frame: pd.DataFrame, metric: str = "share_approve", group: str = "all") -> Figure:
    """One line per scenario with its 95% band across replications."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for scenario, rows in band(frame, metric, group).groupby("scenario"):
        scale = 100 if metric.startswith("share") else 1
        ax.plot(rows["month"], scale * rows["mean"], label=str(scenario))
        ax.fill_between(rows["month"], scale * rows["low"], scale * rows["high"], alpha=0.25)
    ax.set_xlabel("month (0 = spring 2018)")
    unit = " (%)" if metric.startswith("share") else ""
    ax.set_ylabel(LABELS.get(metric, metric) + unit)
    ax.set_title(f"{LABELS.get(metric, metric)}, {group}; band: 95% of replications")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_categories(frame: pd.DataFrame, scenario: str | None = None, group: str = "all") -> Figure:
    """Stacked shares of the five approval categories over time (mean of replicates)."""
    rows = frame[(frame["group"] == group) & frame["metric"].isin([f"share_{k}" for k in range(1, 6)])]
    if scenario is not None:
        rows = rows[rows["scenario"] == scenario]
    table = rows.groupby(["month", "metric"])["value"].mean().unstack("metric")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.stackplot(table.index, 100 * table.to_numpy().T, labels=CATEGORY_LABELS)
    ax.set_xlabel("month (0 = spring 2018)")
    ax.set_ylabel("% of citizens")
    ax.set_ylim(0, 100)
    ax.set_title(f"Approval categories, {group}" + (f" ({scenario})" if scenario else ""))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_subgroups(frame: pd.DataFrame, attribute: str = "urban", metric: str = "share_approve") -> Figure:
    """One panel per value of a subgroup attribute, each with every scenario's band."""
    groups = sorted(g for g in frame["group"].unique() if g.startswith(f"{attribute}="))
    if not groups:
        raise ValueError(f"attribute: no subgroups named {attribute!r} in the results")
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.8), sharey=True, squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        for scenario, rows in band(frame, metric, group).groupby("scenario"):
            ax.plot(rows["month"], 100 * rows["mean"], label=str(scenario))
            ax.fill_between(rows["month"], 100 * rows["low"], 100 * rows["high"], alpha=0.25)
        ax.set_title(group)
        ax.set_xlabel("month")
    axes[0][0].set_ylabel(LABELS.get(metric, metric) + " (%)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["band", "plot_categories", "plot_subgroups", "plot_trajectories"]
