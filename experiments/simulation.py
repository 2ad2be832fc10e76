"""Scenario runs with replications, as a function and as a fluent API.

    Simulation.from_scenario("punitive_shift", n=100_000, seed=1).run(months=60).plot()

Replicate r draws everything from child r of ``SeedSequence(seed)``: its own
citizens (∝ survey weight), the engine's draws and, if requested, one draw of
the joint approval model from its calibrated uncertainty. A replicate's result
therefore depends only on (seed, r), never on how many replicates run or in
which order, so runs are identical serial or parallel, and two scenarios run
with the same seed are paired replicate by replicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm import tqdm

from calibration.citizens import build_population, engine_approval_model
from experiments.scenario import Scenario, load_scenario
from sim.model import SCSModel

DEFAULT_N = 100_000
DEFAULT_MONTHS = 60


def replicate_seeds(seed: int, replications: int) -> list[np.random.SeedSequence]:
    """Child r of the root seed for replicate r (independent of the number of replicates)."""
    return [np.random.SeedSequence(seed, spawn_key=(r,)) for r in range(replications)]


def tidy(metrics: list[dict[str, float]], scenario: str, replicate: int) -> pd.DataFrame:
    """Per-month metric dicts → rows (scenario, replicate, month, group, metric, value)."""
    keys = list(metrics[0])
    values = np.array([[month_metrics[k] for k in keys] for month_metrics in metrics])
    group, metric = zip(*(k.split("|", 1) for k in keys), strict=True)
    months = len(metrics)
    return pd.DataFrame(
        {
            "scenario": scenario,
            "replicate": np.int32(replicate),
            "month": np.repeat(np.arange(months, dtype=np.int32), len(keys)),
            "group": np.tile(np.array(group, dtype=object), months),
            "metric": np.tile(np.array(metric, dtype=object), months),
            "value": values.reshape(-1),
        }
    )


def run_replicate(
    scenario: Scenario,
    n: int,
    months: int,
    seed: np.random.SeedSequence,
    replicate: int,
    draw_parameters: bool = False,
    progress: tqdm | None = None,
) -> pd.DataFrame:
    """One replicate of a scenario, as tidy rows (the same ``seed`` always gives the same rows)."""
    # Spawn from a copy: spawning advances the original's child counter.
    seed = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    population_ss, model_ss, parameter_ss = seed.spawn(3)
    population = build_population(n, population_ss)
    approval = engine_approval_model(rng=np.random.default_rng(parameter_ss) if draw_parameters else None)
    model = SCSModel(population, approval, scenario.params(), scenario.schedule(), seed=model_ss)
    for _ in range(months):
        model.step()
        if progress is not None:
            progress.update(1)
    metrics = list(model.datacollector.get_model_vars_dataframe()["metrics"])
    return tidy(metrics, scenario.name, replicate)


@dataclass
class Results:
    """Tidy trajectories of one scenario and how they were produced."""

    frame: pd.DataFrame
    scenario: Scenario
    n: int
    months: int
    replications: int
    seed: int
    draw_parameters: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def series(self, metric: str = "share_approve", group: str = "all") -> pd.DataFrame:
        """Replicates × months of one metric."""
        rows = self.frame[(self.frame["metric"] == metric) & (self.frame["group"] == group)]
        return rows.pivot(index="month", columns="replicate", values="value")

    def plot(self, metric: str = "share_approve", group: str = "all") -> Figure:
        from experiments.plots import plot_trajectories

        return plot_trajectories(self.frame, metric=metric, group=group)

    def save(self, out: Path) -> None:
        from experiments.store import write_results

        write_results(self, out)


class Simulation:
    """A scenario, a population size and a seed: call ``run`` to simulate."""

    def __init__(self, scenario: Scenario, n: int = DEFAULT_N, seed: int = 0, draw_parameters: bool = False):
        if n < 1:
            raise ValueError(f"n: must be a positive integer, got {n}")
        self.scenario = scenario
        self.n = n
        self.seed = seed
        self.draw_parameters = draw_parameters

    @classmethod
    def from_scenario(
        cls, scenario: str | Path, n: int = DEFAULT_N, seed: int = 0, draw_parameters: bool = False
    ) -> Simulation:
        """From a shipped scenario name (``"baseline"``) or a TOML path."""
        return cls(load_scenario(scenario), n=n, seed=seed, draw_parameters=draw_parameters)

    def run(self, months: int = DEFAULT_MONTHS, replications: int = 1, progress: bool = False) -> Results:
        """Simulate ``replications`` replicates of ``months`` months each."""
        if months < 0:
            raise ValueError(f"months: must be an integer >= 0, got {months}")
        if replications < 1:
            raise ValueError(f"replications: must be an integer >= 1, got {replications}")
        bar = tqdm(total=months * replications, desc=self.scenario.name, unit="month", disable=not progress)
        frames = [
            run_replicate(self.scenario, self.n, months, child, r, self.draw_parameters, bar)
            for r, child in enumerate(replicate_seeds(self.seed, replications))
        ]
        bar.close()
        frame = pd.concat(frames, ignore_index=True)
        return Results(frame, self.scenario, self.n, months, replications, self.seed, self.draw_parameters)
