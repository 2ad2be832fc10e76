"""Sampling design of the survey: quota cells, raking weights, design effect, age.

The paper sampled by quotas on age × gender × region (Section 3.1, Table A1)
and weighted "by age, gender, and region with the maximum weight of 2.0"; older
respondents from the West got the full 2.0 (footnote 7). Its margin of error of
2.22% at N = 2,209 implies a Kish design effect of about 1.13.

The unweighted joint distribution of the 18 design cells is not published,
only its three margins (Table A2, unweighted column). We build it by iterative
proportional fitting from a seed table that encodes what footnote 7 says about
the fieldwork: older Western respondents were hard to reach (factor
``old_west_deficit`` < 1), and the gender quota was dropped for them so they
are mostly men (factor ``old_west_female_deficit`` < 1). Both factors are
documented assumptions (0.5): raking weights depend only on the margins, so
they barely move the design effect.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from calibration import ConvergenceWarning, paper

AGE_GROUPS = (1, 2, 3)  # 14–30, 31–50, 51+ (Table A2)
AGE_GROUP_BOUNDS = {1: (14, 30), 2: (31, 50), 3: (51, 65)}
GENDERS = (0, 1)  # female, male
REGIONS = (1, 2, 3)  # West, Central, East

# z for a 95% interval, as in the paper's margin of error.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class DesignMargins:
    """Shares of the three design variables (each a length-3/2/3 array summing to 1)."""

    age_group: np.ndarray
    male: np.ndarray
    region: np.ndarray


def cell_index(age_group: np.ndarray, male: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Flat index 0..17 of the age × gender × region cell."""
    return (np.asarray(age_group) - 1) * 6 + np.asarray(male) * 3 + (np.asarray(region) - 1)


def ipf(seed: np.ndarray, margins: DesignMargins, iterations: int = 200) -> np.ndarray:
    """Fit a 3×2×3 table to three one-way margins by iterative proportional fitting."""
    table = np.asarray(seed, dtype=float).copy()
    for _ in range(iterations):
        table *= (margins.age_group / table.sum(axis=(1, 2)))[:, None, None]
        table *= (margins.male / table.sum(axis=(0, 2)))[None, :, None]
        table *= (margins.region / table.sum(axis=(0, 1)))[None, None, :]
    return table / table.sum()


def unweighted_cell_shares(
    margins: DesignMargins, old_west_deficit: float, old_west_female_deficit: float
) -> np.ndarray:
    """Unweighted joint shares of the 18 design cells (footnote 7 seed + IPF)."""
    seed = np.ones((3, 2, 3))
    # 51+ in the West were hard to reach; the gender quota was dropped for
    # older Western respondents and more men were taken (footnote 7).
    seed[2, :, 0] *= old_west_deficit
    seed[2, 0, 0] *= old_west_female_deficit
    return ipf(seed, margins)


@dataclass(frozen=True)
class Raking:
    """Raking weights and how the iteration ended.

    Attributes:
        weights: One weight per respondent, mean 1, at most the cap.
        converged: Whether the weights reached a fixed point: the last pass
            changed no cell weight by more than ``tolerance``.
        last_change: Largest change of a cell weight in the last pass.
        margin_gap: Largest absolute gap between a weighted margin and its
            target. Capping can leave it above zero at a fixed point.
        iterations: Passes run.
    """

    weights: np.ndarray
    converged: bool
    last_change: float
    margin_gap: float
    iterations: int


FIXED_POINT = 1e-12  # raking stops once no cell weight moves by more than this


def rake(
    age_group: np.ndarray,
    male: np.ndarray,
    region: np.ndarray,
    targets: DesignMargins,
    cap: float | None = None,
    iterations: int = 2000,
    base_weight: np.ndarray | None = None,
    tolerance: float = 1e-9,
) -> Raking:
    """Raking weights to the three target margins, capped, normalised to mean 1.

    Capping follows the paper ("maximum weight of 2.0", Section 3.1): after each
    raking pass the weights are rescaled to mean 1 and clipped at ``cap``.
    Passes continue until no cell weight moves by more than 1e-12 (a fixed point
    to rounding), at most ``iterations`` of them. When the cap binds on a cell
    of a handful of respondents this takes a few hundred passes instead of a
    few dozen. A ``ConvergenceWarning`` says when the weights still moved by
    more than ``tolerance`` at the end.

    Args:
        age_group, male, region: Design variables of each respondent.
        targets: Target shares (Table A2, weighted column).
        cap: Maximum weight; default the paper's (``usage_facts.csv``, ``max_weight``).
        iterations: Most raking passes.
        base_weight: Optional starting weights (e.g. cell counts); default ones.
        tolerance: Largest change of a cell weight in the last pass that still
            counts as converged.

    Returns:
        The weights (mean 1, maximum ``cap``) and the state of the iteration.
    """
    cap = paper.max_weight() if cap is None else cap
    cells = cell_index(age_group, male, region)
    counts = np.bincount(cells, weights=base_weight, minlength=18).reshape(3, 2, 3)
    cell_weight = np.where(counts > 0, 1.0, 0.0)
    n = counts.sum()
    margins = ((0, targets.age_group), (1, targets.male), (2, targets.region))
    last_change = np.inf
    passes = 0
    while passes < iterations and last_change > FIXED_POINT:
        passes += 1
        previous = cell_weight
        for axis, target in margins:
            other = tuple(a for a in range(3) if a != axis)
            current = (counts * cell_weight).sum(axis=other) / n
            factor = np.divide(target, current, out=np.ones_like(target), where=current > 0)
            shape = [1, 1, 1]
            shape[axis] = -1
            cell_weight = cell_weight * factor.reshape(shape)
        cell_weight /= (counts * cell_weight).sum() / n
        cell_weight = np.minimum(cell_weight, cap)
        last_change = float(np.max(np.abs(cell_weight - previous)))
    total = (counts * cell_weight).sum()
    margin_gap = 0.0
    for axis, target in margins:
        other = tuple(a for a in range(3) if a != axis)
        achieved = (counts * cell_weight).sum(axis=other) / total
        margin_gap = max(margin_gap, float(np.max(np.abs(achieved - target))))
    converged = last_change <= tolerance
    if not converged:
        warnings.warn(
            f"raking: weights still changing by {last_change:.2g} after {passes} passes (tolerance "
            f"{tolerance:g}); largest gap to a target margin {margin_gap:.2g}",
            ConvergenceWarning,
            stacklevel=2,
        )
    return Raking(cell_weight.reshape(-1)[cells], converged, last_change, margin_gap, passes)


def kish_design_effect(weights: np.ndarray) -> float:
    """Kish's design effect due to unequal weights: n Σw² / (Σw)²."""
    w = np.asarray(weights, dtype=float)
    return float(w.size * np.sum(w**2) / np.sum(w) ** 2)


def margin_of_error(weights: np.ndarray, n: int | None = None, p: float = 0.5) -> float:
    """95% margin of error (in percent) of a proportion p, inflated by the design effect.

    Args:
        weights: Survey weights.
        n: Sample size the margin refers to (defaults to len(weights)); the paper's
            2.22% refers to n = 2,209.
        p: Proportion; 0.5 gives the conservative margin that surveys report.
    """
    n = len(weights) if n is None else n
    return 100.0 * Z95 * float(np.sqrt(kish_design_effect(weights) * p * (1 - p) / n))


def age_pmf(group: int, tilt: float) -> tuple[np.ndarray, np.ndarray]:
    """Ages and probabilities within an age group under an exponential tilt."""
    low, high = AGE_GROUP_BOUNDS[group]
    ages = np.arange(low, high + 1)
    logits = tilt * (ages - ages.mean()) / (high - low)
    probs = np.exp(logits - logits.max())
    return ages, probs / probs.sum()


def age_moments(group_shares: np.ndarray, tilts: np.ndarray) -> tuple[float, float]:
    """Mean and SD of age in years for given group shares and within-group tilts."""
    mean = 0.0
    second = 0.0
    for share, group, tilt in zip(group_shares, AGE_GROUPS, tilts, strict=True):
        ages, probs = age_pmf(group, tilt)
        mean += share * float(probs @ ages)
        second += share * float(probs @ ages**2)
    return mean, float(np.sqrt(second - mean**2))


def draw_age(rng: np.random.Generator, age_group: np.ndarray, tilts: np.ndarray) -> np.ndarray:
    """Draw age in years within each respondent's age group."""
    age = np.empty(len(age_group), dtype=np.int16)
    for group, tilt in zip(AGE_GROUPS, tilts, strict=True):
        mask = age_group == group
        ages, probs = age_pmf(group, tilt)
        age[mask] = rng.choice(ages, size=int(mask.sum()), p=probs)
    return age
