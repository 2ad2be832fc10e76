"""The reference model: the engine's set-up, then one ``Citizen`` agent per citizen.

Set-up is shared with the engine on purpose: ``ReferenceModel`` builds an
``SCSEngine`` with the same arguments, copies its t = 0 state (scores, ties,
lists, calibrated rates, persistent draws) into the agents and drops it. What
the reference checks is the monthly rules.

Random numbers: the engine draws every month's numbers from one stream per
rule (``SCSEngine.streams``: the conduct shock, the listing, redlist, benefit
and disadvantage uniforms, learning and forgetting), each uniform only where
it falls below the rule's ceiling (``sim.draws``). The reference draws the
same numbers from streams seeded from the same ``SeedSequence`` child, once
per month at model level, expanded to one value per citizen; each citizen
reads its own element by its index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mesa
import numpy as np
from scipy.special import ndtri

from sim.approval import TERMS, ApprovalModel
from sim.draws import Streams, listing_draws, uniforms_below
from sim.experiences import (
    benefit_chances,
    benefit_groups,
    disadvantage_ceilings,
    disadvantage_chances,
    disadvantage_groups,
    draw_ceilings,
)
from sim.metrics import MetricCollector
from sim.model import Schedule, SCSEngine
from sim.params import PolicyLevers, SimulationParams
from sim.policy import WRONGFUL_CEILING, Baseline
from sim.reference.agents import Citizen
from sim.schema import validated
from sim.scores import SESAME_EDGES
from sim.state import COVARIATES, MOVABLE_COVARIATES, CitizenState, Population

# Per-citizen scalars copied from the engine's t = 0 state: agent attribute → state attribute.
STATE_ATTRIBUTES = {
    "sesame_or_tencent": "sesame_or_tencent", "commercial": "commercial", "pilot_order": "pilot_order",
    "resident": "resident", "initially_resident": "initially_resident", "aware": "aware",
    "initial_latent": "initial_latent", "approval_latent": "approval_latent",
    "months_since_advantage": "months_since_advantage", "months_since_disadvantage": "months_since_disadvantage",
    "listed_months_left": "listed_months_left", "wrongly_listed": "wrongly_listed", "sanctions": "sanctions",
    "redlisted_months_left": "redlisted_months_left", "fairness_loss": "fairness_loss",
    "function_shift": "function_shift", "punitive_knowledge": "punitive_knowledge",
    "enforcement_seen": "enforcement_seen",
}  # fmt: skip
SCORE_SYSTEMS = ("sesame", "tencent", "pilot")


@dataclass
class Snapshot:
    """The citizens' attributes gathered back into arrays: what ``sim.metrics.metric_values`` reads."""

    covariates: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray]
    sesame_or_tencent: np.ndarray
    commercial: np.ndarray
    resident: np.ndarray
    aware: np.ndarray
    listed_months_left: np.ndarray
    wrongly_listed: np.ndarray
    redlisted_months_left: np.ndarray
    sanctions: np.ndarray
    punitive_knowledge: np.ndarray
    enforcement_seen: np.ndarray
    benefits_this_month: np.ndarray
    group_cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.aware)

    @property
    def listed(self) -> np.ndarray:
        return self.listed_months_left > 0

    @property
    def benefit_receivers(self) -> tuple[np.ndarray, ...]:
        return tuple(np.flatnonzero(row) for row in self.benefits_this_month)


def _child(root: np.random.SeedSequence, index: int) -> np.random.SeedSequence:
    """Child ``index`` of the three the engine spawned from ``root`` (spawning again would give new ones)."""
    position = root.n_children_spawned - 3 + index
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, position), pool_size=root.pool_size)


class ReferenceModel(mesa.Model):
    """The engine's monthly rules, one Mesa agent per citizen.

    Args:
        population: The citizens' t = 0 state.
        approval_model: An approval model without imputed or substituted columns (the joint model).
        params: Levers, dynamics, channels and score dynamics.
        schedule: Lever changes as (month, {lever: value}), as for ``SCSEngine``.
        seed: Root seed (int or ``SeedSequence``), as for ``SCSEngine``.

    Use it as a context manager, or call ``close``, to deregister the agents
    when done.
    """

    def __init__(
        self,
        population: Population,
        approval_model: ApprovalModel,
        params: SimulationParams | None = None,
        schedule: Schedule = (),
        seed: int | np.random.SeedSequence | None = None,
    ) -> None:
        if approval_model.imputed_columns or approval_model.source_columns or approval_model.education_none_as_low:
            raise ValueError(f"{approval_model.name}: the reference reads every term from its own column only")
        engine = SCSEngine(population, approval_model, params, schedule, seed)
        root = engine.seed_sequence
        super().__init__(seed=int.from_bytes(_child(root, 2).generate_state(4).tobytes(), "little"))
        self.streams = Streams.spawned(_child(root, 1))
        self.params = engine.params
        self.schedule = engine.schedule
        self.levers = engine.levers
        self.awareness_rate = engine.baseline.awareness_rate
        # The calibrated rates bound the month's draws, and citizens of a class share a ceiling
        # (sim.experiences): the draws' structure, not a rule.
        baseline = self.rates = engine.baseline
        self.benefit_groups = benefit_groups(engine.state, baseline.advantage_class, baseline.advantage_levels.size)
        self.disadvantage_groups = disadvantage_groups(
            engine.state, baseline.disadvantage_class, baseline.disadvantage_levels.size
        )
        self._set_up_rules(engine.state, approval_model)
        self.draws: dict[str, list] = {}
        # The month's public notice board (``sim.perceptions``): names published, and those listed for conduct.
        self.residents = max(int(np.count_nonzero(engine.state.resident)), 1)
        self.named = self.named_deserved = 0
        self.informed: dict[str, frozenset[int]] = {}
        self.citizens = self._create_citizens(engine.state, engine.baseline)
        self._static = self._gather_static()
        self.state, self.approval = self.gather()
        self.datacollector = MetricCollector()
        self.datacollector.collect(self)

    def _set_up_rules(self, state: CitizenState, approval_model: ApprovalModel) -> None:
        """Constants of the rules that every citizen reads (parameters, not values over citizens)."""
        scores = self.params.scores
        gradient = scores.default_gradient
        # The engine's probit intercept of the default threshold (sim.scores.step_scores).
        self.default_intercept = (
            ndtri(scores.default_rate) * np.sqrt(1 + gradient**2) if scores.default_rate > 0 else -np.inf
        )
        shares = state.sesame.band_shares
        cumulative = np.concatenate([[0.0], np.cumsum(shares)])
        self.sesame_quantiles = (cumulative / cumulative[-1]).tolist()
        self.sesame_edges = SESAME_EDGES.tolist()
        terms = list(approval_model.coefficients.items())
        count = approval_model.leading_terms_without(MOVABLE_COVARIATES)
        self.fixed_terms, self.movable_terms = terms[:count], terms[count:]
        # Which column (and, for a dummy, which code) each term reads: data of the model, not a rule.
        self.term_specs = {term: (TERMS[term].column, TERMS[term].level) for term, _ in terms}
        self.cuts = approval_model.cuts.tolist()

    def _create_citizens(self, state: CitizenState, baseline: Baseline) -> list[Citizen]:
        """One ``Citizen`` per position of the engine's arrays, then their ties."""
        columns: dict[str, list] = {name: getattr(state, attr).tolist() for name, attr in STATE_ATTRIBUTES.items()}
        for system in SCORE_SYSTEMS:
            scores = getattr(state, system)
            columns[f"{system}_level"] = scores.level.tolist()
            columns[f"{system}_deviation"] = scores.deviation.tolist()
        columns["uses_sesame"] = (state.baseline["uses_sesame"] == 1).tolist()
        columns["uses_tencent"] = (state.baseline["uses_tencent"] == 1).tolist()
        columns["urban"] = (state.covariates["urban"] == 1).tolist()
        columns["advantage_scale"] = np.broadcast_to(baseline.advantage_scale, state.n).tolist()
        columns["disadvantage_scale"] = np.broadcast_to(baseline.disadvantage_scale, state.n).tolist()
        columns["knowledge_start"] = baseline.knowledge_start[baseline.information_class].tolist()
        columns["enforcement_start"] = baseline.enforcement_start[baseline.information_class].tolist()
        current = {name: state.covariates[name].tolist() for name in COVARIATES}
        initial = {name: state.baseline[name].tolist() for name in COVARIATES}
        citizens = []
        for i in range(state.n):
            attributes = {name: values[i] for name, values in columns.items()}
            attributes["covariates"] = {name: values[i] for name, values in current.items()}
            attributes["baseline"] = {name: values[i] for name, values in initial.items()}
            citizens.append(Citizen(self, i, attributes))
        for citizen, ties in zip(citizens, state.ties.tolist(), strict=True):
            citizen.ties = [citizens[j] for j in ties]
        return citizens

    def _gather_static(self) -> dict[str, Any]:
        """Attributes that never change, gathered once."""
        citizens = self.citizens
        return {
            "baseline": {name: np.array([c.baseline[name] for c in citizens]) for name in COVARIATES},
            "sesame_or_tencent": np.array([c.sesame_or_tencent for c in citizens]),
            "commercial": np.array([c.commercial for c in citizens]),
            # Cells of attributes that never change are cached here by sim.metrics.
            "group_cache": {},
        }

    def gather(self) -> tuple[Snapshot, np.ndarray]:
        """Every citizen's attributes as arrays in index order, and their approval."""
        citizens = self.citizens
        static = self._static
        snapshot = Snapshot(
            covariates={name: np.array([c.covariates[name] for c in citizens], dtype=float) for name in COVARIATES},
            baseline=static["baseline"],
            sesame_or_tencent=static["sesame_or_tencent"],
            commercial=static["commercial"],
            resident=np.array([c.resident for c in citizens]),
            aware=np.array([c.aware for c in citizens]),
            listed_months_left=np.array([c.listed_months_left for c in citizens]),
            wrongly_listed=np.array([c.wrongly_listed for c in citizens]),
            redlisted_months_left=np.array([c.redlisted_months_left for c in citizens]),
            sanctions=np.array([c.sanctions for c in citizens], dtype=np.int8),
            punitive_knowledge=np.array([c.punitive_knowledge for c in citizens]),
            enforcement_seen=np.array([c.enforcement_seen for c in citizens]),
            benefits_this_month=np.array([c.benefits_this_month for c in citizens], dtype=bool).T,
            group_cache=static["group_cache"],
        )
        return snapshot, np.array([c.approval for c in citizens], dtype=np.int8)

    def policy_draws(self) -> dict[str, list]:
        """This month's random numbers after the scores moved: the engine's, from its streams, as lists by citizen.

        The engine draws only the uniforms below each rule's ceiling (``sim.draws``); each is expanded
        to one value per citizen, the ceiling standing for every draw at or above it. Listing draws
        are made for the citizens who defaulted and those in the top pilot decile, as the engine's.
        """
        streams, n, levers, citizens = self.streams, len(self.citizens), self.levers, self.citizens
        defaulters = np.array([c.index for c in citizens if c.defaulted], dtype=np.int64)
        top_decile = np.array([c.index for c in citizens if c.in_top_pilot_decile()], dtype=np.int64)
        lists = listing_draws(streams, n, defaulters, top_decile, WRONGFUL_CEILING)
        # One listing draw per citizen: the defaulters' own, the wrongful draws for everyone else.
        listing = lists.wrongful.expanded()
        listing[defaulters] = lists.conduct
        redlist = np.ones(n)  # outside the top decile, no draw is read
        redlist[top_decile] = lists.redlist
        rates = self.rates
        benefit_ceilings = draw_ceilings(benefit_chances(levers, rates.advantage_levels), rates.benefit_floor)
        benefits = [
            uniforms_below(rng, n, ceilings, self.benefit_groups)
            for rng, ceilings in zip(streams.benefits, benefit_ceilings, strict=True)
        ]
        ceilings = draw_ceilings(
            disadvantage_ceilings(disadvantage_chances(levers, rates.disadvantage_levels)), rates.disadvantage_floor
        )
        return {
            "listing": listing.tolist(),
            "redlist": redlist.tolist(),
            "benefits": np.array([drawn.expanded() for drawn in benefits]).T.tolist(),
            "disadvantage": uniforms_below(streams.disadvantage, n, ceilings, self.disadvantage_groups)
            .expanded()
            .tolist(),
            "learn": uniforms_below(streams.learn, n, self.awareness_rate).expanded().tolist(),
            "forget": uniforms_below(streams.forget, n, self.params.dynamics.awareness_forgetting).expanded().tolist(),
        }

    def _apply_schedule(self, month: int) -> None:
        """``SCSEngine._apply_schedule``: this month's lever changes."""
        for change_month, changes in self.schedule:
            if change_month == month:
                self.levers = validated(PolicyLevers, {**self.levers.model_dump(), **changes})

    def step(self) -> None:
        """One month: scores and policy for everyone, then perceptions and approval for everyone."""
        self._apply_schedule(self.steps)
        self.draws = {"shock": self.streams.shock.standard_normal(len(self.citizens)).tolist()}
        self.agents.shuffle_do("move")
        self.draws.update(self.policy_draws())
        self.agents.shuffle_do("step")
        self._publish_listings()
        self.agents.shuffle_do("advance")
        self.state, self.approval = self.gather()
        self.datacollector.collect(self)

    def _publish_listings(self) -> None:
        """Between the phases: how many were newly listed (for public naming), among how many residents."""
        self.residents = max(sum(c.resident for c in self.citizens), 1)
        self.named = sum(c.newly_listed for c in self.citizens)
        self.named_deserved = sum(c.newly_deservedly_listed for c in self.citizens)

    def run(self, months: int) -> ReferenceModel:
        for _ in range(months):
            self.step()
        return self

    def metric_history(self) -> np.ndarray:
        """Months 0..``steps`` × ``sim.metrics.METRIC_KEYS``, as ``SCSEngine.metric_history``."""
        return self.datacollector.history()

    def close(self) -> None:
        """Deregister every citizen and drop the references between them."""
        for citizen in self.citizens:
            citizen.ties = []
        self.remove_all_agents()
        self.citizens = []

    def __enter__(self) -> ReferenceModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
