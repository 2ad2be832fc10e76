"""Baseline calibration: the unobserved rates that keep the 2018 status quo stationary.

With no policy change, the dynamics must hold the t = 0 shares of the survey
sample. The rates the paper does not measure are therefore solved for, not
guessed:

* **Advantages and disadvantages** among Sesame/Tencent users (Table A2:
  87.6% and 25.1%). Two latent propensity classes per experience: the frequent
  class holds it ``persistence`` of the time, the other at the rate that keeps
  the total. Each class's rate scale is solved by root finding on the share
  with the experience in the recall window, along simulated future score
  paths, because eligibility moves with the scores.
* **Black- and redlists** start at their steady state under the t = 0 levers.
* **Awareness.** Residents learn of their pilot at the rate that keeps the
  aware share of residents at its t = 0 value (11%, Section 4).

A target the t = 0 parameters cannot reach raises ``StatusQuoError`` naming
the parameters involved; no value is ever substituted silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
from scipy.optimize import brentq

from sim.errors import StatusQuoError
from sim.experiences import prepare_draws
from sim.information import information_start
from sim.params import ADVANTAGE_TYPES, PolicyLevers, SimulationParams
from sim.policy import REDLIST_MONTHS, TOP_SCORE_LATENT, Baseline, advantage_hazard, place_rates
from sim.scores import SESAME_EDGES, default_propensity, move_scores, score_at_least
from sim.state import CitizenState
from sim.window import (
    combination_codes,
    current_advantage_hazard,
    current_disadvantage_hazard,
    initial_months_since,
    no_disadvantage_in_window,
)

# Bracket of log rate scales searched: from no experience at all to every
# eligible citizen having it every month.
LOG_SCALE_RANGE = (-30.0, 15.0)
DISADVANTAGE_LEVERS = (
    "levers.blacklist_rate, levers.false_positive_rate, levers.delisting_months, scores.default_rate, "
    "dynamics.recall_months or dynamics.disadvantage_persistence"
)
LISTING_LEVERS = "levers.blacklist_rate, levers.false_positive_rate or scores.default_rate"
ADVANTAGE_LEVERS = "levers.threshold_*, levers.urban_* and levers.rural_*, dynamics.advantage_persistence"


class _Unreachable(Exception):
    """A class target outside [share at the lowest rate, share at the highest rate]."""

    def __init__(self, lowest: float, highest: float, target: float) -> None:
        super().__init__(lowest, highest, target)
        self.lowest, self.highest, self.target = lowest, highest, target


def listing_inflows(state: CitizenState, params: SimulationParams) -> tuple[np.ndarray, np.ndarray]:
    """Each citizen's monthly probability of being newly blacklisted if a resident: (for conduct, wrongly).

    A listing for conduct needs a missed repayment, whose probability falls
    with the citizen's long-run score level (``sim.scores.default_propensity``);
    using each citizen's own propensity, not the population's mean rate, keeps
    the lists at their steady state whoever happens to live in a pilot locality.
    """
    levers = params.levers
    propensity = default_propensity(state.sesame, params.scores)
    return propensity * levers.blacklist_rate, levers.false_positive_rate * (1 - propensity)


def listing_inflow(state: CitizenState, params: SimulationParams) -> np.ndarray:
    """Each citizen's monthly probability of being newly blacklisted if a resident (conduct or wrongful)."""
    conduct, wrongful = listing_inflows(state, params)
    return conduct + wrongful


def _future_latents(
    state: CitizenState, params: SimulationParams, rng: np.random.Generator, months: int
) -> Iterator[np.ndarray]:
    """Future best-score latents under the baseline score dynamics, one month at a time (for calibration only).

    Yielded, not stacked: saves holding every month's latents, 96 B a citizen.
    """
    sesame, tencent = state.sesame, state.tencent
    for _ in range(months):
        shock = rng.standard_normal(state.n)
        # The scores alone: the calibration never reads these months' defaults.
        sesame, tencent = move_scores(sesame, params.scores, shock), move_scores(tencent, params.scores, shock)
        del shock  # saves 8 B a citizen while the latent is formed
        yield state.best_latent(sesame, tencent)


# Given some citizens, P(no experience in the window) of each of them as a function of the rate scale.
NoneOf = Callable[[np.ndarray | slice], Callable[[float], np.ndarray]]


def _solve_scale(none_of: NoneOf, mask: np.ndarray, target: float) -> float:
    """Scale such that the mean share with an experience in the window, over ``mask``, is ``target``.

    Raises:
        _Unreachable: If the target lies outside what any scale can give.
    """
    if not mask.any():
        return 0.0
    # Evaluated for the class's citizens only, not for everyone and then masked
    # (the same values in the same order, in about half the work).
    none_given_scale = none_of(np.flatnonzero(mask))

    def gap(log_scale: float) -> float:
        return float(1 - none_given_scale(np.exp(log_scale)).mean()) - target

    lowest, highest = gap(LOG_SCALE_RANGE[0]), gap(LOG_SCALE_RANGE[1])
    if lowest > 0 or highest < 0:
        raise _Unreachable(lowest + target, highest + target, target)
    if lowest == 0:
        return 0.0
    return float(np.exp(brentq(gap, *LOG_SCALE_RANGE, xtol=1e-10)))


def _benefit_combinations(
    state: CitizenState, levers: PolicyLevers, path_latents: Iterable[np.ndarray], months: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each citizen's benefit combination in each month of the paths (months × citizens), and whether
    their score lies below ``disadvantage_threshold`` (months × citizens, bool).

    A citizen's benefit weights (``benefit_probabilities``) depend only on the
    types they are eligible for and where they live: a combination codes the
    eligible types as bits and urban residence above them. The root search
    then computes each hazard once per combination (at most 2^7 × 2), not once
    per citizen and month (saves ~10 ms of a 2,209-citizen set-up, and the
    benefit weights of every month, 672 bytes a citizen, are never held).
    """
    types = len(ADVANTAGE_TYPES)
    code = np.min_scalar_type(2 ** (types + 1) - 1)  # one byte for 7 types: 12 bytes a citizen
    combinations = np.zeros((months, state.n), dtype=code)
    # Low scores along the paths, as booleans: a disadvantage weight takes one value per
    # (user, low score), so the (months × n) weights (96 bytes a citizen) are never held.
    low = np.empty((months, state.n), dtype=bool)
    band_shares, threshold = state.sesame.band_shares, levers.disadvantage_threshold
    for month, latent in enumerate(path_latents):
        low[month] = score_at_least(latent, threshold, band_shares, SESAME_EDGES, below=True)
        combination_codes(state, levers, latent, out=combinations[month])
    return combinations, low


def _combination_weights(levers: PolicyLevers) -> np.ndarray:
    """The benefit weights of every combination of ``_benefit_combinations`` (types × combinations)."""
    types = len(ADVANTAGE_TYPES)
    combinations = np.arange(2 ** (types + 1))
    eligible = ((combinations >> np.arange(types)[:, None]) & 1) == 1
    # The same product as eligibility × place weights in benefit_probabilities, so the same bits.
    return eligible * place_rates(levers)[:, combinations >> types]


def _frequent_class(
    users: np.ndarray, had: np.ndarray, persistence: float, exposure: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Members of the frequent propensity class, already at its stationary share at t = 0.

    Of the users who had the experience, a share ``persistence`` belong to the
    class; of those who had not, as many as make the class's t = 0 share equal
    ``persistence``, so no transient follows from the t = 0 split. A member
    must be able to receive the experience at all: only users with positive
    exposure (eligible weight along their simulated score path) are chosen
    while any remain. A member without the experience at t = 0 is, in the
    stationary process, one whose eligibility has been low: the least exposed
    are taken, not a random draw, or they would all gain it in the first months.
    """
    able = exposure > 0
    had_index = np.flatnonzero(had)
    # Able users first, in random order; unable ones only if the able run out.
    order = np.lexsort((rng.random(had_index.size), ~able[had_index]))
    chosen = had_index[order[: round(persistence * had_index.size)]]
    not_had = np.flatnonzero(users & ~had)
    ranked = not_had[np.lexsort((rng.random(not_had.size), exposure[not_had], ~able[not_had]))]
    chosen_not = ranked[: round((1 - persistence) * had_index.size)]
    frequent = np.zeros(users.size, dtype=bool)
    frequent[chosen] = True
    frequent[chosen_not] = True
    return frequent


def _class_targets(
    name: str, users: np.ndarray, had: np.ndarray, frequent: np.ndarray, persistence: float
) -> tuple[float, float]:
    """Stationary probabilities of the frequent class and of the other class.

    The frequent class holds the experience ``persistence`` of the time; the
    other class's probability follows exactly from holding the users' total
    at its t = 0 value, given the realised class sizes.
    """
    others = int((users & ~frequent).sum())
    if others == 0:
        return persistence, 0.0
    other = (int(had.sum()) - persistence * int(frequent.sum())) / others
    if not 0 <= other <= 1:
        share = had.sum() / max(users.sum(), 1)
        raise StatusQuoError(
            f"dynamics.{name[:-1]}_persistence: {persistence:g} cannot hold the t = 0 share of "
            f"{100 * share:.1f}% of Sesame/Tencent users with {name}: the other users would need it with "
            f"probability {other:.2f}; choose a value that keeps it between 0 and 1"
        )
    return persistence, other


def _unreachable_message(name: str, which: str, problem: _Unreachable) -> str:
    if name == "advantages":
        if problem.highest < problem.target:
            detail = (
                f"even if every eligible user received benefits every month, only {100 * problem.highest:.1f}% of "
                f"the {which} class would have them in the recall window, below its target "
                f"{100 * problem.target:.1f}% (too few users are eligible); change {ADVANTAGE_LEVERS}"
            )
        else:
            detail = f"the {which} class cannot be held at {100 * problem.target:.1f}%; change {ADVANTAGE_LEVERS}"
        return f"levers at t = 0 cannot reproduce Table A2's advantages: {detail}"
    if problem.lowest > problem.target:
        detail = (
            f"blacklisting alone puts {100 * problem.lowest:.1f}% of the {which} class under sanctions within "
            f"the recall window, more than its target {100 * problem.target:.1f}%; lower {DISADVANTAGE_LEVERS}"
        )
    else:
        detail = (
            f"at most {100 * problem.highest:.1f}% of the {which} class can have disadvantages within the recall "
            f"window, below its target {100 * problem.target:.1f}%; change levers.disadvantage_threshold or "
            "dynamics.disadvantage_persistence"
        )
    return f"parameters at t = 0 cannot reproduce Table A2's disadvantages: {detail}"


def calibrate_baseline(state: CitizenState, params: SimulationParams, rng: np.random.Generator) -> Baseline:
    """Choose the unobserved rates so that the baseline is stationary, and set t = 0 timers.

    Advantages (disadvantages) among Sesame/Tencent users: two latent propensity
    classes; the frequent class holds the experience ``persistence`` of the time,
    the other class at the rate that keeps the total at its t = 0 value. Each
    class's rate scale is solved along simulated score paths, and class
    membership is drawn given the t = 0 answer so that both classes start at
    their stationary shares.

    Raises:
        StatusQuoError: If the t = 0 parameters cannot reproduce a t = 0 share.
    """
    levers, dynamics = params.levers, params.dynamics
    recall = dynamics.recall_months
    _initial_lists(state, params, rng)
    state.ever_listed = state.listed.copy()
    # Citizens on a blacklist at t = 0 have received its sanctions.
    for values in (state.covariates["disadvantages"], state.baseline["disadvantages"]):
        values[state.listed] = 1
    # Scores keep moving, so eligibility does too: the stationary share in the
    # recall window is computed along simulated future score paths (one window
    # of the stationary score process per citizen), not from today's scores.
    # The paths live only inside _class_scales: freed (24 B a citizen) before the timers' temporaries.
    (advantage_levels, advantage_class), (disadvantage_levels, disadvantage_class) = _class_scales(state, params, rng)
    baseline = Baseline(
        advantage_levels, advantage_class, disadvantage_levels, disadvantage_class, _awareness_rate(state, params),
        *information_start(state, params, *listing_inflows(state, params)),
    )  # fmt: skip
    baseline.benefit_floor, baseline.disadvantage_floor = prepare_draws(state, levers, baseline)
    state.punitive_knowledge = baseline.knowledge_start[baseline.information_class]
    state.enforcement_seen = baseline.enforcement_start[baseline.information_class]
    combination_weights = _combination_weights(levers)
    latent = state.best_latent()
    hazard = current_advantage_hazard(state, levers, latent, baseline.advantage_scale, combination_weights)
    state.months_since_advantage = initial_months_since(rng, state.covariates["advantages"] == 1, hazard, recall)
    hazard = current_disadvantage_hazard(state, levers, latent, baseline.disadvantage_scale)
    del latent
    state.months_since_disadvantage = initial_months_since(rng, state.covariates["disadvantages"] == 1, hazard, recall)
    return baseline


def _class_scales(
    state: CitizenState, params: SimulationParams, rng: np.random.Generator
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The advantage and disadvantage rate scales: each propensity class's scale and each citizen's class.

    Classes: 0 non-users (scale 0), 1 the frequent class, 2 the other users.
    """
    levers, dynamics = params.levers, params.dynamics
    recall = dynamics.recall_months
    users = state.sesame_or_tencent
    # Month by month, never holding the paths' latents: saves 96 B a citizen.
    path_combinations, path_low = _benefit_combinations(
        state, levers, _future_latents(state, params, rng, recall), recall
    )
    combination_weights = _combination_weights(levers)

    def no_advantage(citizens: np.ndarray | slice) -> Callable[[float], np.ndarray]:
        # One byte a month, not an intp index (saves 84 B a citizen of the class).
        combinations = path_combinations[:, citizens]

        def none_given_scale(scale: float) -> np.ndarray:
            none_in_month = 1 - advantage_hazard(combination_weights, scale)
            # Months multiply in their order, as np.prod over axis 0 did, without the
            # (months × citizens) array of factors (saves 96 B a citizen).
            product = none_in_month[combinations[0]]
            for codes in combinations[1:]:
                product *= none_in_month[codes]
            return product

        return none_given_scale

    # Listings fall on pilot residents at random over time; a resident is listed
    # at some point in a window with probability inflow × (duration + window − 1).
    inflow = listing_inflow(state, params)
    listed_in_window = state.resident * np.minimum(inflow * (levers.delisting_months + recall - 1), 1.0)

    def no_disadvantage(citizens: np.ndarray | slice) -> Callable[[float], np.ndarray]:
        return no_disadvantage_in_window(state, levers, path_low[:, citizens], 1 - listed_in_window[citizens], citizens)

    scales = []
    none_of: NoneOf
    for name, persistence, none_of in (
        ("advantages", dynamics.advantage_persistence, no_advantage),
        ("disadvantages", dynamics.disadvantage_persistence, no_disadvantage),
    ):
        had = users & (state.covariates[name] == 1)
        everyone = slice(None)
        frequent = _frequent_class(users, had, persistence, 1 - none_of(everyone)(1e-3), rng)
        high, low = _class_targets(name, users, had, frequent, persistence)
        levels = np.zeros(3)
        # One byte a citizen: the classes are 0, 1 and 2.
        classes = np.zeros(state.n, dtype=np.uint8)
        for level, (group, target, which) in enumerate(
            ((frequent, high, "frequent"), (users & ~frequent, low, "other")), start=1
        ):
            try:
                levels[level] = _solve_scale(none_of, group, target)
            except _Unreachable as problem:
                raise StatusQuoError(_unreachable_message(name, which, problem)) from None
            classes[group] = level
        scales.append((levels, classes))
    return scales[0], scales[1]


def _awareness_rate(state: CitizenState, params: SimulationParams) -> float:
    """Monthly rate at which residents learn of their pilot, holding the aware share of residents fixed.

    Listed residents know they are in a pilot (they are set aware here).
    """
    state.aware |= state.listed
    residents = state.resident
    if not residents.any():
        return 0.0
    aware_share = float(state.aware[residents].mean())
    listed_share = float(state.listed[residents].mean())
    if listed_share >= 1:
        return 0.0
    free_share = (aware_share - listed_share) / (1 - listed_share)
    # Balance of the unlisted pool: learning a(1 − x) + delisted (all aware) λ
    # = forgetting f·x + new listings λ·x, with x its aware share.
    # Delisted citizens return to the unlisted pool aware; at the steady state as
    # many are delisted as are listed, at the unlisted residents' mean inflow.
    unlisted = residents & ~state.listed
    inflow = float(listing_inflow(state, params)[unlisted].mean()) if unlisted.any() else 0.0
    forgetting = params.dynamics.awareness_forgetting
    learned = free_share * (forgetting + inflow) - inflow
    if learned < 0 or free_share >= 1:
        raise StatusQuoError(
            f"dynamics.awareness_forgetting: {forgetting:g} is too slow to hold the t = 0 share of pilot residents "
            f"aware of their pilot ({100 * aware_share:.1f}%): delisted citizens return aware at {inflow:.4f} a "
            f"month; raise it above {inflow * (1 - free_share) / max(free_share, 1e-12):.4f} or lower "
            f"{LISTING_LEVERS}"
        )
    return learned / (1 - free_share)


def _initial_lists(state: CitizenState, params: SimulationParams, rng: np.random.Generator) -> None:
    """Black- and redlists at their steady state under the t = 0 levers."""
    levers = params.levers
    duration = levers.delisting_months
    inflow_conduct, inflow_wrongful = listing_inflows(state, params)
    # Only residents who are not listed can be listed, so each resident's
    # steady-state probability of being listed is λ·duration / (1 + λ·duration).
    total = inflow_conduct + inflow_wrongful
    load = total * duration
    listed = state.resident & (rng.random(state.n) < load / (1 + load))
    # int8: delisting_months ≤ 120 (saves 3 B a citizen against int32).
    state.listed_months_left = np.where(listed, rng.integers(1, duration + 1, size=state.n), 0).astype(np.int8)
    wrongful_share = np.divide(inflow_wrongful, total, out=np.zeros(state.n), where=total > 0)
    state.wrongly_listed = listed & (rng.random(state.n) < wrongful_share)
    state.sanctions = np.where(listed, levers.sanction_breadth, 0).astype(np.int8)
    top = state.pilot.latent() >= TOP_SCORE_LATENT
    # A probability: at a monthly rate above 1/12 every eligible resident is on the redlist.
    red_share = min(levers.redlist_rate * REDLIST_MONTHS, 1.0)
    redlisted = state.resident & top & ~listed & (rng.random(state.n) < red_share)
    # int8: at most REDLIST_MONTHS (saves 3 B a citizen against int32).
    state.redlisted_months_left = np.where(redlisted, rng.integers(1, REDLIST_MONTHS + 1, size=state.n), 0).astype(
        np.int8
    )
