"""P(no disadvantage in the recall window) along simulated score paths, for the baseline's root search,
and the t = 0 hazards and timers the baseline sets from the calibrated scales.

Kept apart from ``sim.baseline`` (which calls it ~30 times per class at set-up)
because it tabulates: see ``no_disadvantage_in_window``. The t = 0 hazards are
looked up per class and combination, never held as (types × citizens) arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.params import ADVANTAGE_TYPES, PolicyLevers
from sim.policy import LOW_SCORE_DISADVANTAGE_BOOST, advantage_hazard, latent_eligibility
from sim.scores import SESAME_EDGES, score_at_least
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


def combination_codes(state: CitizenState, levers: PolicyLevers, latent: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Each citizen's benefit combination (eligible types as bits, urban residence above them) into ``out``."""
    types = len(ADVANTAGE_TYPES)
    out.fill(0)
    for bit, eligible in enumerate(latent_eligibility(state, levers, latent)):
        out |= eligible.astype(out.dtype) << bit
    out |= (state.covariates["urban"] == 1).astype(out.dtype) << types
    return out


def current_advantage_hazard(
    state: CitizenState, levers: PolicyLevers, latent: np.ndarray, scale: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """``advantage_hazard(benefit_probabilities(state, levers), scale)`` to the last bit.

    Looked up per (scale value, benefit combination): saves the (types × citizens) weights
    and their cache (56 B a citizen each) and the hazard's (types × citizens) temporaries.
    """
    codes = combination_codes(state, levers, latent, np.empty(state.n, dtype=np.uint8))
    values, classes = np.unique(scale, return_inverse=True)
    # advantage_hazard of a per-citizen scale multiplies each citizen's own scale and weights: the same bits.
    table = np.array([advantage_hazard(weights, value) for value in values]).ravel()
    classes *= weights.shape[1]
    classes += codes
    return np.take(table, classes)


def current_disadvantage_hazard(
    state: CitizenState, levers: PolicyLevers, latent: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """``disadvantage_hazard(state, levers, scale)`` to the last bit, looked up per (scale value, user, low
    score): saves its score and four float temporaries (~40 B a citizen)."""
    values, classes = np.unique(scale, return_inverse=True)
    flags = np.array([False, True])
    # disadvantage_weight's product, in its order, for each (user, low score).
    weight = (1 + LOW_SCORE_DISADVANTAGE_BOOST * flags[None, :]) * levers.disadvantage_intensity * flags[:, None]
    table = np.minimum(values[:, None, None] * weight[None], 1.0).ravel()
    classes *= 4
    classes += state.sesame_or_tencent * 2
    classes += score_at_least(latent, levers.disadvantage_threshold, state.sesame.band_shares, SESAME_EDGES, below=True)
    hazard = np.take(table, classes)
    hazard[state.listed] = 1.0
    return hazard


def initial_months_since(rng: np.random.Generator, had: np.ndarray, hazard: np.ndarray, recall: int) -> np.ndarray:
    """Months since the last experience, drawn from the stationary law given the hazard."""
    # The same operations as one expression, in place: saves about five float temporaries (40 B a citizen).
    hazard = np.clip(hazard, 1e-9, 1.0, out=hazard)
    u = rng.random(had.size)
    # Truncated geometric on 0..recall−1 for those who had it within the window.
    survive = (1 - hazard) ** recall
    np.subtract(1, survive, out=survive)
    np.negative(u, out=u)
    np.multiply(u, survive, out=u)
    np.log1p(u, out=u)
    np.negative(hazard, out=survive)
    np.add(survive, 1e-15, out=survive)
    np.log1p(survive, out=survive)
    np.divide(u, survive, out=u)
    del survive, hazard
    within = np.floor(u, out=u)
    np.clip(within, 0, recall - 1, out=within)
    # int16: months since grow by one a month from below 2 × recall (≤ 120), exact for over 2,500 years (saves 2 B).
    months = (recall + rng.integers(0, recall, size=had.size)).astype(np.int16)
    np.copyto(months, within, where=had, casting="unsafe")
    return months
