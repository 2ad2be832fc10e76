"""Experiences of the month: which users receive each benefit type and who meets a disadvantage.

Part of the policy stage (``sim.policy.step_policy``). Each draw is made only
below its rule's ceiling (``sim.draws``): one ceiling per group of citizens
who share a chance, so a benefit's draws are its receivers before eligibility.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from sim.draws import Buffers, Groups, uniforms_below
from sim.params import ADVANTAGE_TYPES, PolicyLevers
from sim.scores import SESAME_EDGES, THRESHOLD_MARGIN, score_at_least, threshold_latent, to_score
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


def benefit_chances(levers: PolicyLevers, advantage_levels: np.ndarray) -> np.ndarray:
    """Each type's monthly chance for an eligible citizen (types × [scale class, rural/urban] codes).

    ``min(scale × place weight, 1)`` as it always was, one value per scale class
    (``sim.policy.Baseline.advantage_levels``) and place.
    """
    return (
        np.minimum(advantage_levels[:, None, None] * place_rates(levers)[None], 1.0)
        .transpose(1, 0, 2)
        .reshape(len(ADVANTAGE_TYPES), -1)
    )


def disadvantage_chances(levers: PolicyLevers, disadvantage_levels: np.ndarray) -> np.ndarray:
    """The monthly chance of a disadvantage off the blacklist per [scale class, user, low score] code
    (classes of ``sim.policy.Baseline.disadvantage_levels``)."""
    low, user = np.array([False, True]), np.array([False, True])
    # disadvantage_weight's product, in its order, for each (user, low score).
    weight = (1 + LOW_SCORE_DISADVANTAGE_BOOST * low[None, :]) * levers.disadvantage_intensity * user[:, None]
    return np.minimum(disadvantage_levels[:, None, None] * weight[None], 1.0).ravel()


def benefit_groups(state: CitizenState, classes: np.ndarray, class_count: int) -> Groups:
    """Citizens by [scale class, rural/urban] code: each code's chance of a type bounds its draws."""
    return _class_groups(state, "benefit_groups", classes, class_count, lambda: state.covariates["urban"] == 1)


def disadvantage_groups(state: CitizenState, classes: np.ndarray, class_count: int) -> Groups:
    """Citizens by [scale class, user] code: the chance with a low score bounds each code's draws."""
    return _class_groups(state, "disadvantage_groups", classes, class_count, lambda: state.sesame_or_tencent)


def _class_groups(
    state: CitizenState, name: str, classes: np.ndarray, class_count: int, yes: Callable[[], np.ndarray]
) -> Groups:
    """Citizens by class × 2 + ``yes()`` (a fixed yes/no attribute), kept in ``state.group_cache[name]``
    while the classes are the same array."""
    cached = state.group_cache.get(name)
    if cached is None or cached[0] is not classes:
        cached = state.group_cache[name] = (classes, Groups.of(classes.astype(np.intp) * 2 + yes(), 2 * class_count))
    return cached[1]


def disadvantage_ceilings(table: np.ndarray) -> np.ndarray:
    """Each [scale class, user] code's largest chance of ``disadvantage_chances``, low score or not."""
    return table.reshape(-1, 2).max(axis=1)


def draw_ceilings(chances: np.ndarray, floor: np.ndarray | None) -> np.ndarray:
    """The ceilings the month's draws are made below: each code's chance, or its t = 0 chance
    (``floor``, from ``prepare_draws``) if that is larger, so lower levers draw the same numbers."""
    return chances if floor is None else np.maximum(chances, floor)


def prepare_draws(state: CitizenState, levers: PolicyLevers, rates: Any) -> tuple[np.ndarray, np.ndarray]:
    """At set-up: the groups the month's draws use (kept in ``state.group_cache``), and the t = 0
    levers' benefit chances and disadvantage ceilings, the least ceilings of every later month.

    ``rates``: the calibrated rate scales (``sim.policy.Baseline``).
    """
    benefit_groups(state, rates.advantage_class, rates.advantage_levels.size)
    disadvantage_groups(state, rates.disadvantage_class, rates.disadvantage_levels.size)
    return (
        benefit_chances(levers, rates.advantage_levels),
        disadvantage_ceilings(disadvantage_chances(levers, rates.disadvantage_levels)),
    )


def receive_benefits(
    state: CitizenState,
    levers: PolicyLevers,
    levels: np.ndarray,
    classes: np.ndarray,
    latent: np.ndarray,
    listed: np.ndarray,
    streams: tuple[np.random.Generator, ...],
    advantage: np.ndarray,
    floors: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Who receives each benefit type (one array of citizens per type): eligible and the type's draw
    below its chance. Every receiver is marked in ``advantage``.

    ``levels`` and ``classes`` are the calibrated advantage rate scales (``sim.policy.Baseline``);
    each type draws from its own stream, below its chances or ``floors`` (types × codes), the larger.

    Eligibility (``latent_eligibility``) is decided only for the citizens whose draw fell below their
    chance (saves the types × citizens comparisons of every latent with every threshold).
    """
    groups = benefit_groups(state, classes, levels.size)
    buffers = state.group_cache.setdefault("draw_buffers", Buffers())
    thresholds = [getattr(levers, f"threshold_{name}") for name in ADVANTAGE_TYPES]
    type_cuts = [threshold_latent(threshold, state.sesame.band_shares, SESAME_EDGES) for threshold in thresholds]
    cuts = np.unique(type_cuts)
    # Padded to one cut per type with +inf, which no latent is above: a fixed count the compiler unrolls.
    padded = np.concatenate([cuts, np.full(len(ADVANTAGE_TYPES) - cuts.size, np.inf)])
    status = np.empty(state.n, dtype=np.uint8)
    _status(latent, state.sesame_or_tencent, listed, state.sanctions, padded - THRESHOLD_MARGIN,
            padded + THRESHOLD_MARGIN, status)  # fmt: skip
    received = []
    tables = benefit_chances(levers, levels)
    ceilings = draw_ceilings(tables, floors)
    for row, (threshold, type_cut, table, rng) in enumerate(zip(thresholds, type_cuts, tables, streams, strict=True)):
        drawn = uniforms_below(rng, state.n, ceilings[row], groups, buffers)
        blocked = (_TRAVEL_BAN if row in TRAVEL_BAN_ROWS else 0) | (
            _CREDIT_RESTRICTION if row in CREDIT_RESTRICTION_ROWS else 0
        )
        rank = int(np.searchsorted(cuts, type_cut))
        receivers, near = np.empty(drawn.citizens.size, np.int64), np.empty(drawn.citizens.size, np.int64)
        count, unsure = _receive(
            drawn.citizens, drawn.draws, table, groups.codes, status, blocked, rank, receivers, near
        )
        receivers = receivers[:count]
        if unsure:
            # score_at_least's exact test of latents within its margin of a threshold's.
            near = near[:unsure]
            near = near[to_score(latent[near], state.sesame.band_shares, SESAME_EDGES) >= threshold]
            receivers = np.concatenate([receivers, near])
        received.append(receivers)
        advantage[received[-1]] = True
    return tuple(received)


# A citizen's benefit status, one byte computed once a month for the seven types: a user, blocked by a
# travel ban, by a credit restriction, a latent within the margin of a threshold's; in the top four
# bits, how many of the month's distinct threshold latents the latent is above.
_USER, _TRAVEL_BAN, _CREDIT_RESTRICTION, _NEAR, _RANK_SHIFT = 1, 2, 4, 8, 4
_CUTS = len(ADVANTAGE_TYPES)  # at most one threshold latent per type; 7 of them fit the top four bits


@numba.njit(cache=True)
def _status(
    latent: np.ndarray,
    users: np.ndarray,
    listed: np.ndarray,
    sanctions: np.ndarray,
    reach_low: np.ndarray,
    reach_high: np.ndarray,
    status: np.ndarray,
) -> None:
    """Each citizen's benefit status (``_USER`` …); ``reach_low``/``reach_high``: the sorted distinct
    threshold latents less and plus ``THRESHOLD_MARGIN``, padded to ``_CUTS`` with +inf.

    Compiled, one pass with the cuts unrolled (~4.3 ms a month at a million citizens with a loop
    over however many cuts there are, ~1.3 with a fixed count).
    """
    for citizen in range(latent.size):
        value = latent[citizen]
        rank = 0
        near = False
        for cut in range(_CUTS):
            above = value > reach_high[cut]
            rank += above
            near |= (value >= reach_low[cut]) & (not above)
        bans = listed[citizen] & (sanctions[citizen] >= 1)
        restricts = listed[citizen] & (sanctions[citizen] >= 2)
        status[citizen] = (
            users[citizen] * _USER + bans * _TRAVEL_BAN + restricts * _CREDIT_RESTRICTION + near * _NEAR
            + (rank << _RANK_SHIFT)
        )  # fmt: skip


@numba.njit(cache=True)
def _receive(
    citizens: np.ndarray,
    draws: np.ndarray,
    chances: np.ndarray,
    codes: np.ndarray,
    status: np.ndarray,
    blocked: int,
    rank: int,
    receivers: np.ndarray,
    near: np.ndarray,
) -> tuple[int, int]:
    """Of the citizens drawn below a type's ceiling, those who receive it: a draw below their chance,
    a user, not ``blocked`` by a sanction, a latent above the type's threshold latent (the
    ``rank``-th of the month's distinct ones, from 0); and those whose latent lies within the margin of
    a threshold latent, whose score is to be compared exactly (``score_at_least``).

    Compiled, one pass over the drawn reading two bytes a citizen (``_status``), not five arrays:
    ``latent_eligibility`` only where it is read (~10 → ~3 ms a month at a million citizens).
    """
    count = unsure = 0
    for hit in range(citizens.size):
        citizen = citizens[hit]
        state = status[citizen]
        can = (draws[hit] < chances[codes[citizen]]) & ((state & _USER) != 0) & ((state & blocked) == 0)
        is_near = (state & _NEAR) != 0
        # Written at the next free place, kept by counting: no branch on the drawn.
        receivers[count] = citizen
        count += can & (not is_near) & ((state >> _RANK_SHIFT) > rank)
        near[unsure] = citizen
        unsure += can & is_near
    return count, unsure


def meet_disadvantages(
    state: CitizenState,
    levers: PolicyLevers,
    levels: np.ndarray,
    classes: np.ndarray,
    latent: np.ndarray,
    listed: np.ndarray,
    rng: np.random.Generator,
    floor: np.ndarray | None = None,
) -> np.ndarray:
    """Who meets a disadvantage: ``u < disadvantage_hazard`` without a score or a hazard per citizen
    (``levels`` and ``classes``: the calibrated disadvantage rate scales, ``sim.policy.Baseline``;
    drawn below each code's chance or ``floor``, the larger).

    The listed meet one for certain; the others' low-score test is made only where the draw
    fell below their code's chance with a low score.
    """
    groups = disadvantage_groups(state, classes, levels.size)
    table = disadvantage_chances(levers, levels)
    buffers = state.group_cache.setdefault("draw_buffers", Buffers())
    ceilings = draw_ceilings(disadvantage_ceilings(table), floor)
    drawn = uniforms_below(rng, state.n, ceilings, groups, buffers)
    citizens = drawn.citizens
    below = score_at_least(
        latent[citizens], levers.disadvantage_threshold, state.sesame.band_shares, SESAME_EDGES, below=True
    )
    met = listed.copy()
    met[citizens[drawn.draws < table[groups.codes[citizens] * 2 + below]]] = True
    return met
