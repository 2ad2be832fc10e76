"""P(no disadvantage in the recall window) along simulated score paths, for the baseline's root search.

Kept apart from ``sim.baseline`` (which calls it ~30 times per class at set-up)
because it tabulates: see ``no_disadvantage_in_window``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.params import PolicyLevers
from sim.policy import LOW_SCORE_DISADVANTAGE_BOOST
from sim.state import CitizenState

# Up to this recall window, the unlisted's products over the window are tabulated per pattern of low scores.
PATTERN_MONTHS = 16


def no_disadvantage_in_window(
    state: CitizenState, levers: PolicyLevers, low: np.ndarray, unlisted: np.ndarray, citizens: np.ndarray | slice
) -> Callable[[float], np.ndarray]:
    """P(no disadvantage in the window) of these citizens as a function of the rate scale.

    The product unlisted × Π (1 − min(scale × weight, 1)) over the months, in their
    order. A weight takes one value per (user, low score): the factors are looked up,
    and for the unlisted (unlisted = 1.0, whose product 1.0 × f₁ × f₂ ... depends only
    on the pattern of low scores) the whole product is, once per pattern (~4 ms
    instead of ~45 ms per evaluation at a million citizens; the root search makes ~30).
    """
    months = low.shape[0]
    user = state.sesame_or_tencent[citizens]
    flags = np.array([False, True])
    # disadvantage_weight's product, in its order, for each (user, low score).
    weight = (
        (1 + LOW_SCORE_DISADVANTAGE_BOOST * flags[None, :]) * levers.disadvantage_intensity * flags[:, None]
    ).ravel()
    tabulated = (unlisted == 1.0) if months <= PATTERN_MONTHS else np.zeros(unlisted.size, dtype=bool)
    sequential = np.flatnonzero(~tabulated)
    # One byte per month and citizen, not an intp (saves 7 B per month and sequential citizen).
    month_codes = low[:, sequential].astype(np.uint8)
    month_codes += (user[sequential] * 2).astype(np.uint8)
    start = unlisted[sequential]
    tabulated = np.flatnonzero(tabulated)
    bits = np.arange(months)
    # Built a month at a time in int32 (months ≤ 16): saves the (citizens × months) intp temporaries, 96 B a citizen.
    patterns = user[tabulated].astype(np.int32) << months
    for month in range(months):
        patterns |= low[month, tabulated].astype(np.int32) << month
    all_patterns = np.arange(2 ** (months + 1) if tabulated.size else 0)
    pattern_codes = ((all_patterns >> months) * 2)[None, :] + ((all_patterns[None, :] >> bits[:, None]) & 1)

    def none_given_scale(scale: float) -> np.ndarray:
        factors = 1 - np.minimum(scale * weight, 1.0)
        none = np.empty(unlisted.size)
        product = start
        for codes in month_codes:
            product = product * factors[codes]
        none[sequential] = product
        by_pattern = np.ones(all_patterns.size)
        for codes in pattern_codes:
            by_pattern = by_pattern * factors[codes]
        none[tabulated] = by_pattern[patterns]
        return none

    return none_given_scale
