"""A sparse social network with homophily by region, urban residence and age.

Generator: citizens are grouped by region × urban/rural; inside each group they
are ordered by age (ties in age broken at random), and each citizen is linked
to ``degree`` others whose position in that order lies within ``2 × degree``
places of their own. Ties are therefore always within the same region and
location type and between people of similar age; they are directed (i names
j as a tie), which is all the relative-score and peer-fairness channels need.
Memory is one (n, degree) int32 array, so a million citizens are cheap.
"""

from __future__ import annotations

import numpy as np


def homophilous_ties(
    rng: np.random.Generator, region: np.ndarray, urban: np.ndarray, age: np.ndarray, degree: int
) -> np.ndarray:
    """Indices of each citizen's ties, shape (n, degree).

    Args:
        rng: Generator for the network.
        region, urban, age: Citizen attributes.
        degree: Ties per citizen (≥ 1).

    Returns:
        int32 array; a citizen alone in their group is tied to themself.
    """
    n = len(age)
    degree = int(degree)
    group = np.asarray(region, dtype=np.int64) * 2 + np.asarray(urban, dtype=np.int64)
    order = np.lexsort((rng.random(n), np.asarray(age), group))
    sorted_group = group[order]
    starts = np.searchsorted(sorted_group, sorted_group, side="left")
    ends = np.searchsorted(sorted_group, sorted_group, side="right")
    sizes = ends - starts
    position = np.arange(n) - starts
    window = 2 * degree
    offsets = rng.integers(1, window + 1, size=(n, degree)) * rng.choice([-1, 1], size=(n, degree))
    target = position[:, None] + offsets
    # Reflect at the group's edges so every tie stays inside the group.
    size = sizes[:, None]
    target = np.abs(target)
    target = np.where(target >= size, 2 * (size - 1) - target, target)
    target = np.clip(target, 0, size - 1)
    ties_sorted = order[starts[:, None] + target]
    ties = np.empty((n, degree), dtype=np.int32)
    ties[order] = ties_sorted
    return ties
