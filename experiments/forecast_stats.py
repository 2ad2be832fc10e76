"""The forecast's statistics: paired effects, their uncertainty summary and the verdict."""

from __future__ import annotations

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_STREAM = 0xB0075  # entropy word that keeps the bootstrap's stream apart from the replicates'


def verdict(interval: tuple[float, float]) -> str:
    """'supported' if the interval lies below zero, 'contradicted' if above, else 'inconclusive'."""
    low, high = interval
    if high < 0:
        return "supported"
    if low > 0:
        return "contradicted"
    return "inconclusive"


def uncertainty_summary(effects: np.ndarray, seed: int) -> dict[str, object]:
    """Mean, uncertainty interval with its Monte Carlo error, and the mean's confidence interval."""
    effects = np.asarray(effects, dtype=float)
    replicates = effects.size
    low, high = np.percentile(effects, [2.5, 97.5])
    rng = np.random.default_rng(np.random.SeedSequence([BOOTSTRAP_STREAM, seed]))
    resamples = effects[rng.integers(0, replicates, size=(BOOTSTRAP_RESAMPLES, replicates))]
    ends = np.percentile(resamples, [2.5, 97.5], axis=1)
    sd = float(effects.std(ddof=1)) if replicates > 1 else 0.0
    mean_se = sd / np.sqrt(replicates)
    t = _t_quantile(replicates - 1)
    return {
        "effect_pp": float(effects.mean()),
        "uncertainty_interval": [float(low), float(high)],
        "uncertainty_interval_mc_se": [float(ends[0].std(ddof=1)), float(ends[1].std(ddof=1))],
        "mean_effect_se": float(mean_se),
        "mean_effect_ci95": [float(effects.mean() - t * mean_se), float(effects.mean() + t * mean_se)],
        "per_replicate": effects.tolist(),
    }


def without_replicates(summary: dict[str, object]) -> dict[str, object]:
    """An ``uncertainty_summary`` without its per-replicate effects (for figures reported beside the headline)."""
    return {key: value for key, value in summary.items() if key != "per_replicate"}


def _t_quantile(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, max(dof, 1)))


def verdict_settled(summary: dict[str, object]) -> bool:
    """Whether the verdict survives moving either end of the interval by two Monte Carlo standard errors."""
    (low, high), (se_low, se_high) = summary["uncertainty_interval"], summary["uncertainty_interval_mc_se"]
    current = verdict((low, high))
    for new_low in (low - 2 * se_low, low + 2 * se_low):
        for new_high in (high - 2 * se_high, high + 2 * se_high):
            if new_low <= new_high and verdict((new_low, new_high)) != current:
                return False
    return True


def paired_effect(base: np.ndarray, shift: np.ndarray, month: int, scale: float = 100.0) -> np.ndarray:
    """Per-replicate shift − baseline at one month (replicates × months arrays)."""
    return scale * (shift[:, month] - base[:, month])
