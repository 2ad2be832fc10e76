"""Policy stage: commercial benefits and disadvantages, red- and blacklists, sanctions, coverage.

Pure, vectorised functions of (state, levers, dynamics, rng). Monthly base
rates of the seven benefit types are assumptions; their overall level is not
free but calibrated (``calibrate_baseline``) so that, with no policy change,
the share of commercial users who received advantages within the recall window
stays at its t = 0 value (Table A2: 87.6%), and likewise for disadvantages
(25.1%). Blacklists, redlists and awareness start at their own steady state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtri

from sim.params import ADVANTAGE_TYPES, DynamicsParams, PolicyLevers, SimulationParams
from sim.scores import SESAME_EDGES, step_scores, to_score
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
    """Rates calibrated at t = 0 so that the baseline is stationary."""

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


def score_paths(state: CitizenState, params: SimulationParams, rng: np.random.Generator, months: int) -> list:
    """Future best-score latents under the baseline score dynamics (for calibration only)."""
    sesame, tencent = state.sesame, state.tencent
    paths = []
    for _ in range(months):
        shock = rng.standard_normal(state.n)
        sesame, _ = step_scores(sesame, params.scores, rng, shock)
        tencent, _ = step_scores(tencent, params.scores, rng, shock)
        paths.append(state.best_latent(sesame, tencent))
    return paths


def _solve_scale(none_given_scale: Callable[[float], np.ndarray], mask: np.ndarray, target: float) -> float:
    """Scale such that the mean share with an experience in the window, over ``mask``, is ``target``."""
    if not mask.any() or target <= 0:
        return 0.0

    def gap(log_scale: float) -> float:
        return float(1 - none_given_scale(np.exp(log_scale))[mask].mean()) - target

    if gap(12.0) < 0:  # unreachable target: as high as eligibility allows
        return float(np.exp(12.0))
    return float(np.exp(brentq(gap, -25.0, 12.0, xtol=1e-10)))


def _persistent_targets(share: float, persistence: float) -> tuple[float, float]:
    """Stationary probabilities for citizens with and without the experience at t = 0.

    Those who had it keep it with probability ``persistence``; the rate for the
    others follows from holding the overall share fixed.
    """
    low = share * (1 - persistence) / max(1 - share, 1e-12)
    return persistence, min(low, 0.999)


def _initial_months_since(rng: np.random.Generator, had: np.ndarray, hazard: np.ndarray, recall: int) -> np.ndarray:
    """Months since the last experience, drawn from the stationary law given the hazard."""
    hazard = np.clip(hazard, 1e-9, 1.0)
    u = rng.random(had.size)
    # Truncated geometric on 0..recall−1 for those who had it within the window.
    within = np.floor(np.log1p(-u * (1 - (1 - hazard) ** recall)) / np.log1p(-hazard + 1e-15))
    within = np.clip(within, 0, recall - 1)
    return np.where(had, within, recall + rng.integers(0, recall, size=had.size)).astype(np.int32)


def calibrate_baseline(state: CitizenState, params: SimulationParams, rng: np.random.Generator) -> Baseline:
    """Choose the unobserved rates so that the baseline is stationary, and set t = 0 timers.

    Advantages (disadvantages) among Sesame/Tencent users: two latent propensity
    classes; the frequent class holds the experience ``persistence`` of the time,
    the other class at the rate that keeps the total at its t = 0 value. Each
    class's rate scale is solved along simulated score paths, and class
    membership is drawn given the t = 0 answer so that both classes start at
    their stationary shares.
    """
    levers, dynamics = params.levers, params.dynamics
    recall = int(dynamics.recall_months)
    users = state.sesame_or_tencent
    _initial_lists(state, params, rng)
    # Citizens on a blacklist at t = 0 have received its sanctions.
    for values in (state.covariates["disadvantages"], state.baseline["disadvantages"]):
        values[state.listed] = 1
    # Scores keep moving, so eligibility does too: the stationary share in the
    # recall window is computed along simulated future score paths (one window
    # of the stationary score process per citizen), not from today's scores.
    paths = score_paths(state, params, rng, recall)
    path_weights = [benefit_probabilities(state, levers, latent) for latent in paths]
    path_disadvantage = [disadvantage_weight(state, levers, latent) for latent in paths]

    def no_advantage(scale: float) -> np.ndarray:
        none = np.ones(state.n)
        for weights in path_weights:
            none *= 1 - advantage_hazard(weights, scale)
        return none

    # Listings fall on pilot residents at random over time; a resident is listed
    # at some point in a window with probability inflow × (duration + window − 1).
    inflow = listing_inflow(params)
    listed_in_window = state.resident * min(inflow * (levers.delisting_months + recall - 1), 1.0)

    def no_disadvantage(scale: float) -> np.ndarray:
        none = 1 - listed_in_window
        for weight in path_disadvantage:
            none = none * (1 - np.minimum(scale * weight, 1.0))
        return none

    advantage_scale = np.zeros(state.n)
    disadvantage_scale = np.zeros(state.n)
    for name, persistence, scale_out, none_of in (
        ("advantages", dynamics.advantage_persistence, advantage_scale, no_advantage),
        ("disadvantages", dynamics.disadvantage_persistence, disadvantage_scale, no_disadvantage),
    ):
        had = state.covariates[name] == 1
        share = float(had[users].mean()) if users.any() else 0.0
        high, low = _persistent_targets(share, persistence)
        # Two latent propensity classes, each already at its own stationary share
        # at t = 0: of those who had the experience, a share `high` belong to the
        # frequent class; of those who had not, the share 1 − high of the same
        # class size. Then no transient follows from the t = 0 split.
        frequent_given_not = (1 - high) * share / max(1 - share, 1e-12)
        # A frequent-class member without the experience at t = 0 is, in the
        # stationary process, one whose eligibility has been low: take the
        # least eligible of those who had none (persistent eligibility along
        # the simulated score paths), not a random draw, or they would all
        # gain it in the first months.
        exposure = 1 - none_of(1e-3)  # ∝ eligible weight summed over the score paths
        not_had = np.flatnonzero(users & ~had)
        ranked = not_had[np.lexsort((rng.random(not_had.size), exposure[not_had]))]
        frequent = had & (rng.random(state.n) < high)
        frequent[ranked[: round(frequent_given_not * not_had.size)]] = True
        for group, target in ((users & frequent, high), (users & ~frequent, low)):
            scale_out[group] = _solve_scale(none_of, group, target)
    weights = benefit_probabilities(state, levers)
    state.months_since_advantage = _initial_months_since(
        rng, state.covariates["advantages"] == 1, advantage_hazard(weights, advantage_scale), recall
    )
    state.months_since_disadvantage = _initial_months_since(
        rng, state.covariates["disadvantages"] == 1, disadvantage_hazard(state, levers, disadvantage_scale), recall
    )
    # Listed residents know they are in a pilot; the others learn at a rate that
    # keeps the resident share aware at its t = 0 value (11%, Section 4).
    state.aware |= state.listed
    residents = state.resident
    aware_share = float(state.aware[residents].mean()) if residents.any() else 0.0
    listed_share = float(state.listed[residents].mean()) if residents.any() else 0.0
    free_share = (aware_share - listed_share) / max(1 - listed_share, 1e-12)
    # Balance of the unlisted pool: learning a(1 − x) + delisted (all aware) λ
    # = forgetting f·x + new listings λ·x, with x its aware share.
    forgetting, inflow = dynamics.awareness_forgetting, listing_inflow(params)
    awareness_rate = max(free_share * (forgetting + inflow) - inflow, 0.0) / max(1 - free_share, 1e-12)
    return Baseline(advantage_scale, disadvantage_scale, awareness_rate)


def listing_inflows(params: SimulationParams) -> tuple[float, float]:
    """Monthly probabilities that a pilot resident is newly blacklisted: (for conduct, wrongly)."""
    levers = params.levers
    conduct = params.scores.default_rate * levers.blacklist_rate
    wrongful = levers.false_positive_rate * (1 - params.scores.default_rate)
    return conduct, wrongful


def listing_inflow(params: SimulationParams) -> float:
    """Monthly probability that a pilot resident is newly blacklisted (conduct or wrongful)."""
    return sum(listing_inflows(params))


def _initial_lists(state: CitizenState, params: SimulationParams, rng: np.random.Generator) -> None:
    """Black- and redlists at their steady state under the t = 0 levers."""
    levers = params.levers
    duration = round(levers.delisting_months)
    inflow_conduct, inflow_wrongful = listing_inflows(params)
    # Only residents who are not listed can be listed, so the steady state is
    # inflow·duration / (1 + inflow·duration).
    load = (inflow_conduct + inflow_wrongful) * duration
    listed_share = load / (1 + load)
    listed = state.resident & (rng.random(state.n) < listed_share)
    state.listed_months_left = np.where(listed, rng.integers(1, duration + 1, size=state.n), 0).astype(np.int32)
    wrongful_share = inflow_wrongful / max(inflow_conduct + inflow_wrongful, 1e-12)
    state.wrongly_listed = listed & (rng.random(state.n) < wrongful_share)
    state.sanctions = np.where(listed, round(levers.sanction_breadth), 0).astype(np.int8)
    top = state.pilot.latent() >= TOP_SCORE_LATENT
    red_share = min(levers.redlist_rate * REDLIST_MONTHS, 1.0)
    redlisted = state.resident & top & ~listed & (rng.random(state.n) < red_share)
    state.redlisted_months_left = np.where(redlisted, rng.integers(1, REDLIST_MONTHS + 1, size=state.n), 0).astype(
        np.int32
    )


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
    state.resident = state.initially_resident | (state.pilot_order < levers.pilot_coverage)
    # Lists: ageing, delisting, new listings (conduct-triggered and wrongful).
    state.listed_months_left = np.maximum(state.listed_months_left - 1, 0)
    state.wrongly_listed &= state.listed
    eligible = state.resident & ~state.listed
    u = rng.random(n)
    conduct = eligible & defaulted & (u < levers.blacklist_rate)
    wrongful = eligible & ~defaulted & (u < levers.false_positive_rate)
    newly_listed = conduct | wrongful
    state.listed_months_left[newly_listed] = round(levers.delisting_months)
    state.wrongly_listed |= wrongful
    state.sanctions = np.where(state.listed, round(levers.sanction_breadth), 0).astype(np.int8)
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
