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
* framing → perceived functions: drift at ``functions_drift`` towards their
  t = 0 value plus ``framing_sensitivity`` × media framing, minus
  ``sanction_function_drop`` while sanctioned.
"""

from __future__ import annotations

import numpy as np

from sim.network import tie_counts, tie_means
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
    "framing": ("framing_sensitivity", "sanction_function_drop", "functions_drift"),
}  # fmt: skip


def step_perceptions(
    state: CitizenState,
    events: PolicyEvents,
    levers: PolicyLevers,
    dynamics: DynamicsParams,
    channels: Channels,
    baseline: Baseline,
    rng: np.random.Generator,
) -> None:
    """Update ``state.covariates`` in place from this month's events."""
    recall = dynamics.recall_months
    cov, base = state.covariates, state.baseline
    # In place (one array per timer): saves two 4 MB and two 8 MB temporaries a month at a million citizens.
    for months, happened in (
        (state.months_since_advantage, events.advantage),
        (state.months_since_disadvantage, events.disadvantage),
    ):
        months += 1
        months[happened] = 0
    if channels.benefits:
        np.less(state.months_since_advantage, recall, out=cov["advantages"])
    if channels.disadvantage:
        np.less(state.months_since_disadvantage, recall, out=cov["disadvantages"])

    if channels.fairness:
        _perceive_fairness(state, events, levers, dynamics)

    if channels.transparency:
        gain = dynamics.transparency_gain * levers.algorithm_transparency
        # In float64 whatever the stored t = 0 dtype (sim.state.compact_copy: exact).
        np.add(base["transparency"], gain, out=cov["transparency"], dtype=np.float64)
        np.clip(cov["transparency"], 1, 3, out=cov["transparency"])

    if channels.relative_score:
        _perceive_relative_score(state, events, dynamics)

    # Drawn whether or not the channel is on, so that runs differing only in
    # their channels use the same random numbers (paired contrasts).
    u_learn, u_forget = rng.random(state.n), rng.random(state.n)
    if channels.awareness:
        sanctioned = state.listed
        learn = state.resident & ~state.aware & (u_learn < baseline.awareness_rate)
        forget = state.aware & state.resident & ~sanctioned & (u_forget < dynamics.awareness_forgetting)
        state.aware = (state.aware | learn | sanctioned) & ~forget
        # Information campaigns reach the newly covered: residents of localities
        # added after 2018 who learn of their pilot have received information.
        # (At baseline coverage does not expand, so this stays stationary.)
        newly_informed = learn & ~sanctioned & ~state.initially_resident
        np.maximum(cov["received_info"], newly_informed, out=cov["received_info"])

    if channels.framing:
        sanctioned = state.listed
        # One scratch array for the three functions: saves ~15 8-MB temporaries a month.
        target = np.empty(state.n)
        for name in FUNCTIONS:
            low, high = FUNCTION_RANGES[name]
            np.add(base[name], dynamics.framing_sensitivity * levers.media_framing, out=target, dtype=np.float64)
            # target − drop × sanctioned: subtracting 0.0 leaves the others' bits as they are.
            np.subtract(target, dynamics.sanction_function_drop, out=target, where=sanctioned)
            np.subtract(target, cov[name], out=target)
            np.multiply(target, dynamics.functions_drift, out=target)
            np.add(cov[name], target, out=target)
            np.clip(target, low, high, out=cov[name])


def _perceive_fairness(
    state: CitizenState, events: PolicyEvents, levers: PolicyLevers, dynamics: DynamicsParams
) -> None:
    """Own and ties' wrongful listings lower fairness; losses recover; transparency adds."""
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
    fairness = state.covariates["fairness"]
    np.add(state.baseline["fairness"], gain, out=fairness, dtype=np.float64)
    np.subtract(fairness, loss, out=fairness)
    np.clip(fairness, 1, 4, out=fairness)


def _perceive_relative_score(state: CitizenState, events: PolicyEvents, dynamics: DynamicsParams) -> None:
    """Own score change against the ties' mean change, for Sesame/Tencent users."""
    # The scores have not moved since the policy stage: reuse its latents.
    latent = state.best_latent() if events.best_latent is None else events.best_latent
    change = np.subtract(latent, state.initial_latent)
    ties_mean = tie_means(state.network, change)
    relative = np.subtract(change, ties_mean, out=change)
    # In place: saves three 8 MB temporaries a month at a million citizens.
    moved = np.multiply(relative, dynamics.relative_sensitivity, out=relative)
    np.add(state.baseline["relative_score"], moved, out=moved, dtype=np.float64)
    np.clip(moved, 1, 5, out=moved)
    # Others keep their t = 0 value, which this channel is the only one to write.
    np.copyto(state.covariates["relative_score"], moved, where=state.sesame_or_tencent)
