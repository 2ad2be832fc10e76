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
    state: CitizenState, levers: PolicyLevers, latent: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Unscaled monthly probability weight of each benefit type (eligibility × availability × frequency)."""
    score = equivalent_score(state, latent)
    urban = state.covariates["urban"] == 1
    listed = state.listed
    out = {}
    for name in ADVANTAGE_TYPES:
        eligible = state.sesame_or_tencent & (score >= getattr(levers, f"threshold_{name}"))
        available = np.where(urban, getattr(levers, f"urban_{name}"), getattr(levers, f"rural_{name}"))
        weight = eligible * available * BENEFIT_FREQUENCY[name] * levers.benefit_generosity
        if name in BLOCKED_BY_TRAVEL_BAN:
            weight = np.where(listed & (state.sanctions >= 1), 0.0, weight)
        if name in BLOCKED_BY_CREDIT_RESTRICTION:
            weight = np.where(listed & (state.sanctions >= 2), 0.0, weight)
        out[name] = weight
    return out


def advantage_hazard(weights: dict[str, np.ndarray], scale: np.ndarray) -> np.ndarray:
    """P(at least one benefit this month) given per-type weights and the citizen's scale."""
    none = np.ones(np.broadcast(scale, next(iter(weights.values()))).shape)
    for weight in weights.values():
        none *= 1 - np.minimum(scale * weight, 1.0)
    return 1 - none


def disadvantage_weight(state: CitizenState, levers: PolicyLevers, latent: np.ndarray | None = None) -> np.ndarray:
    """Unscaled monthly weight of a commercial disadvantage (Sesame/Tencent users)."""
    low = equivalent_score(state, latent) < levers.disadvantage_threshold
    return (1 + LOW_SCORE_DISADVANTAGE_BOOST * low) * levers.disadvantage_intensity * state.sesame_or_tencent


def disadvantage_hazard(
    state: CitizenState, levers: PolicyLevers, scale: np.ndarray, latent: np.ndarray | None = None
) -> np.ndarray:
    """P(a disadvantage this month): commercial ones for Sesame/Tencent users, and
    certainly for anyone on a blacklist (travel bans and credit restrictions are
    the disadvantages the survey asked about)."""
    return np.where(state.listed, 1.0, np.minimum(scale * disadvantage_weight(state, levers, latent), 1.0))


@dataclass
class PolicyEvents:
    """What happened to whom this month."""

    newly_listed: np.ndarray
    newly_wrongly_listed: np.ndarray
    advantage: np.ndarray
    disadvantage: np.ndarray
    benefits: dict[str, np.ndarray]


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
    weights = benefit_probabilities(state, levers, latent)
    draws = rng.random((len(ADVANTAGE_TYPES), n))
    benefits = {
        name: draws[k] < np.minimum(baseline.advantage_scale * weights[name], 1.0)
        for k, name in enumerate(ADVANTAGE_TYPES)
    }
    advantage = np.logical_or.reduce(list(benefits.values())) | (state.redlisted_months_left > 0)
    disadvantage = rng.random(n) < disadvantage_hazard(state, levers, baseline.disadvantage_scale, latent)
    state.benefits_this_month = benefits
    return PolicyEvents(newly_listed, wrongful, advantage, disadvantage, benefits)
