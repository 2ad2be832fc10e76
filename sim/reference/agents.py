"""One ``mesa.Agent`` per citizen: the engine's monthly rules written for one citizen at a time.

Every method mirrors one vectorised engine function (named in its docstring)
with plain Python scalars. A month is a three-phase synchronous update:

* ``move`` (scores) reads only the citizen's own state and their own conduct
  shock; the model then draws the month's listing numbers for those who
  defaulted and those in the top pilot decile (``sim.draws.listing_draws``);
* ``step`` (policy) reads only the citizen's own state and their own element
  of the month's random draws;
* ``advance`` (perceptions and approval) also reads what the citizen's ties
  published in ``step`` (whether they were wrongly listed, how far their
  score moved), so every citizen must have finished ``step`` first.

The order in which citizens run within a phase therefore cannot matter, which
is why the model drives them with ``shuffle_do``.

Bit-identity with the engine depends on doing each floating-point operation
in the engine's order; the few places where that is not obvious say so.
"""

from __future__ import annotations

import bisect
import itertools
import math
import weakref
from typing import Any

import mesa
import numpy as np
from scipy.special import ndtr

from sim.experiences import (
    BENEFIT_FREQUENCY,
    BLOCKED_BY_CREDIT_RESTRICTION,
    BLOCKED_BY_TRAVEL_BAN,
    LOW_SCORE_DISADVANTAGE_BOOST,
)
from sim.params import ADVANTAGE_TYPES
from sim.perceptions import FUNCTION_CHANNELS
from sim.policy import REDLIST_MONTHS, TOP_SCORE_LATENT
from sim.state import FUNCTION_RANGES, FUNCTIONS


class _CountersPerModel(weakref.WeakKeyDictionary):
    """Mesa's per-model id counters, held weakly.

    ``mesa.Agent._ids`` is a class-level ``defaultdict`` keyed by model, which
    keeps every model that ever created an agent (and through it all its
    agents) alive for the life of the process. Keyed weakly, a dropped
    reference model is freed like any other object.
    """

    def __getitem__(self, model: mesa.Model) -> Any:
        try:
            return super().__getitem__(model)
        except KeyError:
            counter = itertools.count(1)
            self[model] = counter
            return counter


def clip(value: float, low: float, high: float) -> float:
    """``np.clip`` for one value (as a float, whichever bound applies)."""
    return float(min(max(value, low), high))


def interpolate(x: float, xp: list[float], fp: list[float]) -> float:
    """``np.interp`` for one point, with the same arithmetic (slope × (x − xₖ) + fₖ)."""
    if x >= xp[-1]:
        return fp[-1]
    if x < xp[0]:
        return fp[0]
    k = bisect.bisect_right(xp, x) - 1
    if x == xp[k]:
        return fp[k]
    slope = (fp[k + 1] - fp[k]) / (xp[k + 1] - xp[k])
    return slope * (x - xp[k]) + fp[k]


class Citizen(mesa.Agent):
    """One citizen: scores, list status, experiences, covariates and approval.

    The t = 0 values are scalars copied from the engine's ``CitizenState`` at
    position ``index`` (``ReferenceModel._create_citizens``).

    Attributes:
        index: Position in the engine's arrays and in every monthly draw.
        ties: The citizens this citizen names (``CitizenState.ties``).
        uses_sesame, uses_tencent, sesame_or_tencent, commercial, urban: Fixed traits.
        sesame_level, sesame_deviation, tencent_level, tencent_deviation, pilot_level,
            pilot_deviation: The three score latents (``sim.scores.ScoreState``).
        initial_latent, latent, score_change: Best latent at t = 0 and now, and their difference.
        pilot_order, resident, initially_resident, aware: Pilot coverage and awareness.
        listed_months_left, wrongly_listed, newly_wrongly_listed, sanctions, redlisted_months_left: Lists.
        advantage_scale, disadvantage_scale: Calibrated rate scales (``sim.policy.Baseline``).
        benefits_this_month, advantage, disadvantage: This month's experiences (benefits in
            the order of ``ADVANTAGE_TYPES``).
        months_since_advantage, months_since_disadvantage, fairness_loss: Perception memory.
        function_shift, punitive_knowledge, enforcement_seen: The perceived functions' drift,
            knowledge of punitive uses and memory of deserved punishment seen.
        knowledge_start, enforcement_start: Their t = 0 levels (``sim.policy.Baseline``).
        newly_listed, newly_deservedly_listed: Published in ``step`` for the ties to read.
        covariates, baseline: The approval model's regressors, now and at t = 0.
        approval_latent, fixed_xb, approval: Persistent logistic draw, the unmoving part of xβ, category 1–5.
    """

    _ids = _CountersPerModel()
    # The model is a ``sim.reference.model.ReferenceModel``; naming its class here
    # would make the two modules import each other.
    model: mesa.Model

    def __init__(self, model: mesa.Model, index: int, attributes: dict[str, Any]) -> None:
        """Create the citizen and register it with the model.

        Args:
            model: The reference model.
            index: Position in the engine's arrays, and in every monthly draw.
            attributes: Attribute name → t = 0 value (see ``ReferenceModel``).
        """
        super().__init__(model)
        self.index = index
        self.ties: list[Citizen] = []
        for name, value in attributes.items():
            setattr(self, name, value)
        self.benefits_this_month = [False] * len(ADVANTAGE_TYPES)
        self.advantage = self.disadvantage = self.newly_wrongly_listed = False
        self.newly_listed = self.newly_deservedly_listed = self.defaulted = False
        self.latent = self.best_latent()
        self.score_change = self.latent - self.initial_latent
        self.fixed_xb = self.linear_predictor(self.model.fixed_terms, 0.0)
        self.approval = self.approve()

    @property
    def listed(self) -> bool:
        return self.listed_months_left > 0

    # --- scores -----------------------------------------------------------

    def move_score(self, system: str, shock: float) -> None:
        """``sim.scores.move_scores``: the transitory deviation's AR(1) step."""
        p = self.model.params.scores
        scale = np.sqrt(1 - p.persistence**2) * np.sqrt(p.deviation_share)
        deviation = getattr(self, f"{system}_deviation")
        setattr(self, f"{system}_deviation", p.persistence * deviation + scale * shock)

    def step_scores(self) -> bool:
        """``SCSEngine.step`` score part and ``sim.scores.step_scores``: returns whether this month is a default."""
        shock = self.model.draws["shock"][self.index]
        p = self.model.params.scores
        defaulted = False
        if p.default_rate > 0:
            # (g·m) / √(1 − s²), grouped as the engine groups it: the other grouping can
            # differ in the last bit and flip a shock lying exactly at the threshold.
            defaulted = shock < self.model.default_intercept - p.default_gradient * self.sesame_level / np.sqrt(
                1 - p.deviation_share
            )
        for system in ("sesame", "tencent", "pilot"):
            self.move_score(system, shock)
        return bool(defaulted)

    def best_latent(self) -> float:
        """``CitizenState.best_latent``: the better of the user's systems (Sesame for non-users)."""
        sesame = self.sesame_level + self.sesame_deviation
        tencent = self.tencent_level + self.tencent_deviation
        latent = sesame if self.uses_sesame else -math.inf
        if self.uses_tencent:
            latent = max(latent, tencent)
        return latent if math.isfinite(latent) else sesame

    def equivalent_score(self) -> float:
        """``sim.policy.equivalent_score``: the best latent on the Sesame scale (same quantile)."""
        # scipy's ndtr on one float is the engine's ufunc on one element.
        return interpolate(float(ndtr(self.latent)), self.model.sesame_quantiles, self.model.sesame_edges)

    # --- policy -----------------------------------------------------------

    def step_lists(self, defaulted: bool) -> None:
        """``sim.policy.step_policy``, coverage and lists: delisting, new black- and redlistings, sanctions."""
        levers = self.model.levers
        draws = self.model.draws
        if levers.pilot_coverage is not None:
            self.resident = self.pilot_order < levers.pilot_coverage
        self.listed_months_left = max(self.listed_months_left - 1, 0)
        self.wrongly_listed = self.wrongly_listed and self.listed
        eligible = self.resident and not self.listed
        u = draws["listing"][self.index]
        conduct = eligible and defaulted and u < levers.blacklist_rate
        wrongful = eligible and not defaulted and u < levers.false_positive_rate
        if conduct or wrongful:
            self.listed_months_left = levers.delisting_months
        self.wrongly_listed = self.wrongly_listed or wrongful
        self.newly_wrongly_listed = bool(wrongful)
        self.newly_listed = bool(conduct or wrongful)
        self.newly_deservedly_listed = bool(conduct)
        self.sanctions = levers.sanction_breadth if self.listed else 0
        self.redlisted_months_left = max(self.redlisted_months_left - 1, 0)
        if self.resident and self.in_top_pilot_decile() and not self.listed and self.redlisted_months_left == 0:
            if draws["redlist"][self.index] < levers.redlist_rate:
                self.redlisted_months_left = REDLIST_MONTHS
        if self.listed:
            self.redlisted_months_left = 0

    def eligible_for(self, benefit: str, score: float) -> bool:
        """``sim.policy.benefit_eligibility`` for one type: a user above its threshold whom no sanction blocks."""
        if not (self.sesame_or_tencent and score >= getattr(self.model.levers, f"threshold_{benefit}")):
            return False
        if benefit in BLOCKED_BY_TRAVEL_BAN and self.listed and self.sanctions >= 1:
            return False
        return not (benefit in BLOCKED_BY_CREDIT_RESTRICTION and self.listed and self.sanctions >= 2)

    def benefit_chance(self, benefit: str) -> float:
        """``sim.experiences.benefit_chances`` for one type: min(scale × availability × frequency × generosity, 1)."""
        levers = self.model.levers
        place = "urban" if self.urban else "rural"
        weight = getattr(levers, f"{place}_{benefit}") * BENEFIT_FREQUENCY[benefit] * levers.benefit_generosity
        return min(self.advantage_scale * weight, 1.0)

    def disadvantage_hazard(self, score: float) -> float:
        """``sim.policy.disadvantage_hazard``: certain while listed, else the scaled commercial weight."""
        if self.listed:
            return 1.0
        levers = self.model.levers
        low = score < levers.disadvantage_threshold
        weight = (1 + LOW_SCORE_DISADVANTAGE_BOOST * low) * levers.disadvantage_intensity * self.sesame_or_tencent
        return min(self.disadvantage_scale * weight, 1.0)

    def step_experiences(self) -> None:
        """``sim.policy.step_policy``, experiences: benefits by type, any advantage, a disadvantage."""
        draws = self.model.draws
        score = self.equivalent_score()
        self.benefits_this_month = [
            self.eligible_for(benefit, score) and draws["benefits"][self.index][row] < self.benefit_chance(benefit)
            for row, benefit in enumerate(ADVANTAGE_TYPES)
        ]
        self.advantage = any(self.benefits_this_month) or self.redlisted_months_left > 0
        self.disadvantage = draws["disadvantage"][self.index] < self.disadvantage_hazard(score)

    def move(self) -> None:
        """First phase of a month: ``sim.scores`` (own state only); whether this month is a default."""
        self.defaulted = self.step_scores()

    def in_top_pilot_decile(self) -> bool:
        """Whether the pilot score is in its top decile, which redlists reward."""
        return self.pilot_level + self.pilot_deviation >= TOP_SCORE_LATENT

    def step(self) -> None:
        """Second phase of a month: ``sim.policy.step_policy`` (own state only)."""
        self.step_lists(self.defaulted)
        self.latent = self.best_latent()
        self.score_change = self.latent - self.initial_latent
        self.step_experiences()

    # --- perceptions ------------------------------------------------------

    def perceive_experiences(self) -> None:
        """``sim.perceptions.step_perceptions``, benefits and disadvantage channels (recall window)."""
        recall = self.model.params.dynamics.recall_months
        channels = self.model.params.channels
        self.months_since_advantage = 0 if self.advantage else self.months_since_advantage + 1
        self.months_since_disadvantage = 0 if self.disadvantage else self.months_since_disadvantage + 1
        if channels.benefits:
            self.covariates["advantages"] = float(self.months_since_advantage < recall)
        if channels.disadvantage:
            self.covariates["disadvantages"] = float(self.months_since_disadvantage < recall)

    def perceive_fairness(self, knowledge: float | None) -> None:
        """``sim.perceptions._perceive_fairness``: own and ties' wrongful listings, transparency, knowledge."""
        dynamics = self.model.params.dynamics
        if not self.model.params.channels.fairness:
            self.covariates["fairness"] = clip(self.baseline["fairness"] + knowledge, 1, 4)
            return
        peer = sum(tie.newly_wrongly_listed for tie in self.ties)
        loss = (1 - dynamics.fairness_recovery) * self.fairness_loss
        # Both drops are summed before they join the loss, as in the engine:
        # floating-point addition is not associative.
        loss += dynamics.fairness_drop_wrongful * self.newly_wrongly_listed + dynamics.fairness_drop_peer * peer
        self.fairness_loss = loss
        gain = dynamics.fairness_transparency_gain * self.model.levers.algorithm_transparency
        fairness = self.baseline["fairness"] + gain - loss
        if knowledge is not None:
            fairness = fairness + knowledge
        self.covariates["fairness"] = clip(fairness, 1, 4)

    def perceive_transparency(self) -> None:
        """``sim.perceptions.step_perceptions``, transparency channel."""
        gain = self.model.params.dynamics.transparency_gain * self.model.levers.algorithm_transparency
        self.covariates["transparency"] = clip(self.baseline["transparency"] + gain, 1, 3)

    def perceive_relative_score(self) -> None:
        """``sim.perceptions.step_perceptions``, relative-score channel: own score change against the ties' mean."""
        if not self.sesame_or_tencent:
            self.covariates["relative_score"] = self.baseline["relative_score"]
            return
        # NumPy sums the ties pairwise (eight partial sums for eight ties), not
        # left to right: the same function on the same values gives the same bits.
        ties_mean = np.mean(np.array([tie.score_change for tie in self.ties]))
        relative = self.score_change - ties_mean
        moved = self.baseline["relative_score"] + self.model.params.dynamics.relative_sensitivity * relative
        self.covariates["relative_score"] = clip(moved, 1, 5)

    def perceive_awareness(self) -> None:
        """``sim.perceptions.step_perceptions``, awareness channel: learning, forgetting, the sanctioned know."""
        draws = self.model.draws
        learn = self.resident and not self.aware and draws["learn"][self.index] < self.model.awareness_rate
        forget = (
            self.aware
            and self.resident
            and not self.listed
            and draws["forget"][self.index] < self.model.params.dynamics.awareness_forgetting
        )
        self.aware = bool((self.aware or learn or self.listed) and not forget)
        if learn and not self.listed and not self.initially_resident:
            self.covariates["received_info"] = max(self.covariates["received_info"], 1.0)

    def learn(self, level: float, decay: float, media: float, named: int, ties_listed: int) -> float:
        """``sim.information.learn_of_enforcement`` for one state: fade, then learn from each source."""
        model = self.model
        unlearnt = 1 - level * (1 - decay)
        unlearnt = unlearnt * (1 - media)
        if model.levers.sanction_breadth >= 3 and named and model.levers.naming_audience > 0 and self.resident:
            unlearnt = unlearnt * np.exp(-model.levers.naming_audience * named / model.residents)
        if ties_listed and model.params.dynamics.tie_learning > 0:
            unlearnt = unlearnt * (1 - model.params.dynamics.tie_learning) ** ties_listed
        return 1 - unlearnt

    def perceive_information(self) -> None:
        """``sim.information.learn_of_enforcement``: knowledge of punitive uses, memory of enforcement seen."""
        model, dynamics, channels = self.model, self.model.params.dynamics, self.model.params.channels
        if channels.punitive_knowledge:
            media = dynamics.media_learning * model.levers.media_punitive_share
            ties_listed = sum(tie.newly_listed for tie in self.ties)
            knowledge = self.learn(self.punitive_knowledge, dynamics.knowledge_decay, media, model.named, ties_listed)
            informed = self.listed or self.index in model.informed.get("repression_info", ())
            self.punitive_knowledge = 1.0 if informed else knowledge
        if channels.visible_enforcement:
            ties_listed = sum(tie.newly_deservedly_listed for tie in self.ties)
            seen = self.learn(self.enforcement_seen, dynamics.enforcement_decay, 0.0, model.named_deserved, ties_listed)
            self.enforcement_seen = 1.0 if self.index in model.informed.get("social_order_frame", ()) else seen

    def information_points(self) -> tuple[float | None, float | None]:
        """``sim.perceptions``: what knowledge and enforcement seen add (None: channel off)."""
        dynamics, channels = self.model.params.dynamics, self.model.params.channels
        knowledge = enforcement = None
        if channels.punitive_knowledge:
            knowledge = (self.punitive_knowledge - self.knowledge_start) * -dynamics.knowledge_drop
        if channels.visible_enforcement:
            enforcement = (self.enforcement_seen - self.enforcement_start) * dynamics.enforcement_gain
            if self.listed:
                enforcement = 0.0
        return knowledge, enforcement

    def perceive_functions(self, knowledge: float | None, enforcement: float | None) -> None:
        """``sim.perceptions._perceive_functions``: t = 0 value + drifting shift + information points, clipped."""
        dynamics, channels = self.model.params.dynamics, self.model.params.channels
        if channels.sanction_functions or channels.media_functions:
            target = dynamics.framing_sensitivity * self.model.levers.media_framing if channels.media_functions else 0.0
            if channels.sanction_functions and self.listed:
                target = target - dynamics.sanction_function_drop
            self.function_shift = self.function_shift + (target - self.function_shift) * dynamics.functions_drift
        # Knowledge's points plus enforcement's, then the shift: the engine's order of additions.
        points = [value for value in (knowledge, enforcement) if value is not None]
        moved = self.function_shift
        if points:
            moved = self.function_shift + (points[0] + points[1] if len(points) == 2 else points[0])
        for name in FUNCTIONS:
            low, high = FUNCTION_RANGES[name]
            self.covariates[name] = clip(self.baseline[name] + moved, low, high)

    # --- approval ---------------------------------------------------------

    def term_value(self, term: str) -> float:
        """``sim.approval.TERMS[term].compute`` for this citizen."""
        column, level = self.model.term_specs[term]
        if level is not None:
            return float(self.covariates[column] == level)
        return float(self.covariates[column])

    def linear_predictor(self, terms: list[tuple[str, float]], offset: float) -> float:
        """``ApprovalModel.linear_predictor``: terms added one at a time, in order, to ``offset``."""
        xb = offset
        for term, beta in terms:
            xb += beta * self.term_value(term)
        return xb

    def approve(self) -> int:
        """``SCSEngine._approval`` and ``sim.ordered_logit.categorize``: 1 + the cuts below xβ + ε."""
        xb = self.linear_predictor(self.model.movable_terms, self.fixed_xb)
        y_star = xb + self.approval_latent
        return 1 + sum(cut < y_star for cut in self.model.cuts)

    def advance(self) -> None:
        """Second phase of a month: ``sim.perceptions.step_perceptions`` then approval (reads the ties)."""
        channels = self.model.params.channels
        self.perceive_experiences()
        if channels.punitive_knowledge or channels.visible_enforcement:
            self.perceive_information()
        knowledge, enforcement = self.information_points()
        if channels.fairness or channels.punitive_knowledge:
            self.perceive_fairness(knowledge)
        if channels.transparency:
            self.perceive_transparency()
        if channels.relative_score:
            self.perceive_relative_score()
        if channels.awareness:
            self.perceive_awareness()
        if any(getattr(channels, name) for name in FUNCTION_CHANNELS):
            self.perceive_functions(knowledge, enforcement)
        self.approval = self.approve()
