"""The forecast's effect among the sanctioned and among those who only learned (``forecast.json``).

Each paired replicate compares the same citizens in both arms
(``SCSEngine.citizen_outcomes`` at the horizon), so a group is a fixed set of
citizens and its effect is a contrast of their potential outcomes, not of two
differently composed groups:

* ``sanctioned``: listed at some time since t = 0 in the shift arm;
* ``never_sanctioned``: listed in neither arm;
* ``learned_only``: never sanctioned, and knowing of punitive uses (≥ 0.5) at
  the horizon in the shift arm but not in the baseline arm.

Listing draws do not depend on the perception channels, so the groups are the
same in every channel variant of a replicate.
"""

from __future__ import annotations

import numpy as np

from experiments.forecast_stats import without_replicates
from sim.model import APPROVES, EVER_LISTED, KNOWS_PUNITIVE_USES

GROUP_NAMES = ("sanctioned", "never_sanctioned", "learned_only")


def group_masks(base: np.ndarray, shift: np.ndarray) -> dict[str, np.ndarray]:
    """The groups of one replicate's citizens, from both arms' outcome codes."""
    never = ((base | shift) & EVER_LISTED) == 0
    learned = ((shift & KNOWS_PUNITIVE_USES) != 0) & ((base & KNOWS_PUNITIVE_USES) == 0)
    return {
        "sanctioned": (shift & EVER_LISTED) != 0,
        "never_sanctioned": never,
        "learned_only": never & learned,
    }


def group_effects(
    base: np.ndarray, shift: np.ndarray, groups_from: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per replicate (rows of ``base`` and ``shift``): each group's effect on the share approving (pp) and size.

    The groups are found from ``groups_from`` (the pair with every channel on, so that a channel
    variant is compared on the same citizens), by default from ``base`` and ``shift`` themselves.
    A replicate whose group is empty has NaN for that group.
    """
    found_base, found_shift = groups_from if groups_from is not None else (base, shift)
    effects = {name: np.full(len(base), np.nan) for name in GROUP_NAMES}
    shares = {name: np.zeros(len(base)) for name in GROUP_NAMES}
    for r, (before, after) in enumerate(zip(base, shift, strict=True)):
        approves_before, approves_after = (before & APPROVES) != 0, (after & APPROVES) != 0
        for name, mask in group_masks(found_base[r], found_shift[r]).items():
            shares[name][r] = mask.mean()
            if mask.any():
                effects[name][r] = 100 * (approves_after[mask].mean() - approves_before[mask].mean())
    return effects, shares


def summarise_groups(base: np.ndarray, shift: np.ndarray, summary) -> dict[str, dict[str, object]]:
    """Each group's effect (``summary``: ``experiments.forecast.uncertainty_summary`` on its defined replicates)."""
    effects, shares = group_effects(base, shift)
    out: dict[str, dict[str, object]] = {}
    for name in GROUP_NAMES:
        defined = effects[name][np.isfinite(effects[name])]
        entry: dict[str, object] = {"share_of_citizens": float(shares[name].mean()),
                                    "replicates_defined": int(defined.size)}  # fmt: skip
        if defined.size:
            entry |= without_replicates(summary(defined))
        out[name] = entry
    return out


def contributions_by_group(
    total: tuple[np.ndarray, np.ndarray], without: tuple[np.ndarray, np.ndarray], summary
) -> dict[str, dict[str, object] | None]:
    """A channel's contribution within each group: the group's effect minus its effect with the channel off."""
    with_channel, _ = group_effects(*total)
    off, _ = group_effects(*without, groups_from=total)
    out: dict[str, dict[str, object] | None] = {}
    for name in GROUP_NAMES:
        difference = with_channel[name] - off[name]
        defined = difference[np.isfinite(difference)]
        out[name] = without_replicates(summary(defined)) if defined.size else None
    return out
