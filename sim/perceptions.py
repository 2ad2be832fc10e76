"""Perception stage: experiences update the approval model's covariates.

Each rule is a documented assumption with a named parameter
(``sim.params.DynamicsParams``) and belongs to one channel
(``sim.params.Channels``); a switched-off channel holds its covariates at their
t = 0 values.

* benefits → ``advantages``: any benefit or redlist reward within the recall window.
* disadvantage → ``disadvantages``: any disadvantage (a sanction included) within the window.
* fairness → ``fairness``: falls by ``fairness_drop_wrongful`` when a citizen is
  listed without misconduct and by ``fairness_drop_peer`` per tie so listed;
  losses recover at ``fairness_recovery`` a month; published algorithms add
  ``fairness_transparency_gain``.
* transparency → ``transparency``: published algorithms add ``transparency_gain``.
* relative_score → ``relative_score``: moves with the citizen's score change
  relative to their ties' (``relative_sensitivity`` points per SD).
* awareness → ``gov_pilot_participant`` and ``received_info``: pilot residents
  learn of the pilot at a rate that keeps 11% aware at baseline, and forget at
  ``awareness_forgetting``; a sanctioned citizen is aware. Residents of newly
  covered localities who learn of their pilot have received information.
  Sanction notices do not count as "information about SCS" (the survey item
  is about information received), so they never raise ``received_info``.
* sanction_functions → perceived functions: a shift shared by the three
  functions drifts at ``functions_drift`` towards ``−sanction_function_drop``
  while sanctioned and back to 0 after.
* media_functions → perceived functions: the same shift's target moves by
  ``framing_sensitivity`` × media framing.
* punitive_knowledge → perceived functions and fairness: knowledge of punitive
  uses (0–1) rises with one's own listing (to 1), ties' new listings
  (``tie_learning`` each), public naming seen (``naming_audience`` residents per
  name under ``sanction_breadth`` 3) and state-media coverage of punitive uses
  (``media_learning`` × ``media_punitive_share``, Xu, Kostka & Cao 2022), and
  fades at ``knowledge_decay``. Each point of knowledge above its t = 0 level
  costs ``knowledge_drop`` points.
* visible_enforcement → perceived functions: the memory (0–1) of deserved
  listings seen (ties' listings for conduct, public naming of them) fades at
  ``enforcement_decay``; each point above its t = 0 level adds
  ``enforcement_gain`` points (Interview 5, Section 4.4), except to citizens
  who are listed themselves.

Survey experiments in silico (``sim.treatments``) set knowledge
(``repression_info``) or the memory of enforcement (``social_order_frame``)
to 1 for the treated.
"""

from __future__ import annotations

from collections.abc import Mapping

import numba
import numpy as np

from sim.network import place_means, tie_counts
from sim.params import Channels, DynamicsParams, PolicyLevers, SimulationParams
from sim.policy import Baseline, PolicyEvents, scratch
from sim.state import FUNCTION_RANGES, FUNCTIONS, CitizenState

# The behavioural assumptions (DynamicsParams) each channel's rule uses.
CHANNEL_PARAMETERS: dict[str, tuple[str, ...]] = {
    "disadvantage": ("recall_months",),
    "fairness": ("fairness_drop_wrongful", "fairness_drop_peer", "fairness_recovery", "fairness_transparency_gain",
                 "network_degree"),
    "relative_score": ("relative_sensitivity", "network_degree"),
    "awareness": ("awareness_forgetting",),
    "benefits": ("recall_months",),
    "transparency": ("transparency_gain",),
    "sanction_functions": ("sanction_function_drop", "functions_drift"),
    "media_functions": ("framing_sensitivity", "functions_drift"),
    "punitive_knowledge": ("knowledge_decay", "media_learning", "tie_learning", "knowledge_drop", "network_degree"),
    "visible_enforcement": ("enforcement_decay", "tie_learning", "enforcement_gain", "network_degree"),
}  # fmt: skip
FUNCTION_CHANNELS = ("sanction_functions", "media_functions", "punitive_knowledge", "visible_enforcement")
# Levers without which a channel has no input (it writes covariates other channels also write,
# so its own moving cannot be read from them): media framing is 0 unless a scenario sets it.
CHANNEL_INPUT_LEVERS: dict[str, tuple[str, ...]] = {"media_functions": ("media_framing",)}


def step_perceptions(
    state: CitizenState,
    events: PolicyEvents,
    levers: PolicyLevers,
    dynamics: DynamicsParams,
    channels: Channels,
    baseline: Baseline,
    rng: np.random.Generator,
    informed: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Update ``state.covariates`` in place from this month's events.

    ``informed`` maps an information treatment's kind (``sim.treatments.KINDS``)
    to the citizens it reaches this month (indices).
    """
    informed = informed or {}
    recall = dynamics.recall_months
    cov, base = state.covariates, state.baseline
    for months, happened, channel, name in (
        (state.months_since_advantage, events.advantage, channels.benefits, "advantages"),
        (state.months_since_disadvantage, events.disadvantage, channels.disadvantage, "disadvantages"),
    ):
        _count_months(months, happened, recall, cov[name], channel)

    if channels.transparency:
        gain = dynamics.transparency_gain * levers.algorithm_transparency
        # In float64 whatever the stored t = 0 dtype (sim.state.compact_copy: exact).
        np.add(base["transparency"], gain, out=cov["transparency"], dtype=np.float64)
        np.clip(cov["transparency"], 1, 3, out=cov["transparency"])

    # Before the knowledge points exist: the ties' mean needs four n-long arrays of its own (saves 8 B a citizen).
    if channels.relative_score:
        _perceive_relative_score(state, events, dynamics)

    listed = state.listed
    # Learning and fading come first: this month's knowledge moves this month's covariates.
    if channels.punitive_knowledge or channels.visible_enforcement:
        _learn_of_enforcement(state, events, levers, dynamics, channels, informed, listed)
    knowledge = _knowledge_points(state, dynamics, baseline) if channels.punitive_knowledge else None
    if channels.fairness or channels.punitive_knowledge:
        _perceive_fairness(state, events, levers, dynamics, channels.fairness, knowledge)

    # Drawn whether or not the channel is on, so that runs differing only in
    # their channels use the same random numbers (paired contrasts). Both go through
    # the policy stage's scratch array, in the order they were always drawn: saves two 8 MB arrays.
    u = scratch(state)
    rng.random(out=u)
    learn = state.resident & ~state.aware & (u < baseline.awareness_rate) if channels.awareness else None
    rng.random(out=u)
    if channels.awareness:
        sanctioned = listed
        forget = state.aware & state.resident & ~sanctioned & (u < dynamics.awareness_forgetting)
        state.aware = (state.aware | learn | sanctioned) & ~forget
        # Information campaigns reach the newly covered: residents of localities
        # added after 2018 who learn of their pilot have received information.
        # (At baseline coverage does not expand, so this stays stationary.)
        newly_informed = learn & ~sanctioned & ~state.initially_resident
        np.maximum(cov["received_info"], newly_informed, out=cov["received_info"])

    if any(getattr(channels, name) for name in FUNCTION_CHANNELS):
        _perceive_functions(state, levers, dynamics, channels, baseline, knowledge, listed)


@numba.njit(cache=True)
def _count_months(months: np.ndarray, happened: np.ndarray, recall: int, recalled: np.ndarray, write: bool) -> None:
    """Months since the event (0 if it happened this month) and, if ``write``, whether within ``recall``.

    Compiled: one pass per timer, in place, instead of an increment, a masked reset and
    a comparison (~8 → <1 ms a month at a million citizens).
    """
    for citizen in range(months.size):
        since = 0 if happened[citizen] else months[citizen] + 1
        months[citizen] = since
        if write:
            recalled[citizen] = since < recall


def _perceive_fairness(
    state: CitizenState,
    events: PolicyEvents,
    levers: PolicyLevers,
    dynamics: DynamicsParams,
    fairness_channel: bool,
    knowledge: np.ndarray | None,
) -> None:
    """Own and ties' wrongful listings lower fairness; losses recover; transparency adds; knowledge costs."""
    fairness = state.covariates["fairness"]
    if not fairness_channel:
        # Only knowledge of punitive uses moves it.
        np.add(state.baseline["fairness"], knowledge, out=fairness, dtype=np.float64)
        np.clip(fairness, 1, 4, out=fairness)
        return
    loss = state.fairness_loss
    loss *= 1 - dynamics.fairness_recovery
    wrongful = events.newly_wrongly_listed
    listed_wrongly = np.flatnonzero(wrongful)
    # Most citizens gain no loss this month (adding 0.0 changes no bit): only those
    # listed wrongly and those naming them are updated, not every citizen's ties.
    if listed_wrongly.size:
        naming, counts = tie_counts(state.network, listed_wrongly)
        hit = np.union1d(listed_wrongly, naming)
        peer = np.zeros(hit.size, dtype=np.int64)
        peer[np.searchsorted(hit, naming)] = counts
        loss[hit] += dynamics.fairness_drop_wrongful * wrongful[hit] + dynamics.fairness_drop_peer * peer
    gain = dynamics.fairness_transparency_gain * levers.algorithm_transparency
    np.add(state.baseline["fairness"], gain, out=fairness, dtype=np.float64)
    np.subtract(fairness, loss, out=fairness)
    if knowledge is not None:
        np.add(fairness, knowledge, out=fairness)
    np.clip(fairness, 1, 4, out=fairness)


def _perceive_relative_score(state: CitizenState, events: PolicyEvents, dynamics: DynamicsParams) -> None:
    """Own score change against the ties' mean change, for Sesame/Tencent users."""
    # The scores have not moved since the policy stage: reuse its latents.
    latent = state.best_latent() if events.best_latent is None else events.best_latent
    network = state.network
    _relative_scores(
        latent,
        state.initial_latent,
        network.order,
        network.offsets,
        dynamics.relative_sensitivity,
        state.baseline["relative_score"],
        state.sesame_or_tencent,
        state.covariates["relative_score"],
    )


@numba.njit(cache=True)
def _relative_scores(
    latent: np.ndarray,
    initial_latent: np.ndarray,
    network_order: np.ndarray,
    offsets: np.ndarray,
    sensitivity: float,
    start: np.ndarray,
    users: np.ndarray,
    relative_score: np.ndarray,
) -> None:
    """Users' relative score: t = 0 value + sensitivity × (own change − ties' mean change), clipped to 1–5.

    Compiled, with the changes read in the network's place order (``sim.network.place_means``):
    no n-long arrays of changes and means in citizen order (~37 → ~23 ms a month at a million
    citizens; the random reads and writes between the two orders take most of what is left).
    Others keep their t = 0 value, which this channel is the only one to write.
    """
    n = network_order.size
    placed = np.empty(n)
    for place in range(n):
        citizen = network_order[place]
        placed[place] = latent[citizen] - initial_latent[citizen]
    means = np.empty(n)
    place_means(placed, offsets, means)
    # A pass of its own: the random writes, mixed into the means' loop, stall it.
    for place in range(n):
        citizen = network_order[place]
        if users[citizen]:
            # The t = 0 value in float64 whatever its stored dtype (sim.state.compact_copy: exact).
            moved = np.float64(start[citizen]) + (placed[place] - means[place]) * sensitivity
            # np.clip's result, NaN included.
            if moved < 1.0:
                moved = 1.0
            elif moved > 5.0:
                moved = 5.0
            relative_score[citizen] = moved


def _learn_of_enforcement(
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


def _knowledge_points(state: CitizenState, dynamics: DynamicsParams, baseline: Baseline) -> np.ndarray:
    """Points knowledge of punitive uses adds to perceived functions and fairness (≤ 0 above its t = 0 level)."""
    # The t = 0 levels gathered into the result's own array: no 8 MB temporary.
    points = np.take(baseline.knowledge_start, baseline.information_class, out=np.empty(state.n))
    np.subtract(state.punitive_knowledge, points, out=points)
    return np.multiply(points, -dynamics.knowledge_drop, out=points)


def _perceive_functions(
    state: CitizenState,
    levers: PolicyLevers,
    dynamics: DynamicsParams,
    channels: Channels,
    baseline: Baseline,
    knowledge: np.ndarray | None,
    listed: np.ndarray,
) -> None:
    """Perceived functions: the t = 0 value, plus the drifting shift, plus the information points, clipped.

    The information points are knowledge's plus enforcement's, added to the shift in that order.
    """
    shift = state.function_shift
    # The target, then the enforcement points, go through the policy stage's scratch array (no 8 MB array each).
    work = scratch(state)
    if channels.sanction_functions or channels.media_functions:
        framing = dynamics.framing_sensitivity * levers.media_framing if channels.media_functions else 0.0
        target = work
        target.fill(framing)
        if channels.sanction_functions:
            np.subtract(target, dynamics.sanction_function_drop, out=target, where=listed)
        np.subtract(target, shift, out=target)
        np.multiply(target, dynamics.functions_drift, out=target)
        np.add(shift, target, out=shift)
    offset = knowledge
    if channels.visible_enforcement:
        enforcement = np.take(baseline.enforcement_start, baseline.information_class, out=work)
        np.subtract(state.enforcement_seen, enforcement, out=enforcement)
        np.multiply(enforcement, dynamics.enforcement_gain, out=enforcement)
        # Interview 5's route is a bystander's: seeing others punished builds no trust in the punished.
        enforcement[listed] = 0.0
        offset = enforcement if offset is None else np.add(offset, enforcement, out=offset)
    moved = shift if offset is None else np.add(shift, offset, out=offset)
    for name in FUNCTIONS:
        low, high = FUNCTION_RANGES[name]
        np.add(state.baseline[name], moved, out=state.covariates[name], dtype=np.float64)
        np.clip(state.covariates[name], low, high, out=state.covariates[name])


def information_start(
    state: CitizenState, params: SimulationParams, conduct: np.ndarray, wrongful: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stationary t = 0 knowledge of punitive uses and memory of enforcement seen, by information class
    (``sim.baseline.calibrate_baseline`` stores them in ``Baseline``).

    The classes are resident + 2 × listed at t = 0. The listed know; for the
    others the level is the fixed point of fading and learning
    (``_learn_of_enforcement``) at the mean monthly chance of learning under the
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
