"""Policy stage: commercial benefits and disadvantages, red- and blacklists, sanctions, coverage.

Pure, vectorised functions of (state, levers, dynamics, rng). Monthly base
rates of the seven benefit types are assumptions; only their ratios matter,
because their overall level is calibrated (``sim.baseline``) so that, with no
policy change, the t = 0 shares of Table A2 are held.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import ndtri

from sim.params import ADVANTAGE_TYPES, DynamicsParams, PolicyLevers
from sim.scores import SESAME_EDGES, score_at_least, to_score
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
    if levers.pilot_coverage is not None:
        state.resident = state.pilot_order < levers.pilot_coverage
    # Every uniform of the month goes through one scratch array: the same numbers
    # as allocating each, without faulting in 8 MB of fresh pages per draw.
    u = scratch(state)
    # Lists: ageing, delisting, new listings (conduct-triggered and wrongful).
    n = state.n
    newly_listed, wrongful, listed = np.empty(n, bool), np.empty(n, bool), np.empty(n, bool)
    _update_lists(
        state.listed_months_left,
        state.wrongly_listed,
        state.ever_listed,
        state.sanctions,
        state.resident,
        defaulted,
        rng.random(out=u),
        levers.blacklist_rate,
        levers.false_positive_rate,
        levers.delisting_months,
        levers.sanction_breadth,
        newly_listed,
        wrongful,
        listed,
    )
    # Redlists reward the top decile of pilot scores.
    pilot = state.pilot
    _update_redlists(
        state.redlisted_months_left,
        state.resident,
        listed,
        pilot.level,
        pilot.deviation,
        TOP_SCORE_LATENT,
        rng.random(out=u),
        levers.redlist_rate,
        REDLIST_MONTHS,
    )
    # Commercial benefits by type, and any advantage (including a redlist reward).
    latent = state.best_latent()
    received = _benefits(state, levers, baseline, latent, rng, u)
    advantage = received.any(axis=0) | (state.redlisted_months_left > 0)
    disadvantage = _disadvantages(state, levers, baseline, latent, listed, rng, u)
    state.benefits_this_month = received
    benefits = dict(zip(ADVANTAGE_TYPES, received, strict=True))
    return PolicyEvents(newly_listed, wrongful, advantage, disadvantage, benefits, latent)


@numba.njit(cache=True)
def _update_lists(
    months_left: np.ndarray,
    wrongly_listed: np.ndarray,
    ever_listed: np.ndarray,
    sanctions: np.ndarray,
    resident: np.ndarray,
    defaulted: np.ndarray,
    draws: np.ndarray,
    blacklist_rate: float,
    false_positive_rate: float,
    delisting_months: int,
    sanction_breadth: int,
    newly_listed: np.ndarray,
    newly_wrongly_listed: np.ndarray,
    listed: np.ndarray,
) -> None:
    """A month of the blacklists, in place: listings age and lapse; an unlisted resident is listed if
    their draw falls below the blacklist rate after a default, or below the false-positive rate
    otherwise; the listed carry ``sanction_breadth`` sanctions.

    Compiled, one pass instead of about fifteen (with the redlists, ~4.2 → ~1.3 ms a month at a million
    citizens).
    """
    # & and | rather than and and or throughout: no branches on random data.
    for citizen in range(months_left.size):
        left = max(months_left[citizen] - 1, 0)
        was_listed = left > 0
        eligible = resident[citizen] & (not was_listed)
        default = defaulted[citizen]
        conduct = eligible & default & (draws[citizen] < blacklist_rate)
        wrongful = eligible & (not default) & (draws[citizen] < false_positive_rate)
        new = conduct | wrongful
        # delisting_months >= 1: the newly listed are listed.
        months_left[citizen] = delisting_months if new else left
        wrongly_listed[citizen] = (wrongly_listed[citizen] & was_listed) | wrongful
        ever_listed[citizen] = ever_listed[citizen] | new
        now_listed = was_listed | new
        listed[citizen] = now_listed
        sanctions[citizen] = sanction_breadth * now_listed
        newly_listed[citizen] = new
        newly_wrongly_listed[citizen] = wrongful


@numba.njit(cache=True)
def _update_redlists(
    months_left: np.ndarray,
    resident: np.ndarray,
    listed: np.ndarray,
    pilot_level: np.ndarray,
    pilot_deviation: np.ndarray,
    top_latent: float,
    draws: np.ndarray,
    redlist_rate: float,
    redlist_months: int,
) -> None:
    """A month of the redlists, in place: listings age; an unlisted resident in the top decile of
    pilot scores and off the redlist joins it if their draw falls below the rate; a blacklisting ends it.

    Compiled, one pass instead of about ten (timed with ``_update_lists``).
    """
    for citizen in range(months_left.size):
        left = max(months_left[citizen] - 1, 0)
        top = pilot_level[citizen] + pilot_deviation[citizen] >= top_latent
        joins = resident[citizen] & top & (not listed[citizen]) & (left == 0) & (draws[citizen] < redlist_rate)
        left = redlist_months if joins else left
        months_left[citizen] = 0 if listed[citizen] else left


def scratch(state: CitizenState) -> np.ndarray:
    """A float array of n values that any stage may overwrite (kept between months)."""
    scratch = state.group_cache.get("scratch")
    if scratch is None or scratch.size != state.n:
        scratch = state.group_cache["scratch"] = np.empty(state.n)
    return scratch


def _benefits(
    state: CitizenState,
    levers: PolicyLevers,
    baseline: Baseline,
    latent: np.ndarray,
    rng: np.random.Generator,
    u: np.ndarray,
) -> np.ndarray:
    """Who receives each benefit type (types × citizens): eligible and the type's draw below its chance.

    The same draws as one (types × n) array, drawn a row at a time: saves the 56 MB
    array of draws and the 56 MB of chances (``min(scale × place weight, 1)``),
    which take one value per scale class and place (a row's chances are looked up).
    """
    values, classes = baseline.advantage_levels, baseline.advantage_class
    codes = state.group_cache.get("benefit_codes")
    if codes is None or codes[0] is not classes:
        # In the classes' compact dtype (saves 7 B a citizen against intp); np.take reads any integer.
        codes = (classes, classes * 2 + (state.covariates["urban"] == 1).astype(classes.dtype))
        state.group_cache["benefit_codes"] = codes
    # Chances of each type for each (scale class, rural/urban), computed as scale × place weight always was.
    chances = (
        np.minimum(values[:, None, None] * place_rates(levers)[None], 1.0)
        .transpose(1, 0, 2)
        .reshape(len(ADVANTAGE_TYPES), -1)
    )
    received = latent_eligibility(state, levers, latent)
    for eligible, table in zip(received, chances, strict=True):
        _keep_drawn(eligible, rng.random(out=u), table, codes[1])
    return received


@numba.njit(cache=True)
def _keep_drawn(eligible: np.ndarray, draws: np.ndarray, chances: np.ndarray, codes: np.ndarray) -> None:
    """``eligible &= draws < chances[codes]``, compiled: no n-long array of chances (~1.5 ms a type a month)."""
    for citizen in range(eligible.size):
        # Without a branch: which citizens are eligible and drew low is random (mispredicted branches).
        eligible[citizen] &= draws[citizen] < chances[codes[citizen]]


def _disadvantages(
    state: CitizenState,
    levers: PolicyLevers,
    baseline: Baseline,
    latent: np.ndarray,
    listed: np.ndarray,
    rng: np.random.Generator,
    u: np.ndarray,
) -> np.ndarray:
    """Who meets a disadvantage: ``u < disadvantage_hazard`` without a score or a hazard per citizen."""
    values, classes = baseline.disadvantage_levels, baseline.disadvantage_class
    codes = state.group_cache.get("disadvantage_codes")
    if codes is None or codes[0] is not classes:
        codes = (classes, (classes * 2 + state.sesame_or_tencent.astype(classes.dtype)) * 2)  # compact, as above
        state.group_cache["disadvantage_codes"] = codes
    low, user = np.array([False, True]), np.array([False, True])
    # disadvantage_weight's product, in its order, for each (user, low score).
    weight = (1 + LOW_SCORE_DISADVANTAGE_BOOST * low[None, :]) * levers.disadvantage_intensity * user[:, None]
    table = np.minimum(values[:, None, None] * weight[None], 1.0).ravel()
    below = score_at_least(latent, levers.disadvantage_threshold, state.sesame.band_shares, SESAME_EDGES, below=True)
    met = np.empty(state.n, dtype=bool)
    _meet_disadvantages(rng.random(out=u), table, codes[1], below, listed, met)
    return met


@numba.njit(cache=True)
def _meet_disadvantages(
    draws: np.ndarray, chances: np.ndarray, codes: np.ndarray, below: np.ndarray, listed: np.ndarray, met: np.ndarray
) -> None:
    """``met = (draws < chances[codes + below]) | listed``, compiled: no n-long array of chances."""
    for citizen in range(met.size):
        # The listed have hazard 1, and every uniform lies below 1.
        met[citizen] = (draws[citizen] < chances[codes[citizen] + below[citizen]]) | listed[citizen]
