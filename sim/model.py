"""The monthly model: a ``mesa.Model`` whose citizens are NumPy arrays.

One step is one month, starting from the calibrated t = 0 population (spring
2018): scores → policy (benefits, lists, sanctions) → perceptions → approval →
collect. The engine takes a population, an approval model and parameters as
inputs; it imports nothing from ``calibration`` or ``experiments``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import Any

import mesa
import numpy as np

from sim.approval import ApprovalModel
from sim.baseline import calibrate_baseline
from sim.draws import Streams
from sim.errors import ParameterError
from sim.metrics import MetricCollector, collect_metrics
from sim.ordered_logit import categorize
from sim.params import PolicyLevers, SimulationParams
from sim.perceptions import step_perceptions
from sim.policy import step_policy
from sim.schema import validated
from sim.scores import conduct_month
from sim.state import MOVABLE_COVARIATES, Population, initial_state
from sim.treatments import Treatment, assign, fix_subgroups, informed_this_month, record, unique_names

Schedule = Sequence[tuple[int, Mapping[str, Any]]]
# Bits of ``SCSEngine.citizen_outcomes``: approves (4 or 5), listed since t = 0, knows of punitive uses (≥ 0.5).
APPROVES, EVER_LISTED, KNOWS_PUNITIVE_USES = 1, 2, 4
STAGES = ("scores", "policy", "perceptions", "approval", "collect")


class SCSEngine(mesa.Model):
    """Public approval of social credit systems, month by month.

    The engine the experiments layer drives: it takes its citizens and approval
    rule as inputs. ``experiments.model.SCSModel`` is the same model built from
    flat keyword arguments and the shipped calibration, the way Mesa users build
    models (``mesa.batch_run``, the app).

    Mesa's step counter is the month: ``steps`` is 0 at t = 0 (spring 2018) and
    each ``step()`` produces the next month. ``running`` turns false once
    ``steps`` reaches ``horizon``.

    Args:
        population: The citizens' t = 0 state.
        approval_model: The approval rule (the joint model by default); it reads
            the covariates by their public names.
        params: Levers, dynamics assumptions, channels and score dynamics.
        schedule: Lever changes as (month, {lever: value}); a change at month m
            applies from the step that produces month m.
        seed: Root seed (int or ``SeedSequence``); initialisation, monthly draws
            and Mesa's own generators use separate children. ``None`` draws fresh
            entropy from the operating system (kept in ``seed_sequence``).
        horizon: The last month; ``None`` runs for as long as it is stepped.
        treatments: Survey experiments in silico (``sim.treatments``); the citizens
            each draws come from a child of the initialisation seed, so adding one
            changes no other draw. Their effects are in ``treatment_rows``.

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
        seed: int | np.random.SeedSequence | None = None,
        horizon: int | None = None,
        treatments: Sequence[Treatment] = (),
    ) -> None:
        root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        init_ss, step_ss, mesa_ss = root.spawn(3)
        # Mesa seeds its own generators from an integer; giving it a child of
        # its own keeps it from drawing from (and shifting) the monthly stream.
        super().__init__(seed=int.from_bytes(mesa_ss.generate_state(4).tobytes(), "little"))
        self.seed_sequence = root
        # One generator per monthly rule (sim.draws.Streams), all children of the monthly seed.
        self.streams = Streams.spawned(step_ss)
        self.params = params or SimulationParams()
        self.params.check_status_quo()
        self.horizon = self._validated_horizon(horizon)
        self.schedule = self._validated_schedule(schedule)
        # The app's sliders change levers from the browser's thread while Play steps the model in another:
        # without it, a change dated month m + 1 could be added just after month m + 1 read the schedule, and be lost.
        self._schedule_lock = threading.Lock()
        self.approval_model = approval_model
        init_rng = np.random.default_rng(init_ss)
        self.state = initial_state(population, self.params, init_rng)
        self.baseline = calibrate_baseline(self.state, self.params, init_rng)
        unique_names(treatments)
        self.arms = assign(treatments, self.state, init_ss) if treatments else []
        self.treatment_rows: list[dict[str, float | int | str]] = []
        self.levers = self.params.levers
        self._fixed_xb: tuple[ApprovalModel, int, np.ndarray, np.ndarray] | None = None
        self.approval = self._approval()
        self.initial_approval = self.approval.copy()
        self.datacollector = MetricCollector()
        self.datacollector.collect(self)
        self.running = self.horizon is None or self.horizon > 0
        # Seconds spent in each stage over every step so far (a clock read costs ~0.1 µs).
        self.stage_seconds = dict.fromkeys(STAGES, 0.0)

    @staticmethod
    def _validated_horizon(horizon: int | None) -> int | None:
        whole = not isinstance(horizon, bool) and isinstance(horizon, int | np.integer)
        if horizon is not None and (not whole or horizon < 0):
            raise ParameterError(f"horizon: must be a whole number of months >= 0 or None, got {horizon!r}")
        return None if horizon is None else int(horizon)

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
        """The month the state is at (Mesa's step counter; 0 is t = 0)."""
        return self.steps

    def change_levers(self, **changes: Any) -> None:
        """Set levers from the next month on, as a scheduled change would (the app's live sliders).

        Raises:
            ParameterError: An unknown lever or a value outside its range.
        """
        with self._schedule_lock:
            month = self.steps + 1
            validated(PolicyLevers, changes, prefix=f"month {month}")
            # Merging into that month's last entry keeps one entry per month (a
            # dragged slider sends many values) and applies exactly what appending would.
            for index in reversed(range(len(self.schedule))):
                if self.schedule[index][0] == month:
                    self.schedule[index] = (month, {**self.schedule[index][1], **changes})
                    return
            self.schedule.append((month, dict(changes)))

    def _approval(self) -> np.ndarray:
        model = self.approval_model
        if self._fixed_xb is None or self._fixed_xb[0] is not model:
            # The leading terms no channel moves (demographics and more) never
            # change: their partial sum is computed once, not every month.
            count = model.leading_terms_without(MOVABLE_COVARIATES)
            offset = model.linear_predictor(self.state.covariates, slice(0, count))
            # xβ is summed into one buffer kept between months: no new 8 MB array a month.
            self._fixed_xb = (model, count, offset, np.empty_like(offset))
        _, count, offset, xb = self._fixed_xb
        model.linear_predictor(self.state.covariates, slice(count, None), offset, out=xb)
        return categorize(xb, self.state.approval_latent, model.cuts)

    def _apply_schedule(self, month: int) -> None:
        with self._schedule_lock:
            for change_month, changes in self.schedule:
                if change_month == month:
                    self.levers = validated(PolicyLevers, {**self.levers.model_dump(), **changes})

    def step(self) -> None:
        """Advance one month (Mesa has already counted it in ``steps``)."""
        state = self.state
        month = self.steps
        self._apply_schedule(month)
        streams = self.streams
        clock = perf_counter()
        # The same conduct moves every system's scores; only the Sesame defaults are read.
        (state.sesame, state.tencent, state.pilot), defaulted = conduct_month(
            streams.shock, (state.sesame, state.tencent, state.pilot), self.params.scores
        )
        clock = self._lap("scores", clock)
        events = step_policy(state, self.levers, self.params.dynamics, self.baseline, defaulted, streams)
        clock = self._lap("policy", clock)
        fix_subgroups(self.arms, state, month)
        informed = informed_this_month(self.arms, month)
        step_perceptions(
            state, events, self.levers, self.params.dynamics, self.params.channels, self.baseline, streams, informed
        )
        clock = self._lap("perceptions", clock)
        self.approval = self._approval()
        self.treatment_rows += record(self.arms, self.approval, month)
        clock = self._lap("approval", clock)
        self.datacollector.collect(self)
        self._lap("collect", clock)
        if self.horizon is not None and month >= self.horizon:
            self.running = False

    def _lap(self, stage: str, started: float) -> float:
        """Add the time since ``started`` to ``stage_seconds`` (what ``scsim bench`` reports per stage)."""
        now = perf_counter()
        self.stage_seconds[stage] += now - started
        return now

    def metrics(self) -> dict[str, float]:
        """This month's metrics (``"<group>|<metric>"`` → value)."""
        return collect_metrics(self.state, self.approval)

    def citizen_outcomes(self) -> np.ndarray:
        """Each citizen's state this month in one byte: ``APPROVES | EVER_LISTED | KNOWS_PUNITIVE_USES`` bits.

        Paired runs compare the same citizens across arms with it (the forecast's
        never-sanctioned citizens), at 1 B a citizen.
        """
        state = self.state
        codes = (self.approval >= 4).astype(np.uint8)
        codes |= state.ever_listed.astype(np.uint8) * np.uint8(EVER_LISTED)
        codes |= (state.punitive_knowledge >= 0.5).astype(np.uint8) * np.uint8(KNOWS_PUNITIVE_USES)
        return codes

    def metric_history(self) -> np.ndarray:
        """Every collected month's metrics: months 0..``month`` × ``sim.metrics.METRIC_KEYS``."""
        return self.datacollector.history()

    def run(self, months: int) -> SCSEngine:
        for _ in range(months):
            self.step()
        return self

    def release(self) -> None:
        """Free the citizens' arrays now; the engine cannot step or report after this.

        Mesa's ``Model`` keeps its step as bound methods on the instance, a reference
        cycle, so a dropped engine is freed only by Python's cyclic garbage collector,
        which runs by object count, not by size: a forecast held several dead engines'
        arrays at once (about 1,650 B a citizen at its peak, against about 370 alive).
        """
        for name in ("state", "baseline", "approval", "initial_approval", "_fixed_xb"):
            self.__dict__.pop(name, None)

    def __enter__(self) -> SCSEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
