"""The information states: knowledge of punitive uses and the memory of deserved punishment seen.

Two per-citizen levels between 0 and 1 that fade and are learnt from sources
(one's own listing, ties' new listings, public naming, state media); the
perception stage (``sim.perceptions``) turns their departures from the t = 0
levels into points on the perceived functions and fairness. The rules and
their sources are in ``sim.perceptions``' docstring and ``sim/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

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
        # The complement, 1 − level, is what each source multiplies: one array, updated in place.
        unlearnt = np.multiply(level, 1 - decay, out=level)
        np.subtract(1, unlearnt, out=unlearnt)
        if media:
            unlearnt *= 1 - media
        if named and sources.size and levers.naming_audience > 0:
            unlearnt[state.resident] *= np.exp(-levers.naming_audience * sources.size / residents)
        if sources.size and dynamics.tie_learning > 0:
            naming, counts = tie_counts(state.network, sources)
            unlearnt[naming] *= (1 - dynamics.tie_learning) ** counts
        np.subtract(1, unlearnt, out=level)
        if kind == "repression_info":
            # The sanctioned know.
            level[listed] = 1
        level[informed.get(kind, _NOBODY)] = 1


_NOBODY = np.empty(0, dtype=np.int64)


def knowledge_points(state: CitizenState, dynamics: DynamicsParams, baseline: Baseline) -> np.ndarray:
    """Points knowledge of punitive uses adds to perceived functions and fairness (≤ 0 above its t = 0 level)."""
    # The t = 0 levels gathered into the result's own array: no 8 MB temporary.
    points = np.take(baseline.knowledge_start, baseline.information_class, out=np.empty(state.n))
    np.subtract(state.punitive_knowledge, points, out=points)
    return np.multiply(points, -dynamics.knowledge_drop, out=points)


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
