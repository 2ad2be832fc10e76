"""The model the way Mesa users build one: flat keyword arguments, shipped calibration.

    model = SCSModel(n=20_000, seed=1, scenario="punitive_shift", blacklist_rate=0.02)
    while model.running:
        model.step()
    model.datacollector.get_model_vars_dataframe()["all|share_approve"]

    mesa.batch_run(SCSModel, parameters={"blacklist_rate": [0.002, 0.02]}, iterations=2, max_steps=24)

Month 0 is always the scenario's calibrated t = 0 state (the 2018 survey).
Levers given as keyword arguments are a policy from month 1 on, applied after
the scenario's own month-1 changes; the scenario's later changes still apply.
Because they start at month 1, every value a lever's range allows runs,
including values outside the t = 0 (status quo) ranges.

Seeding follows the experiments layer: ``SCSModel(seed=S)`` is replicate 0 of
``scsim run <scenario> --seed S`` (same citizens, same months). ``seed=None``
draws fresh entropy, so iterations of ``mesa.batch_run`` differ; the drawn
value is kept in ``root_seed`` to reproduce the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from calibration.citizens import build_population, engine_approval_model
from experiments.resources import check_memory
from experiments.scenario import Scenario, load_scenario
from experiments.simulation import DEFAULT_MONTHS, replicate_seeds, split_seed
from sim.errors import ParameterError
from sim.model import SCSEngine
from sim.params import PolicyLevers
from sim.schema import validated

DEFAULT_N = 20_000
MAX_MONTHS = 600  # the longest a scenario can schedule a change (experiments.scenario.MAX_MONTH)


class SCSModel(SCSEngine):
    """Public approval of social credit systems, built from flat keyword arguments.

    Args:
        n: Number of citizens, drawn in proportion to the survey weights.
        seed: Root seed; ``None`` draws one (kept in ``root_seed``).
        scenario: A shipped scenario's name, a TOML path, or a ``Scenario``.
        months: The horizon: ``running`` turns false after this month.
        **levers: Levers of ``sim.params.PolicyLevers``, applied from month 1.

    Raises:
        ParameterError: A bad ``n``, ``months``, lever name or lever value (one line naming it).
        ScenarioError: An unknown or invalid scenario.
        ResourceError: ``n`` too large for the memory available.
    """

    def __init__(
        self,
        n: int = DEFAULT_N,
        seed: int | None = None,
        scenario: str | Path | Scenario = "baseline",
        months: int = DEFAULT_MONTHS,
        **levers: Any,
    ) -> None:
        _check_whole_number("n", n, 1, None)
        _check_whole_number("months", months, 0, MAX_MONTHS)
        if seed is not None:
            _check_whole_number("seed", seed, 0, None)
        check_memory(int(n), "run", field="n")
        if not isinstance(scenario, str | Path | Scenario):
            raise ParameterError(f"scenario: must be a scenario name, a TOML path or a Scenario, got {scenario!r}")
        scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        scenario.check_horizon(int(months))
        typed = validated(PolicyLevers, levers, prefix="levers")
        policy = {name: getattr(typed, name) for name in levers}
        self.root_seed = int(np.random.SeedSequence(seed).entropy)
        population_ss, model_ss, *_ = split_seed(replicate_seeds(self.root_seed, 1)[0])
        # Scenario changes first: the engine applies a month's changes in order,
        # so the keyword levers win over the scenario's own month-1 changes.
        schedule = [*scenario.schedule(), *([(1, policy)] if policy else [])]
        super().__init__(
            build_population(int(n), population_ss),
            engine_approval_model(),
            scenario.params(),
            schedule,
            seed=model_ss,
            horizon=int(months),
        )
        self.n = int(n)
        self.scenario = scenario
        self.policy = policy


def _check_whole_number(field: str, value: Any, low: int, high: int | None) -> None:
    allowed = f"between {low:,} and {high:,}" if high is not None else f">= {low:,}"
    whole = not isinstance(value, bool) and isinstance(value, int | np.integer)
    if not whole or value < low or (high is not None and value > high):
        raise ParameterError(f"{field}: must be a whole number {allowed}, got {value!r}")
