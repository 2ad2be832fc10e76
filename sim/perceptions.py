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
  fades at ``knowledge_decay`` (``sim.information``). Each point of knowledge
  above its t = 0 level costs ``knowledge_drop`` points.
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

from sim.draws import Streams, uniforms_below
from sim.information import knowledge_points, learn_of_enforcement
from sim.network import place_means, tie_counts
from sim.params import Channels, DynamicsParams, PolicyLevers
from sim.policy import Baseline, PolicyEvents
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
    streams: Streams,
    informed: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Update ``state.covariates`` in place from this month's events (awareness draws from ``streams``).

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
        # Only this channel writes it, so while the gain stays the values do (saves ~1 ms a month).
        if state.group_cache.get("transparency_gain") != gain:
            # In float64 whatever the stored t = 0 dtype (sim.state.compact_copy: exact).
            np.add(base["transparency"], gain, out=cov["transparency"], dtype=np.float64)
            np.clip(cov["transparency"], 1, 3, out=cov["transparency"])
            state.group_cache["transparency_gain"] = gain

    # Before the knowledge points exist: the ties' mean needs two n-long arrays of its own (saves 8 B a citizen).
    if channels.relative_score:
        _perceive_relative_score(state, events, dynamics)

    listed = state.listed
    # Learning and fading come first: this month's knowledge moves this month's covariates.
    if channels.punitive_knowledge or channels.visible_enforcement:
        learn_of_enforcement(state, events, levers, dynamics, channels, informed, listed)
    knowledge = knowledge_points(state, dynamics, baseline) if channels.punitive_knowledge else None
    if channels.fairness or channels.punitive_knowledge:
        _perceive_fairness(state, events, levers, dynamics, channels.fairness, knowledge)

    # Drawn whether or not the channel is on, so that runs differing only in
    # their channels use the same random numbers (paired contrasts). Each ceiling is its
    # rule's rate, so every citizen drawn below it learns (or forgets) if the rule applies.
    learners = uniforms_below(streams.learn, state.n, baseline.awareness_rate).citizens
    forgetters = uniforms_below(streams.forget, state.n, dynamics.awareness_forgetting).citizens
    if channels.awareness:
        aware, resident = state.aware, state.resident
        learners = learners[resident[learners] & ~aware[learners]]
        forgetters = forgetters[aware[forgetters] & resident[forgetters] & ~listed[forgetters]]
        # (aware | learn | sanctioned) & ~forget: the forgetters are unsanctioned and were aware, the learners not.
        aware = aware | listed
        aware[learners] = True
        aware[forgetters] = False
        state.aware = aware
        # Information campaigns reach the newly covered: residents of localities
        # added after 2018 who learn of their pilot have received information.
        # (At baseline coverage does not expand, so this stays stationary.)
        newly_informed = learners[~listed[learners] & ~state.initially_resident[learners]]
        cov["received_info"][newly_informed] = 1

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
    no_points = fairness[:0]
    _fairness(state.baseline["fairness"], gain, loss, no_points if knowledge is None else knowledge, fairness)


@numba.njit(cache=True)
def _fairness(start: np.ndarray, gain: float, loss: np.ndarray, knowledge: np.ndarray, fairness: np.ndarray) -> None:
    """``fairness = clip(start + gain − loss (+ knowledge's points), 1, 4)``; an empty ``knowledge`` is none.

    Compiled, one pass for NumPy's four, in their order of operations (~1.5 ms a month less at a million).
    """
    knows = knowledge.size > 0
    for citizen in range(fairness.size):
        # The t = 0 value in float64 whatever its stored dtype (sim.state.compact_copy: exact).
        value = np.float64(start[citizen]) + gain - loss[citizen]
        if knows:
            value += knowledge[citizen]
        fairness[citizen] = _clipped(value, 1.0, 4.0)


def _perceive_relative_score(state: CitizenState, events: PolicyEvents, dynamics: DynamicsParams) -> None:
    """Own score change against the ties' mean change, for Sesame/Tencent users."""
    # The scores have not moved since the policy stage: reuse its latents.
    latent = state.best_latent() if events.best_latent is None else events.best_latent
    network = state.network
    if state.group_cache.get("in_place_order") is not network:
        if not np.array_equal(network.order, np.arange(state.n)):
            raise ValueError("relative score: citizens must be stored in the network's order (sim.state.initial_state)")
        state.group_cache["in_place_order"] = network
    _relative_scores(
        latent,
        state.initial_latent,
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
    offsets: np.ndarray,
    sensitivity: float,
    start: np.ndarray,
    users: np.ndarray,
    relative_score: np.ndarray,
) -> None:
    """Users' relative score: t = 0 value + sensitivity × (own change − ties' mean change), clipped to 1–5.

    Compiled, for citizens stored in the network's order: each citizen's ties lie within
    ``reach`` of it, so the ties' changes are read from cache and everything else in sequence
    (~37 ms a month at a million citizens as NumPy arrays, ~14 with citizens in the order they
    were drawn, ~7 in the network's). Others keep their t = 0 value, which this channel is the only one to write.
    """
    changes = np.empty(latent.size)
    for citizen in range(latent.size):
        changes[citizen] = latent[citizen] - initial_latent[citizen]
    means = np.empty(latent.size)
    place_means(changes, offsets, means)
    # A pass of its own: written in the means' loop, the same work took twice as long (12.8 against 6.2 ms).
    for citizen in range(latent.size):
        # The t = 0 value in float64 whatever its stored dtype (sim.state.compact_copy: exact).
        moved = _clipped(np.float64(start[citizen]) + (changes[citizen] - means[citizen]) * sensitivity, 1.0, 5.0)
        # A select, not a branch: users are about 60% of citizens, in no order.
        relative_score[citizen] = moved if users[citizen] else relative_score[citizen]


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
    framing = dynamics.framing_sensitivity * levers.media_framing if channels.media_functions else 0.0
    drop = dynamics.sanction_function_drop if channels.sanction_functions else 0.0
    no_points = state.function_shift[:0]
    (first, second, third), (low, high) = FUNCTIONS, np.array([FUNCTION_RANGES[name] for name in FUNCTIONS]).T
    _move_functions(
        state.function_shift,
        listed,
        channels.sanction_functions or channels.media_functions,
        framing,
        drop,
        dynamics.functions_drift,
        no_points if knowledge is None else knowledge,
        state.enforcement_seen if channels.visible_enforcement else no_points,
        baseline.enforcement_start,
        baseline.information_class,
        dynamics.enforcement_gain,
        (state.baseline[first], state.baseline[second], state.baseline[third]),
        (state.covariates[first], state.covariates[second], state.covariates[third]),
        low.astype(np.float64),
        high.astype(np.float64),
    )


@numba.njit(cache=True)
def _move_functions(
    shift: np.ndarray,
    listed: np.ndarray,
    drifts: bool,
    framing: float,
    drop: float,
    drift: float,
    knowledge: np.ndarray,
    enforcement_seen: np.ndarray,
    enforcement_start: np.ndarray,
    information_class: np.ndarray,
    gain: float,
    starts: tuple,
    functions: tuple,
    low: np.ndarray,
    high: np.ndarray,
) -> None:
    """Each citizen's shift drifts towards its target (framing, less ``drop`` while listed); the
    functions are their t = 0 value plus the shift, knowledge's points and enforcement's, clipped.
    An empty ``knowledge`` (points) or ``enforcement_seen`` is a channel switched off.

    Compiled, one pass: the same operations in the same order as NumPy's array by array, with
    no n-long target or enforcement points (~7.5 → ~4.5 ms a month at a million citizens).
    """
    knows, sees = knowledge.size > 0, enforcement_seen.size > 0
    for citizen in range(shift.size):
        if drifts:
            target = framing - drop if listed[citizen] else framing
            shift[citizen] += (target - shift[citizen]) * drift
        moved = shift[citizen]
        if knows or sees:
            if sees:
                # Interview 5's route is a bystander's: seeing others punished builds no trust in the punished.
                seen = (enforcement_seen[citizen] - enforcement_start[information_class[citizen]]) * gain
                # A select, not a branch on who is listed.
                points = 0.0 if listed[citizen] else seen
                offset = knowledge[citizen] + points if knows else points
            else:
                offset = knowledge[citizen]
            moved = shift[citizen] + offset
        # The t = 0 values in float64 whatever their stored dtype (sim.state.compact_copy: exact).
        functions[0][citizen] = _clipped(np.float64(starts[0][citizen]) + moved, low[0], high[0])
        functions[1][citizen] = _clipped(np.float64(starts[1][citizen]) + moved, low[1], high[1])
        functions[2][citizen] = _clipped(np.float64(starts[2][citizen]) + moved, low[2], high[2])


@numba.njit(cache=True, inline="always")
def _clipped(value: float, low: float, high: float) -> float:
    """np.clip's result, NaN included."""
    # Two selects rather than branches on random data (mispredicted branches cost ~20 ms a month).
    value = low if value < low else value
    return high if value > high else value
