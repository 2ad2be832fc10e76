"""Figures of ``scsim analyze``; every function takes computed results and returns a matplotlib Figure."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

KIND_COLORS = {"lever": "tab:blue", "uncertainty": "tab:orange"}
KIND_NAMES = {"lever": "lever", "uncertainty": "uncertainty (assumed behaviour)"}
SCATTER_LABELS = 10


def wrap(title: str, width: int = 80) -> str:
    return "\n".join(textwrap.wrap(title, width))


def plot_sobol(sobol: dict, title: str) -> Figure:
    """First-order (S1) and total (ST) indices per factor, sorted by ST, with 95% bootstrap whiskers."""
    names = sobol["ranking_by_ST"][::-1]
    factors = sobol["factors"]
    rows = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(names)))
    for offset, key, color in ((0.2, "ST", "tab:blue"), (-0.2, "S1", "tab:orange")):
        values = [factors[name][key] or 0.0 for name in names]
        errors = [factors[name][f"{key}_conf"] or 0.0 for name in names]
        ax.barh(rows + offset, values, height=0.38, xerr=errors, color=color, capsize=3,
                label="total (ST)" if key == "ST" else "first order (S1)")  # fmt: skip
    ax.set_yticks(rows, names)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("Sobol index (share of the outcome's variance); whiskers: 95% bootstrap interval")
    ax.set_title(wrap(f"Sobol indices: {title}"))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _short_names(names: list[str]) -> dict[str, str]:
    """Factor labels without their group prefix where that stays unambiguous."""
    tails = [name.rpartition(".")[2] for name in names]
    return {name: tail if tails.count(tail) == 1 else name for name, tail in zip(names, tails, strict=True)}


def _kind_legend(ax, kinds: dict[str, str]) -> None:
    from matplotlib.patches import Patch

    present = [kind for kind in KIND_COLORS if kind in kinds.values()]
    ax.legend(handles=[Patch(color=KIND_COLORS[k], label=KIND_NAMES[k]) for k in present], loc="lower right")


def _place_labels(ax, xs: np.ndarray, ys: np.ndarray, texts: list[str], fontsize: int = 8) -> None:
    """Annotate points, each label at the first of a few offsets where it overlaps no label placed before."""
    ax.figure.canvas.draw()
    placed: list[tuple[float, float, float, float]] = []
    offsets = [(4, 3), (4, -11), (-4, 3), (-4, -11), (4, 12), (4, -20), (-4, 12), (-4, -20), (10, -4), (-10, -4)]
    for x, y, text in zip(xs, ys, texts, strict=True):
        px, py = ax.transData.transform((x, y))
        width, height = 0.62 * fontsize * len(text) + 2, fontsize + 2
        for dx, dy in offsets:
            left = px + dx if dx > 0 else px + dx - width
            box = (left, py + dy, left + width, py + dy + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                    ha="left" if dx > 0 else "right")  # fmt: skip


def plot_morris_scatter(morris: dict, title: str, info: dict, kinds: dict[str, str]) -> Figure:
    """σ against μ* of the elementary effects; the top factors by μ* numbered as in a key beside the axes."""
    factors, ranking = morris["factors"], morris["ranking_by_mu_star"]
    labelled = ranking[:SCATTER_LABELS]
    unit = f" ({info['unit']} per factor range)" if info["unit"] else " (per factor range)"
    fig, ax = plt.subplots(figsize=(10.5, 6))
    mu_star = np.array([factors[name]["mu_star"] or 0.0 for name in ranking])
    sigma = np.array([factors[name]["sigma"] or 0.0 for name in ranking])
    ax.scatter(mu_star, sigma, c=[KIND_COLORS.get(kinds.get(name), "gray") for name in ranking], zorder=3)
    top = max(mu_star.max(initial=0.0), sigma.max(initial=0.0)) or 1.0
    ax.plot([0, top], [0, top], color="gray", linestyle=":", linewidth=0.8)
    ax.set_xlim(0, 1.08 * top)
    ax.set_ylim(0, 1.08 * top)
    ax.set_xlabel("μ*, mean |elementary effect|" + unit)
    ax.set_ylabel("σ, standard deviation of the elementary effects" + unit)
    _place_labels(ax, mu_star[: len(labelled)], sigma[: len(labelled)], [str(i + 1) for i in range(len(labelled))])
    key = "\n".join(f"{i + 1:>2}. {name}" for i, name in enumerate(labelled))
    rest = len(ranking) - len(labelled)
    if rest > 0:
        key += f"\n\n{rest} more, with smaller μ*:\nsee the Morris ranking"
    key += "\n\ndotted: σ = μ*"
    ax.text(1.02, 1.0, key, transform=ax.transAxes, va="top", ha="left", fontsize=8, family="monospace")
    ax.set_title(wrap(f"Morris screening: {title}"))
    _kind_legend(ax, kinds)
    fig.tight_layout()
    return fig


def plot_morris_ranking(morris: dict, title: str, info: dict, kinds: dict[str, str]) -> Figure:
    """Every factor's μ* with its 95% bootstrap whisker, largest first, coloured lever or uncertainty."""
    factors, ranking = morris["factors"], morris["ranking_by_mu_star"]
    names = ranking[::-1]
    rows = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8.5, 1.4 + 0.36 * len(names)))
    mu_star = [factors[n]["mu_star"] or 0.0 for n in names]
    conf = [factors[n]["mu_star_conf"] or 0.0 for n in names]
    colors = [KIND_COLORS.get(kinds.get(n), "gray") for n in names]
    ax.barh(rows, mu_star, xerr=conf, color=colors, capsize=3)
    ax.set_yticks(rows, names, fontsize=8)
    unit = f"{info['unit']} per factor range" if info["unit"] else "per factor range"
    ax.set_xlabel(f"μ*, mean |elementary effect| ({unit}); whiskers: 95% bootstrap interval")
    ax.set_xlim(left=0)
    ax.set_title(wrap(f"Morris ranking: {title}"))
    _kind_legend(ax, kinds)
    fig.tight_layout()
    return fig


def plot_grid(grid: dict, title: str, info: dict, paired: bool) -> Figure:
    """A heatmap of the mean outcome over two grid factors, or a line over one; the title names what was averaged."""
    names = grid["factors"]
    averaged = ", ".join(grid["averaged_over"]) if grid["averaged_over"] else "nothing (no other factors)"
    full = f"{title}; mean over replicates, averaged over: {averaged}"
    unit = info["unit"]
    if len(names) == 1:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        levels = grid["levels"][names[0]]
        values = [np.nan if v is None else v for v in grid["mean"]]
        ax.plot(levels, values, marker="o")
        if paired:
            ax.axhline(0, color="gray", linewidth=0.8)
        ax.set_xlabel(names[0])
        ax.set_ylabel(f"mean over replicates{f' ({unit})' if unit else ''}")
        ax.set_title(wrap(full, 70))
        fig.tight_layout()
        return fig
    table = np.array([[np.nan if v is None else v for v in row] for row in grid["mean"]], dtype=float)
    rows, columns = grid["levels"][names[0]], grid["levels"][names[1]]
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * len(rows), 1.8 + 0.6 * len(columns)))
    finite = table[np.isfinite(table)]
    norm, cmap = None, "viridis"
    if paired and finite.size and finite.min() < 0 < finite.max():
        norm, cmap = TwoSlopeNorm(vcenter=0.0, vmin=finite.min(), vmax=finite.max()), "RdBu"
    image = ax.imshow(table.T, origin="lower", aspect="auto", cmap=cmap, norm=norm)
    ax.set_xticks(range(len(rows)), [f"{v:g}" for v in rows])
    ax.set_yticks(range(len(columns)), [f"{v:g}" for v in columns])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    if len(rows) * len(columns) <= 144 and finite.size:
        middle = (finite.min() + finite.max()) / 2
        for i in range(len(rows)):
            for j in range(len(columns)):
                if np.isfinite(table[i, j]):
                    ax.text(i, j, f"{table[i, j]:.3g}", ha="center", va="center", fontsize=7,
                            color="white" if cmap == "viridis" and table[i, j] < middle else "black")  # fmt: skip
    fig.colorbar(image, ax=ax, label=f"mean over replicates{f' ({unit})' if unit else ''}")
    ax.set_title(wrap(full, 60), fontsize=10)
    fig.tight_layout()
    return fig


def plot_partial_dependence(pd_result: dict, x: pd.DataFrame, y: pd.Series, title: str, info: dict) -> Figure:
    """One panel per factor: every point faint, the binned means as a line."""
    names = list(x.columns)
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows + 0.8), sharey=True, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        ax.scatter(x[name], y, s=6, alpha=0.2, color="gray")
        bins = pd_result["factors"][name]["bins"]
        ax.plot([b["x_mean"] for b in bins], [b["mean"] for b in bins], marker="o", color="tab:blue")
        ax.set_xlabel(name, fontsize=9)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(info["unit"] or "value")
    fig.suptitle(wrap(f"Partial dependence: {title}; line: binned means, dots: design points", 100), fontsize=10)
    fig.tight_layout()
    return fig
