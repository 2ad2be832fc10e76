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
from sim.metrics import collect_metrics, metric_values
from sim.ordered_logit import categorize
from sim.params import PolicyLevers, SimulationParams
from sim.perceptions import MOVABLE_COVARIATES, step_perceptions
from sim.policy import step_policy
from sim.schema import validated
from sim.scores import move_scores, step_scores
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
        self._fixed_xb: tuple[ApprovalModel, int, np.ndarray] | None = None
        self.approval = self._approval()
        self.initial_approval = self.approval.copy()
        # Each month is collected as one vector in the order of METRIC_KEYS:
        # mesa deep-copies what a reporter returns, and a vector copies in
        # microseconds where a dict of 234 floats took a tenth of a millisecond.
        # A method, unlike a lambda, is not also called once to validate it.
        self.datacollector = mesa.DataCollector(model_reporters={"metrics": self._metric_vector})
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
        model = self.approval_model
        if self._fixed_xb is None or self._fixed_xb[0] is not model:
            # The leading terms no channel moves (demographics and more) never
            # change: their partial sum is computed once, not every month.
            count = model.leading_terms_without(MOVABLE_COVARIATES)
            self._fixed_xb = (model, count, model.linear_predictor(self.state.covariates, slice(0, count)))
        _, count, offset = self._fixed_xb
        xb = model.linear_predictor(self.state.covariates, slice(count, None), offset)
        return categorize(xb, self.state.approval_latent, model.cuts)

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
        # The same conduct moves the other scores; their defaults were never read.
        state.tencent = move_scores(state.tencent, self.params.scores, shock)
        state.pilot = move_scores(state.pilot, self.params.scores, shock)
        events = step_policy(state, self.levers, self.params.dynamics, self.baseline, defaulted, rng)
        step_perceptions(state, events, self.levers, self.params.dynamics, self.params.channels, self.baseline, rng)
        state.month = month
        self.approval = self._approval()
        self.datacollector.collect(self)

    def metrics(self) -> dict[str, float]:
        """This month's metrics (``"<group>|<metric>"`` → value)."""
        return collect_metrics(self.state, self.approval)

    def _metric_vector(self) -> np.ndarray:
        """This month's metrics as a vector in the order of ``sim.metrics.METRIC_KEYS`` (what is collected)."""
        return metric_values(self.state, self.approval)

    def metric_history(self) -> np.ndarray:
        """Every collected month's metrics: months 0..``month`` × ``sim.metrics.METRIC_KEYS``."""
        return np.vstack(self.datacollector.model_vars["metrics"])

    def run(self, months: int) -> SCSModel:
        for _ in range(months):
            self.step()
        return self
