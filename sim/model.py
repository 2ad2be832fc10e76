"""The monthly model: a ``mesa.Model`` whose citizens are NumPy arrays.

One step is one month, starting from the calibrated t = 0 population (spring
2018): scores → policy (benefits, lists, sanctions) → perceptions → approval →
collect. The engine takes a population, an approval model and parameters as
inputs; it imports nothing from ``calibration`` or ``experiments``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mesa
import numpy as np

from sim.approval import ApprovalModel
from sim.baseline import calibrate_baseline
from sim.errors import ParameterError
from sim.metrics import collect_metrics
from sim.ordered_logit import categorize
from sim.params import PolicyLevers, SimulationParams
from sim.perceptions import step_perceptions
from sim.policy import step_policy
from sim.schema import validated
from sim.scores import step_scores
from sim.state import Population, initial_state

Schedule = Sequence[tuple[int, Mapping[str, Any]]]


class SCSModel(mesa.Model):
    """Public approval of social credit systems, month by month.

    Args:
        population: The citizens' t = 0 state.
        approval_model: The approval rule (the joint model by default); it reads
            the covariates by their public names.
        params: Levers, dynamics assumptions, channels and score dynamics.
        schedule: Lever changes as (month, {lever: value}); a change at month m
            applies from the step that produces month m.
        seed: Root seed (int or ``SeedSequence``); initialisation, monthly draws
            and Mesa's own generators use separate children.

    Raises:
        ParameterError: A t = 0 value outside its status-quo range, or a bad change.
        StatusQuoError: t = 0 parameters that cannot reproduce the survey's shares.
    """

    def __init__(
        self,
        population: Population,
        approval_model: ApprovalModel,
        params: SimulationParams | None = None,
        schedule: Schedule = (),
        seed: int | np.random.SeedSequence = 0,
    ) -> None:
        root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        init_ss, step_ss, mesa_ss = root.spawn(3)
        # Mesa seeds its own generators from an integer; giving it a child of
        # its own keeps it from drawing from (and shifting) the monthly stream.
        super().__init__(seed=int.from_bytes(mesa_ss.generate_state(4).tobytes(), "little"))
        self.step_rng = np.random.default_rng(step_ss)
        self.params = params or SimulationParams()
        self.params.check_status_quo()
        self.schedule = self._validated_schedule(schedule)
        self.approval_model = approval_model
        init_rng = np.random.default_rng(init_ss)
        self.state = initial_state(population, self.params, init_rng)
        self.baseline = calibrate_baseline(self.state, self.params, init_rng)
        self.levers = self.params.levers
        self.approval = self._approval()
        self.initial_approval = self.approval.copy()
        self.datacollector = mesa.DataCollector(model_reporters={"metrics": lambda m: m.metrics()})
        self.datacollector.collect(self)

    def _validated_schedule(self, schedule: Schedule) -> list[tuple[int, dict[str, Any]]]:
        """Changes sorted by month; each lever value is checked against its range now, not mid-run."""
        out = []
        for index, (month, changes) in enumerate(schedule):
            if isinstance(month, bool) or not isinstance(month, int | np.integer) or month < 1:
                raise ParameterError(f"changes.{index}.month: must be an integer >= 1, got {month!r}")
            validated(PolicyLevers, dict(changes), prefix=f"changes.{index}")
            out.append((int(month), dict(changes)))
        return sorted(out, key=lambda item: item[0])

    @property
    def month(self) -> int:
        return self.state.month

    def _approval(self) -> np.ndarray:
        xb = self.approval_model.linear_predictor(self.state.covariates)
        return categorize(xb, self.state.approval_latent, self.approval_model.cuts)

    def _apply_schedule(self, month: int) -> None:
        for change_month, changes in self.schedule:
            if change_month == month:
                self.levers = validated(PolicyLevers, {**self.levers.model_dump(), **changes})

    def step(self) -> None:
        """Advance one month."""
        state = self.state
        month = state.month + 1
        self._apply_schedule(month)
        rng = self.step_rng
        shock = rng.standard_normal(state.n)
        state.sesame, defaulted = step_scores(state.sesame, self.params.scores, rng, shock)
        state.tencent, _ = step_scores(state.tencent, self.params.scores, rng, shock)
        state.pilot, _ = step_scores(state.pilot, self.params.scores, rng, shock)
        events = step_policy(state, self.levers, self.params.dynamics, self.baseline, defaulted, rng)
        step_perceptions(state, events, self.levers, self.params.dynamics, self.params.channels, self.baseline, rng)
        state.month = month
        self.approval = self._approval()
        self.datacollector.collect(self)

    def metrics(self) -> dict[str, float]:
        """This month's metrics (``"<group>|<metric>"`` → value)."""
        return collect_metrics(self.state, self.approval)

    def run(self, months: int) -> SCSModel:
        for _ in range(months):
            self.step()
        return self
