"""The information states: knowledge of punitive uses and the memory of deserved punishment seen.

Two per-citizen levels between 0 and 1 that fade and are learnt from sources
(one's own listing, ties' new listings, public naming, state media); the
perception stage (``sim.perceptions``) turns their departures from the t = 0
levels into points on the perceived functions and fairness. The rules and
their sources are in ``sim.perceptions``' docstring and ``sim/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numba
import numpy as np

from sim.network import tie_counts
from sim.params import Channels, DynamicsParams, PolicyLevers, SimulationParams
from sim.policy import Baseline, PolicyEvents
from sim.state import CitizenState


def learn_of_enforcement(
    state: CitizenState,
    events: PolicyEvents,
    levers: PolicyLevers,
    dynamics: DynamicsParams,
    channels: Channels,
    informed: Mapping[str, np.ndarray],
    listed: np.ndarray,
) -> None:
    """Knowledge of punitive uses and the memory of deserved punishment seen: fading, then learning.

    Each source teaches independently: a citizen's chance of not learning this
    month is the product of not learning from each. Public naming reaches
    ``naming_audience`` random residents per name, so a resident sees
    Poisson(audience × names / residents) of them.
    """
    residents = max(int(np.count_nonzero(state.resident)), 1)
    named = levers.sanction_breadth >= 3
    newly_listed = np.flatnonzero(events.newly_listed)
    deserved = newly_listed[~events.newly_wrongly_listed[newly_listed]]
    kinds = []
    if channels.punitive_knowledge:
        media = dynamics.media_learning * levers.media_punitive_share
        kinds.append((state.punitive_knowledge, dynamics.knowledge_decay, media, newly_listed, "repression_info"))
    if channels.visible_enforcement:
        kinds.append((state.enforcement_seen, dynamics.enforcement_decay, 0.0, deserved, "social_order_frame"))
    for level, decay, media, sources, kind in kinds:
        # The complement, 1 − level, is what each source multiplies, kept in the level's own array.
        naming = named and sources.size and levers.naming_audience > 0
        _unlearnt(level, decay, media, np.exp(-levers.naming_audience * sources.size / residents) if naming else 1.0,
                  state.resident)  # fmt: skip
        if sources.size and dynamics.tie_learning > 0:
            naming_ties, counts = tie_counts(state.network, sources)
            level[naming_ties] *= (1 - dynamics.tie_learning) ** counts
        # The sanctioned know of punitive uses.
        _learnt(level, listed, kind == "repression_info")
        level[informed.get(kind, _NOBODY)] = 1


@numba.njit(cache=True)
def _unlearnt(level: np.ndarray, decay: float, media: float, naming: float, resident: np.ndarray) -> None:
    """``level`` becomes what is not learnt: (1 − level × (1 − decay)) × (1 − media), × ``naming`` for residents.

    Compiled, one pass for NumPy's four (with ``_learnt``, ~2.5 → ~1 ms a month at a million citizens).
    """
    kept = 1 - decay
    for citizen in range(level.size):
        unlearnt = 1 - level[citizen] * kept
        if media:
            unlearnt *= 1 - media
        # The same product as NumPy's masked multiply: residents only, and only when someone is named.
        level[citizen] = unlearnt * naming if naming != 1.0 and resident[citizen] else unlearnt


@numba.njit(cache=True)
def _learnt(level: np.ndarray, listed: np.ndarray, listed_know: bool) -> None:
    """``level`` = 1 − what is not learnt; 1 for the listed if ``listed_know``."""
    for citizen in range(level.size):
        learnt = 1 - level[citizen]
        level[citizen] = 1.0 if listed_know and listed[citizen] else learnt


_NOBODY = np.empty(0, dtype=np.int64)


def knowledge_points(state: CitizenState, dynamics: DynamicsParams, baseline: Baseline) -> np.ndarray:
    """Points knowledge of punitive uses adds to perceived functions and fairness (≤ 0 above its t = 0 level)."""
    points = np.empty(state.n)
    _knowledge_points(state.punitive_knowledge, baseline.knowledge_start, baseline.information_class,
                      -dynamics.knowledge_drop, points)  # fmt: skip
    return points


@numba.njit(cache=True)
def _knowledge_points(
    knowledge: np.ndarray, start: np.ndarray, information_class: np.ndarray, scale: float, points: np.ndarray
) -> None:
    """``points = (knowledge − start[class]) × scale``, compiled: one pass for NumPy's three."""
    for citizen in range(points.size):
        points[citizen] = (knowledge[citizen] - start[information_class[citizen]]) * scale


def information_start(
    state: CitizenState, params: SimulationParams, conduct: np.ndarray, wrongful: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stationary t = 0 knowledge of punitive uses and memory of enforcement seen, by information class
    (``sim.baseline.calibrate_baseline`` stores them in ``Baseline``).

    The classes are resident + 2 × listed at t = 0. The listed know; for the
    others the level is the fixed point of fading and learning
    (``learn_of_enforcement``) at the mean monthly chance of learning under the
    t = 0 levers, a tie being newly listed with the residents' mean inflow
    (mean field: the chances of one citizen's ties are not tracked).

    Args:
        state, params: The t = 0 state (lists drawn) and parameters.
        conduct, wrongful: Each citizen's monthly chance of being listed for conduct and
            wrongly, if a resident (``sim.baseline.listing_inflows``).
    """
    levers, dynamics = params.levers, params.dynamics
    resident, listed = state.resident, state.listed
    classes = (resident.astype(np.int8) + 2 * listed.astype(np.int8)).astype(np.int8)
    unlisted = resident & ~listed
    new_share = float((conduct + wrongful)[unlisted].sum()) / max(int(resident.sum()), 1)
    deserved_share = float(conduct[unlisted].sum()) / max(int(resident.sum()), 1)
    resident_share = float(resident.mean())
    degree, tie = dynamics.network_degree, dynamics.tie_learning
    audience = levers.naming_audience if levers.sanction_breadth >= 3 else 0.0

    def fixed_points(share: float, media: float, decay: float) -> np.ndarray:
        from_ties = 1 - (1 - tie * share * resident_share) ** degree
        # Non-residents (class 0) and residents (class 1), who also see public naming.
        learn = 1 - (1 - media) * (1 - from_ties) * np.exp(-audience * share * np.array([0.0, 1.0]))
        return learn / (1 - (1 - decay) * (1 - learn))

    knowledge = fixed_points(new_share, dynamics.media_learning * levers.media_punitive_share, dynamics.knowledge_decay)
    enforcement = fixed_points(deserved_share, 0.0, dynamics.enforcement_decay)
    # A listed citizen is a resident: classes 2 and 3 are the listed (who know), whatever their memory of others.
    return classes, np.concatenate([knowledge, [1.0, 1.0]]), np.concatenate([enforcement, enforcement])
