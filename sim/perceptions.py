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

from sim.params import Channels, DynamicsParams, PolicyLevers
from sim.policy import Baseline, PolicyEvents
from sim.state import FUNCTION_RANGES, FUNCTIONS, CitizenState

# The approval model's covariates each channel moves (and holds at t = 0 when off).
CHANNEL_COVARIATES: dict[str, tuple[str, ...]] = {
    "disadvantage": ("disadvantages",),
    "fairness": ("fairness",),
    "relative_score": ("relative_score",),
    "awareness": ("received_info",),
    "benefits": ("advantages",),
    "transparency": ("transparency",),
    "framing": FUNCTIONS,
}
# Every covariate a channel moves, channel by channel (the others never change).
MOVABLE_COVARIATES = tuple(name for names in CHANNEL_COVARIATES.values() for name in names)
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
    state.months_since_advantage = np.where(events.advantage, 0, state.months_since_advantage + 1).astype(np.int32)
    state.months_since_disadvantage = np.where(events.disadvantage, 0, state.months_since_disadvantage + 1).astype(
        np.int32
    )
    if channels.benefits:
        cov["advantages"] = (state.months_since_advantage < recall).astype(float)
    if channels.disadvantage:
        cov["disadvantages"] = (state.months_since_disadvantage < recall).astype(float)

    if channels.fairness:
        wrongful = events.newly_wrongly_listed
        # Most months nobody is listed wrongly: then no tie is, without gathering them.
        peer = wrongful[state.ties].sum(axis=1) if wrongful.any() else np.zeros(state.n, dtype=np.int64)
        loss = (1 - dynamics.fairness_recovery) * state.fairness_loss
        loss += dynamics.fairness_drop_wrongful * events.newly_wrongly_listed + dynamics.fairness_drop_peer * peer
        state.fairness_loss = loss
        gain = dynamics.fairness_transparency_gain * levers.algorithm_transparency
        cov["fairness"] = np.clip(base["fairness"] + gain - loss, 1, 4)

    if channels.transparency:
        gain = dynamics.transparency_gain * levers.algorithm_transparency
        cov["transparency"] = np.clip(base["transparency"] + gain, 1, 3)

    if channels.relative_score:
        # The scores have not moved since the policy stage: reuse its latents.
        latent = state.best_latent() if events.best_latent is None else events.best_latent
        change = latent - state.initial_latent
        relative = change - change[state.ties].mean(axis=1)
        moved = base["relative_score"] + dynamics.relative_sensitivity * relative
        cov["relative_score"] = np.where(state.sesame_or_tencent, np.clip(moved, 1, 5), base["relative_score"])

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
        cov["received_info"] = np.maximum(cov["received_info"], newly_informed)

    if channels.framing:
        sanctioned = state.listed
        for name in FUNCTIONS:
            low, high = FUNCTION_RANGES[name]
            target = base[name] + dynamics.framing_sensitivity * levers.media_framing
            target = target - dynamics.sanction_function_drop * sanctioned
            moved = cov[name] + dynamics.functions_drift * (target - cov[name])
            cov[name] = np.clip(moved, low, high)
