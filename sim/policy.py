"""Policy stage: commercial benefits and disadvantages, red- and blacklists, sanctions, coverage.

Pure, vectorised functions of (state, levers, dynamics, rng); the month's benefits
and disadvantages are drawn in ``sim.experiences``. Monthly base rates of the
seven benefit types are assumptions; only their ratios matter,
because their overall level is calibrated (``sim.baseline``) so that, with no
policy change, the t = 0 shares of Table A2 are held.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import ndtri

from sim.draws import Streams, listing_draws
from sim.experiences import (
    CREDIT_RESTRICTION_ROWS,
    LOW_SCORE_DISADVANTAGE_BOOST,
    TRAVEL_BAN_ROWS,
    meet_disadvantages,
    place_rates,
    receive_benefits,
)
from sim.params import ADVANTAGE_TYPES, DynamicsParams, PolicyLevers
from sim.schema import parameter_specs
from sim.scores import SESAME_EDGES, score_at_least, to_score
from sim.state import CitizenState

REDLIST_MONTHS = 12  # assumption
# Wrongful listings are drawn below the largest false-positive rate the schema allows, whatever
# the lever's value: runs that differ in it draw the same numbers (sim.draws.listing_draws).
WRONGFUL_CEILING = float(parameter_specs(PolicyLevers)["false_positive_rate"].high)
TOP_SCORE_QUANTILE = 0.9  # redlists reward the top decile of pilot scores
# Score latents are standard normal in every month (sim.scores), so the top
# decile starts at Φ⁻¹(0.9) without sorting anyone.
TOP_SCORE_LATENT = float(ndtri(TOP_SCORE_QUANTILE))


@dataclass
class Baseline:
    """Rates calibrated at t = 0 so that the baseline is stationary (``sim.baseline``).

    A rate scale takes one value per propensity class, so it is kept as the
    classes' values and each citizen's class (1 B a citizen, not 8 for a float).

    Attributes:
        advantage_levels, disadvantage_levels: The rate scale of each class.
        advantage_class, disadvantage_class: Each citizen's class (an index into the levels).
        awareness_rate: Monthly rate at which residents learn of their pilot.
        information_class: Each citizen's t = 0 information class: resident + 2 × listed (int8).
        knowledge_start, enforcement_start: Each class's t = 0 (stationary) knowledge of punitive
            uses and memory of deserved punishment seen, from which the information channels count.
    """

    advantage_levels: np.ndarray
    advantage_class: np.ndarray
    disadvantage_levels: np.ndarray
    disadvantage_class: np.ndarray
    awareness_rate: float
    information_class: np.ndarray
    knowledge_start: np.ndarray
    enforcement_start: np.ndarray
    # The t = 0 levers' chances (sim.experiences): the least ceilings of the month's benefit and
    # disadvantage draws, so that runs whose levers give no higher chances draw the same numbers.
    benefit_floor: np.ndarray | None = None
    disadvantage_floor: np.ndarray | None = None

    @property
    def advantage_scale(self) -> np.ndarray:
        """Each citizen's advantage rate scale (built on each call)."""
        return self.advantage_levels[self.advantage_class]

    @property
    def disadvantage_scale(self) -> np.ndarray:
        """Each citizen's disadvantage rate scale (built on each call)."""
        return self.disadvantage_levels[self.disadvantage_class]


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


def latent_eligibility(state: CitizenState, levers: PolicyLevers, latent: np.ndarray) -> np.ndarray:
    """``benefit_eligibility(state, levers, equivalent_score(state, latent))`` to the last bit.

    Compares latents with each distinct threshold's latent (``sim.scores.score_at_least``):
    saves mapping every latent to a score, ~25 ms per month of a million citizens.
    """
    reached: dict[float, np.ndarray] = {}
    eligible = np.empty((len(ADVANTAGE_TYPES), state.n), dtype=bool)
    for row, name in zip(eligible, ADVANTAGE_TYPES, strict=True):
        threshold = getattr(levers, f"threshold_{name}")
        if threshold not in reached:
            reached[threshold] = score_at_least(latent, threshold, state.sesame.band_shares, SESAME_EDGES)
        np.logical_and(state.sesame_or_tencent, reached[threshold], out=row)
    listed = state.listed
    eligible[TRAVEL_BAN_ROWS] &= ~(listed & (state.sanctions >= 1))
    eligible[CREDIT_RESTRICTION_ROWS] &= ~(listed & (state.sanctions >= 2))
    return eligible


def _place_weights(state: CitizenState, levers: PolicyLevers) -> np.ndarray:
    """``place_rates`` where each citizen lives (types × citizens)."""
    # Not cached: neither the monthly stages nor the calibration read it any more
    # (a cache kept 56 B a citizen for the whole run).
    return place_rates(levers)[:, (state.covariates["urban"] == 1).astype(np.int64)]


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
    best_latent: np.ndarray | None = None  # this month's ``state.best_latent()``, if computed


def step_policy(
    state: CitizenState,
    levers: PolicyLevers,
    dynamics: DynamicsParams,
    baseline: Baseline,
    defaulted: np.ndarray,
    streams: Streams,
) -> PolicyEvents:
    """One month of benefits, disadvantages, listings, sanctions and coverage (updates ``state``).

    Each rule draws from its own stream, and only the uniforms below its ceiling (``sim.draws``).
    """
    if levers.pilot_coverage is not None:
        state.resident = state.pilot_order < levers.pilot_coverage
    n = state.n
    newly_listed, wrongful, listed = np.empty(n, bool), np.empty(n, bool), np.empty(n, bool)
    _age_lists(state.listed_months_left, state.wrongly_listed, state.sanctions, levers.sanction_breadth, listed)
    newly_listed.fill(False)
    wrongful.fill(False)
    defaulters, top_decile = np.flatnonzero(defaulted), top_pilot_decile(state)
    draws = listing_draws(streams, n, defaulters, top_decile, WRONGFUL_CEILING)
    lists = (state.listed_months_left, state.wrongly_listed, state.ever_listed, state.sanctions, newly_listed,
             wrongful, listed)  # fmt: skip
    _list_drawn(
        defaulters, draws.conduct, draws.wrongful.citizens, draws.wrongful.draws, lists, state.resident, defaulted,
        levers.blacklist_rate, levers.false_positive_rate, levers.delisting_months, levers.sanction_breadth,
    )  # fmt: skip
    # Redlists reward the top decile of pilot scores; a blacklisting ends one.
    redlisted, advantage = state.redlisted_months_left, np.empty(n, bool)
    _age_redlists(redlisted, listed, advantage)
    joins = top_decile[draws.redlist < levers.redlist_rate]
    joins = joins[state.resident[joins] & ~listed[joins] & (redlisted[joins] == 0)]
    redlisted[joins] = REDLIST_MONTHS
    # A redlist reward is an advantage, as is any commercial benefit (marked by receive_benefits).
    advantage[joins] = True
    latent = state.best_latent()
    state.benefit_receivers = receive_benefits(
        state, levers, baseline.advantage_levels, baseline.advantage_class, latent, listed, streams.benefits, advantage,
        baseline.benefit_floor,
    )  # fmt: skip
    disadvantage = meet_disadvantages(
        state, levers, baseline.disadvantage_levels, baseline.disadvantage_class, latent, listed, streams.disadvantage,
        baseline.disadvantage_floor,
    )  # fmt: skip
    return PolicyEvents(newly_listed, wrongful, advantage, disadvantage, latent)


@numba.njit(cache=True)
def _age_lists(
    months_left: np.ndarray,
    wrongly_listed: np.ndarray,
    sanctions: np.ndarray,
    sanction_breadth: int,
    listed: np.ndarray,
) -> None:
    """Blacklistings age and lapse, in place; the still listed carry ``sanction_breadth`` sanctions.

    Compiled, one pass instead of about eight.
    """
    for citizen in range(months_left.size):
        left = max(months_left[citizen] - 1, 0)
        months_left[citizen] = left
        still = left > 0
        listed[citizen] = still
        wrongly_listed[citizen] &= still
        sanctions[citizen] = sanction_breadth * still


@numba.njit(cache=True)
def _age_redlists(months_left: np.ndarray, listed: np.ndarray, rewarded: np.ndarray) -> None:
    """Redlistings age, a blacklisting ends one, and the still redlisted are ``rewarded`` (in place).

    Compiled, one pass for NumPy's four (~1.5 ms a month less at a million citizens).
    """
    for citizen in range(months_left.size):
        left = 0 if listed[citizen] else max(months_left[citizen] - 1, 0)
        months_left[citizen] = left
        rewarded[citizen] = left > 0


@numba.njit(cache=True)
def _list_drawn(
    defaulters: np.ndarray,
    conduct_draws: np.ndarray,
    drawn: np.ndarray,
    wrongful_draws: np.ndarray,
    lists: tuple,
    resident: np.ndarray,
    defaulted: np.ndarray,
    blacklist_rate: float,
    false_positive_rate: float,
    delisting_months: int,
    sanction_breadth: int,
) -> None:
    """New blacklistings: an unlisted resident is listed if their draw falls below the blacklist rate
    after a default (``conduct_draws``, one per defaulter), or below the false-positive rate otherwise
    (``wrongful_draws``, of the citizens ``drawn`` below the largest such rate). ``lists``: as ``_list``."""
    listed = lists[6]
    for index in range(defaulters.size):
        citizen = defaulters[index]
        if resident[citizen] and not listed[citizen] and conduct_draws[index] < blacklist_rate:
            _list(citizen, False, lists, delisting_months, sanction_breadth)
    for index in range(drawn.size):
        citizen = drawn[index]
        eligible = resident[citizen] and not listed[citizen] and not defaulted[citizen]
        if eligible and wrongful_draws[index] < false_positive_rate:
            _list(citizen, True, lists, delisting_months, sanction_breadth)


@numba.njit(cache=True, inline="always")
def _list(citizen: int, wrongful: bool, lists: tuple, delisting_months: int, sanction_breadth: int) -> None:
    """List ``citizen``; ``lists``: months left, wrongly listed, ever listed, sanctions, newly listed,
    newly wrongly listed, listed."""
    months_left, wrongly_listed, ever_listed, sanctions, newly_listed, newly_wrongly_listed, listed = lists
    # delisting_months >= 1: the newly listed are listed.
    months_left[citizen] = delisting_months
    wrongly_listed[citizen] = wrongful
    ever_listed[citizen] = True
    listed[citizen] = True
    sanctions[citizen] = sanction_breadth
    newly_listed[citizen] = True
    newly_wrongly_listed[citizen] = wrongful


def top_pilot_decile(state: CitizenState) -> np.ndarray:
    """The citizens whose pilot score is in the top decile (indices, ascending): whom a redlist can reward."""
    pilot = state.pilot
    top = np.empty(state.n, dtype=np.int64)
    return top[: _at_least(pilot.level, pilot.deviation, TOP_SCORE_LATENT, top)]


@numba.njit(cache=True)
def _at_least(level: np.ndarray, deviation: np.ndarray, threshold: float, found: np.ndarray) -> int:
    """Writes the citizens with ``level + deviation >= threshold`` into ``found``; returns how many."""
    count = 0
    for citizen in range(level.size):
        found[count] = citizen
        # Kept by counting, not by a branch on the scores.
        count += level[citizen] + deviation[citizen] >= threshold
    return count
