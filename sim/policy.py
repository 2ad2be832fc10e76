"""Policy stage: commercial benefits and disadvantages, red- and blacklists, sanctions, coverage.

Pure, vectorised functions of (state, levers, dynamics, rng). Monthly base
rates of the seven benefit types are assumptions; only their ratios matter,
because their overall level is calibrated (``sim.baseline``) so that, with no
policy change, the t = 0 shares of Table A2 are held.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from sim.params import ADVANTAGE_TYPES, DynamicsParams, PolicyLevers
from sim.scores import SESAME_EDGES, to_score
from sim.state import CitizenState

# Relative monthly frequency of each benefit type among eligible users
# (assumption: everyday benefits such as deposit-free rentals and credit are
# used far more often than visas or dating). Only the ratios matter: the level
# is calibrated.
BENEFIT_FREQUENCY = {
    "credit": 1.0, "loan_rate": 0.4, "savings_rate": 0.4, "visa": 0.05,
    "deposit_free": 1.0, "checkin": 0.3, "dating": 0.05,
}  # fmt: skip
# Benefits a sanction blocks: credit restrictions block credit products, travel
# bans block fast-tracked check-ins and visas (the blacklist sanctions in Section 2.1).
BLOCKED_BY_TRAVEL_BAN = ("checkin", "visa")
BLOCKED_BY_CREDIT_RESTRICTION = ("credit", "loan_rate")
TRAVEL_BAN_ROWS = [ADVANTAGE_TYPES.index(name) for name in BLOCKED_BY_TRAVEL_BAN]
CREDIT_RESTRICTION_ROWS = [ADVANTAGE_TYPES.index(name) for name in BLOCKED_BY_CREDIT_RESTRICTION]
LOW_SCORE_DISADVANTAGE_BOOST = 3.0  # assumption: low scorers meet disadvantages 4× as often
REDLIST_MONTHS = 12  # assumption
TOP_SCORE_QUANTILE = 0.9  # redlists reward the top decile of pilot scores
# Score latents are standard normal in every month (sim.scores), so the top
# decile starts at Φ⁻¹(0.9) without sorting anyone.
TOP_SCORE_LATENT = float(ndtri(TOP_SCORE_QUANTILE))


@dataclass
class Baseline:
    """Rates calibrated at t = 0 so that the baseline is stationary (``sim.baseline``)."""

    advantage_scale: np.ndarray  # per citizen
    disadvantage_scale: np.ndarray  # per citizen
    awareness_rate: float


def equivalent_score(state: CitizenState, latent: np.ndarray | None = None) -> np.ndarray:
    """Each citizen's best score on the Sesame scale (same quantile of their own system)."""
    latent = state.best_latent() if latent is None else latent
    return to_score(latent, state.sesame.band_shares, SESAME_EDGES)


def benefit_probabilities(
    state: CitizenState, levers: PolicyLevers, latent: np.ndarray | None = None, *, score: np.ndarray | None = None
) -> np.ndarray:
    """Unscaled monthly probability weight of each benefit type (eligibility × availability × frequency).

    Args:
        state: The citizens.
        levers: Thresholds, availability and generosity.
        latent: Best-score latents to use instead of the current ones (calibration paths).
        score: Their ``equivalent_score``, if already computed (then ``latent`` is not read).

    Returns:
        Array (benefit types × citizens), rows in the order of ``ADVANTAGE_TYPES``.
    """
    score = equivalent_score(state, latent) if score is None else score
    return benefit_eligibility(state, levers, score) * _place_weights(state, levers)


def benefit_eligibility(state: CitizenState, levers: PolicyLevers, score: np.ndarray) -> np.ndarray:
    """Which benefit types each citizen can receive (types × citizens): a user above the
    threshold whom no sanction blocks from it."""
    listed = state.listed
    thresholds = np.array([getattr(levers, f"threshold_{name}") for name in ADVANTAGE_TYPES])
    eligible = state.sesame_or_tencent & (score >= thresholds[:, None])
    eligible[TRAVEL_BAN_ROWS] &= ~(listed & (state.sanctions >= 1))
    eligible[CREDIT_RESTRICTION_ROWS] &= ~(listed & (state.sanctions >= 2))
    return eligible


def place_rates(levers: PolicyLevers) -> np.ndarray:
    """Availability × frequency × generosity of each benefit type (types × [rural, urban])."""
    # Multiplied in the order eligibility × availability × frequency × generosity always was.
    return np.array(
        [
            [getattr(levers, f"{place}_{name}") * BENEFIT_FREQUENCY[name] * levers.benefit_generosity
             for place in ("rural", "urban")]
            for name in ADVANTAGE_TYPES
        ]
    )  # fmt: skip


def _place_weights(state: CitizenState, levers: PolicyLevers) -> np.ndarray:
    """``place_rates`` where each citizen lives (types × citizens)."""
    rates = place_rates(levers)
    # Levers change only at scheduled months: the (types × citizens) array is
    # rebuilt then, not every month and every calibration path.
    cached = state.group_cache.get("place_weights")
    if cached is None or not np.array_equal(cached[0], rates):
        cached = (rates, rates[:, (state.covariates["urban"] == 1).astype(np.int64)])
        state.group_cache["place_weights"] = cached
    return cached[1]


def _benefit_chances(state: CitizenState, levers: PolicyLevers, scale: np.ndarray) -> np.ndarray:
    """min(scale × ``_place_weights``, 1): each type's monthly chance for an eligible citizen (types × citizens)."""
    weights = _place_weights(state, levers)
    # The scales are fixed once calibrated and the weights change only with the
    # levers: the capped product is kept for as long as both are the same arrays.
    cached = state.group_cache.get("benefit_chances")
    if cached is None or cached[0] is not weights or cached[1] is not scale:
        cached = (weights, scale, np.minimum(scale * weights, 1.0))
        state.group_cache["benefit_chances"] = cached
    return cached[2]


def advantage_hazard(weights: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """P(at least one benefit this month) given per-type weights (types × citizens) and the citizen's scale."""
    # The product over types runs row by row, in the order the types were always multiplied.
    return 1 - np.prod(1 - np.minimum(scale * weights, 1.0), axis=0)


def disadvantage_weight(
    state: CitizenState, levers: PolicyLevers, latent: np.ndarray | None = None, *, score: np.ndarray | None = None
) -> np.ndarray:
    """Unscaled monthly weight of a commercial disadvantage (Sesame/Tencent users); ``score`` as in
    ``benefit_probabilities``."""
    score = equivalent_score(state, latent) if score is None else score
    low = score < levers.disadvantage_threshold
    return (1 + LOW_SCORE_DISADVANTAGE_BOOST * low) * levers.disadvantage_intensity * state.sesame_or_tencent


def disadvantage_hazard(
    state: CitizenState,
    levers: PolicyLevers,
    scale: np.ndarray,
    latent: np.ndarray | None = None,
    *,
    score: np.ndarray | None = None,
) -> np.ndarray:
    """P(a disadvantage this month): commercial ones for Sesame/Tencent users, and
    certainly for anyone on a blacklist (travel bans and credit restrictions are
    the disadvantages the survey asked about); ``score`` as in ``benefit_probabilities``."""
    weight = disadvantage_weight(state, levers, latent, score=score)
    return np.where(state.listed, 1.0, np.minimum(scale * weight, 1.0))


@dataclass
class PolicyEvents:
    """What happened to whom this month."""

    newly_listed: np.ndarray
    newly_wrongly_listed: np.ndarray
    advantage: np.ndarray
    disadvantage: np.ndarray
    benefits: dict[str, np.ndarray]
    best_latent: np.ndarray | None = None  # this month's ``state.best_latent()``, if computed


def step_policy(
    state: CitizenState,
    levers: PolicyLevers,
    dynamics: DynamicsParams,
    baseline: Baseline,
    defaulted: np.ndarray,
    rng: np.random.Generator,
) -> PolicyEvents:
    """One month of benefits, disadvantages, listings, sanctions and coverage (updates ``state``)."""
    n = state.n
    if levers.pilot_coverage is not None:
        state.resident = state.pilot_order < levers.pilot_coverage
    # Lists: ageing, delisting, new listings (conduct-triggered and wrongful).
    state.listed_months_left = np.maximum(state.listed_months_left - 1, 0)
    state.wrongly_listed &= state.listed
    eligible = state.resident & ~state.listed
    u = rng.random(n)
    conduct = eligible & defaulted & (u < levers.blacklist_rate)
    wrongful = eligible & ~defaulted & (u < levers.false_positive_rate)
    newly_listed = conduct | wrongful
    state.listed_months_left[newly_listed] = levers.delisting_months
    state.wrongly_listed |= wrongful
    state.sanctions = np.where(state.listed, levers.sanction_breadth, 0).astype(np.int8)
    # Redlists reward the top decile of pilot scores.
    state.redlisted_months_left = np.maximum(state.redlisted_months_left - 1, 0)
    top = state.pilot.latent() >= TOP_SCORE_LATENT
    new_red = state.resident & top & ~state.listed & (state.redlisted_months_left == 0)
    new_red &= rng.random(n) < levers.redlist_rate
    state.redlisted_months_left[new_red] = REDLIST_MONTHS
    state.redlisted_months_left[state.listed] = 0
    # Commercial benefits by type, and any advantage (including a redlist reward).
    latent = state.best_latent()
    # One quantile map serves benefits and disadvantages (it was computed for each).
    score = equivalent_score(state, latent)
    eligible_for = benefit_eligibility(state, levers, score)
    draws = rng.random((len(ADVANTAGE_TYPES), n))
    # draws < min(scale × benefit_probabilities, 1), with the monthly part (eligibility)
    # kept apart from the chances, which change only with the levers (saves ~35 µs a
    # month): an ineligible citizen's chance is 0, and no draw in [0, 1) lies below it.
    received = eligible_for & (draws < _benefit_chances(state, levers, baseline.advantage_scale))
    advantage = received.any(axis=0) | (state.redlisted_months_left > 0)
    disadvantage = rng.random(n) < disadvantage_hazard(state, levers, baseline.disadvantage_scale, score=score)
    state.benefits_this_month = received
    benefits = dict(zip(ADVANTAGE_TYPES, received, strict=True))
    return PolicyEvents(newly_listed, wrongful, advantage, disadvantage, benefits, latent)
