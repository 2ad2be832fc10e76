"""The paper's figures as calibration targets: light accessors, no fitting code.

Read by the runtime (``citizens``: the score-band shares) and by the offline
fits and reports alike. Every number comes from ``calibration/data`` through
``calibration.paper``; nothing is read at import time.
"""

from __future__ import annotations

import pandas as pd

from calibration import design, paper
from calibration.items import ADVANTAGE_COLUMNS

Targets = dict[str, dict[int, float]]

# A modelling choice, not a figure of the paper: the 1 pp by which A2's
# unweighted usage shares overlap more than "none" and "don't know" allow is
# taken off Sesame (see ``a2_targets``).
SESAME_UNWEIGHTED_ADJUSTMENT = 0.01


def share(fact: str) -> float:
    """A percentage quoted in the text (``usage_facts.csv``), as a fraction."""
    return paper.fact(fact) / 100


def design_effect_target() -> float:
    """Kish design effect implied by the paper's margin of error (2.22%) at its N (2,209), about 1.13."""
    return (paper.fact("margin_of_error") / 100 / design.Z95) ** 2 * paper.sample_size() / 0.25


def a2_targets(column: str, fitting: bool = False) -> Targets:
    """A2 shares by variable and code; single-choice items rescaled to sum to one.

    Also holds ``lives_in_pilot_locality`` (43%, Section 4), which Table A2 lacks.

    Args:
        column: ``"unweighted_pct"`` or ``"weighted_pct"``.
        fitting: Return the calibration targets, which differ from the printed
            table in one documented cell (unweighted Sesame use).
    """
    frame = paper.a2_marginals()
    targets: Targets = {}
    for variable, rows in frame.groupby("variable"):
        shares = rows.set_index("code")[column].astype(float) / 100
        if not variable.startswith(("uses_", "scs_", "gov_pilot")):
            shares = shares / shares.sum()
        targets[str(variable)] = {int(k): float(v) for k, v in shares.items()}
    targets["lives_in_pilot_locality"] = {1: share("lives_in_pilot_locality")}
    if fitting and column == "unweighted_pct":
        # A2's unweighted multi-select shares overlap about 1 pp more than its
        # "none" and "don't know" shares allow (the four systems' shares must fit
        # within 100% minus those two), and its weighted Sesame share (the text's
        # 58%) implies a weighted-unweighted gap no design variable can carry.
        # The overlap is taken off Sesame.
        targets["uses_sesame"] = {1: targets["uses_sesame"][1] - SESAME_UNWEIGHTED_ADJUSTMENT}
    return targets


def advantage_type_shares() -> dict[str, list[float]]:
    """Assumed (rural, urban) shares of each advantage type among users with any advantage.

    Raises:
        DataFileError: If ``assumptions_advantage_types.csv`` does not list
            exactly the engine's advantage types (``sim.params.ADVANTAGE_TYPES``
            as ``adv_*`` columns), or a share is not a probability.
    """
    table = paper.read_table("assumptions_advantage_types.csv", ("type", "rural_share", "urban_share"))
    path = paper.DATA_DIR / "assumptions_advantage_types.csv"
    listed = [str(t) for t in table["type"]]
    if sorted(listed) != sorted(ADVANTAGE_COLUMNS) or len(set(listed)) != len(listed):
        raise paper.DataFileError(
            f"{path}: column 'type' must list each of {', '.join(ADVANTAGE_COLUMNS)} exactly once, got {listed}"
        )
    shares = {}
    for row in table.itertuples():
        pair = [float(pd.to_numeric(value, errors="coerce")) for value in (row.rural_share, row.urban_share)]
        if not all(0.0 <= p <= 1.0 for p in pair):  # also rejects NaN
            raise paper.DataFileError(
                f"{path}: {row.type}: rural_share and urban_share must be numbers in [0, 1], got {pair}"
            )
        shares[str(row.type)] = pair
    return shares
