"""Scenario runs with replications, as a function and as a fluent API.

    Simulation.from_scenario("punitive_shift", n=100_000, seed=1).run(months=60).plot()

Replicate r draws everything from child r of ``SeedSequence(seed)``: its own
citizens (∝ survey weight), the engine's draws, if requested one draw of the
joint approval model from its calibrated uncertainty and, under the
``ensemble`` calibration, the member of the calibration ensemble it runs with.
A replicate's result therefore depends only on (seed, r, calibration choice),
never on how many replicates run or in which order, so runs are identical
serial or parallel, and two scenarios run with the same seed are paired
replicate by replicate (same citizens, same member, same coefficient draw).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm import tqdm

from calibration.citizens import build_population, check_parameter_files, engine_approval_model
from calibration.ensemble_files import SHIPPED, CalibrationChoice, parse_calibration
from calibration.members import Calibration, checked_choice, load_calibration
from calibration.members import replicate_member as member_for_stream
from experiments.scenario import Scenario, load_scenario
from experiments.treatment_effects import treatment_frame
from sim.errors import UserError
from sim.metrics import METRIC_KEYS
from sim.model import SCSEngine
from sim.state import Population

DEFAULT_N = 100_000
DEFAULT_MONTHS = 60


def replicate_seeds(seed: int, replications: int) -> list[np.random.SeedSequence]:
    """Child r of the root seed for replicate r (independent of the number of replicates)."""
    return [np.random.SeedSequence(seed, spawn_key=(r,)) for r in range(replications)]


def tidy(values: np.ndarray, scenario: str, replicate: int) -> pd.DataFrame:
    """A months × ``METRIC_KEYS`` matrix → rows (scenario, replicate, month, group, metric, value).

    The rows are always the fixed keys of ``sim.metrics.METRIC_KEYS`` for every
    month, so the stored schema does not depend on N, the seed or the levers.
    """
    group, metric = zip(*(k.split("|", 1) for k in METRIC_KEYS), strict=True)
    months = values.shape[0]
    return pd.DataFrame(
        {
            "scenario": scenario,
            "replicate": np.int32(replicate),
            "month": np.repeat(np.arange(months, dtype=np.int32), len(METRIC_KEYS)),
            "group": np.tile(np.array(group, dtype=object), months),
            "metric": np.tile(np.array(metric, dtype=object), months),
            "value": np.asarray(values, dtype=np.float64).reshape(-1),
        }
    )


def replicate_metrics(
    scenario: Scenario,
    n: int,
    months: int,
    seed: np.random.SeedSequence,
    draw_parameters: bool = False,
    progress: tqdm | None = None,
    population: Population | None = None,
    calibration: CalibrationChoice | str = SHIPPED,
    treatment_rows: list[dict] | None = None,
    outcomes: list[np.ndarray] | None = None,
) -> np.ndarray:
    """One replicate of a scenario: its metrics, months 0..``months`` × ``METRIC_KEYS``.

    The same ``seed`` always gives the same values. ``seed`` is split into the
    citizens, the engine's draws, (if ``draw_parameters``) one draw of the
    joint approval model from its calibrated uncertainty, and the member drawn
    under ``calibration = "ensemble"``. The citizens and the joint model come
    from the calibration the choice gives this replicate (``replicate_member``);
    coefficients are drawn from that calibration's own covariance.
    ``population`` may pass the citizens of this seed and calibration already
    built (``replicate_population``). The scenario's treatments' rows
    (``sim.treatments.record``) are appended to ``treatment_rows`` if given,
    and the citizens' final ``SCSEngine.citizen_outcomes`` to ``outcomes``.
    """
    population_ss, model_ss, parameter_ss, _ = split_seed(seed)
    chosen = replicate_calibration(calibration, seed)
    if population is None:
        population = build_population(n, population_ss, chosen.generator)
    approval = engine_approval_model(chosen.joint, np.random.default_rng(parameter_ss) if draw_parameters else None)
    # Released on leaving (``SCSEngine.release``): the next replicate's citizens never share memory with these.
    engine = SCSEngine(
        population, approval, scenario.params(), scenario.schedule(), seed=model_ss, treatments=scenario.treatments
    )
    with engine as model:
        for _ in range(months):
            model.step()
            if progress is not None:
                progress.update(1)
        # The engine collects each month as a vector in the order of METRIC_KEYS:
        # stacking them saves building and reading a dict per month.
        values = model.metric_history()
        if treatment_rows is not None:
            treatment_rows += model.treatment_rows
        if outcomes is not None:
            outcomes.append(model.citizen_outcomes())
    if values.shape != (months + 1, len(METRIC_KEYS)) or values.dtype != np.float64:
        raise RuntimeError(f"the engine returned metrics of shape {values.shape}, not months × sim.metrics.METRIC_KEYS")
    return values


def split_seed(seed: np.random.SeedSequence) -> list[np.random.SeedSequence]:
    """A replicate's seed → (citizens, engine draws, approval-model draw, ensemble member draw)."""
    # Spawn from a copy: spawning advances the original's child counter. Children
    # are keyed by their index, so the first three are those of the earlier
    # spawn(3): adding the member stream left shipped runs unchanged.
    seed = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    return seed.spawn(4)


def replicate_member(calibration: CalibrationChoice | str, seed: np.random.SeedSequence) -> int | None:
    """The ensemble member replicate ``seed`` runs with under ``calibration`` (None: the shipped calibration)."""
    return member_for_stream(calibration, split_seed(seed)[3])


def replicate_calibration(calibration: CalibrationChoice | str, seed: np.random.SeedSequence) -> Calibration:
    """The loaded calibration (generator and joint model) of the replicate with this seed."""
    return load_calibration(replicate_member(calibration, seed))


def replicate_population(
    n: int, seed: np.random.SeedSequence, calibration: CalibrationChoice | str = SHIPPED
) -> Population:
    """The citizens of the replicate with this seed (what ``replicate_metrics`` would build).

    Its arrays are read-only, so one population can serve every arm of a
    paired replicate without any arm changing it for the others.
    """
    generator = replicate_calibration(calibration, seed).generator
    population = build_population(n, split_seed(seed)[0], generator)
    for value in vars(population).values():
        for array in value.values() if isinstance(value, dict) else (value,):
            if isinstance(array, np.ndarray):
                array.setflags(write=False)
    return population


_population_cache: dict[tuple, Population] = {}


def cached_population(
    n: int, seed: np.random.SeedSequence, calibration: CalibrationChoice | str = SHIPPED
) -> Population:
    """``replicate_population``, kept for the next call in this process (one population at a time).

    Paired arms and sweep points that share a seed and a generator share their
    citizens, so a worker given consecutive runs of one replicate builds the
    citizens once. The key holds the generator's file: members differ in citizens.
    """
    generator_key = replicate_calibration(calibration, seed).key
    key = (n, seed.entropy, seed.spawn_key, seed.pool_size, generator_key)
    if key not in _population_cache:
        _population_cache.clear()
        _population_cache[key] = replicate_population(n, seed, calibration)
    return _population_cache[key]


def run_replicate(
    scenario: Scenario,
    n: int,
    months: int,
    seed: np.random.SeedSequence,
    replicate: int,
    draw_parameters: bool = False,
    progress: tqdm | None = None,
    calibration: CalibrationChoice | str = SHIPPED,
    treatment_rows: list[dict] | None = None,
) -> pd.DataFrame:
    """One replicate of a scenario, as tidy rows (the same ``seed`` always gives the same rows).

    Its treatments' rows, tagged with ``replicate``, are appended to ``treatment_rows`` if given.
    """
    rows: list[dict] = []
    values = replicate_metrics(scenario, n, months, seed, draw_parameters, progress, calibration=calibration,
                               treatment_rows=rows)  # fmt: skip
    if treatment_rows is not None:
        treatment_rows += [{"replicate": replicate, **row} for row in rows]
    return tidy(values, scenario.name, replicate)


@dataclass
class Results:
    """Tidy trajectories of one scenario and how they were produced.

    ``members`` holds the ensemble member each replicate ran with (None: the
    shipped calibration), in replicate order.
    """

    frame: pd.DataFrame
    scenario: Scenario
    n: int
    months: int
    replications: int
    seed: int
    draw_parameters: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    calibration: CalibrationChoice = SHIPPED
    members: list[int | None] = field(default_factory=list)
    # Treated and control means by treatment, subgroup, month and replicate (None: the scenario has no treatments).
    treatments: pd.DataFrame | None = None

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
    """A scenario, a population size, a seed and a calibration choice: call ``run`` to simulate.

    ``calibration`` is ``"shipped"`` (default), ``"ensemble"`` (each replicate
    draws an accepted member of the calibration ensemble) or ``"member:K"``.
    """

    def __init__(
        self,
        scenario: Scenario,
        n: int = DEFAULT_N,
        seed: int = 0,
        draw_parameters: bool = False,
        calibration: CalibrationChoice | str = SHIPPED,
    ):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UserError(f"n: must be a positive integer, got {n!r}")
        self.scenario = scenario
        self.n = n
        self.seed = seed
        self.draw_parameters = draw_parameters
        self.calibration = parse_calibration(calibration)

    @classmethod
    def from_scenario(
        cls,
        scenario: str | Path,
        n: int = DEFAULT_N,
        seed: int = 0,
        draw_parameters: bool = False,
        calibration: CalibrationChoice | str = SHIPPED,
    ) -> Simulation:
        """From a shipped scenario name (``"baseline"``) or a TOML path."""
        return cls(load_scenario(scenario), n=n, seed=seed, draw_parameters=draw_parameters, calibration=calibration)

    def run(self, months: int = DEFAULT_MONTHS, replications: int = 1, progress: bool = False) -> Results:
        """Simulate ``replications`` replicates of ``months`` months each."""
        if isinstance(months, bool) or not isinstance(months, int) or months < 0:
            raise UserError(f"months: must be an integer >= 0, got {months!r}")
        if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
            raise UserError(f"replications: must be an integer >= 1, got {replications!r}")
        self.scenario.check_horizon(months)
        seeds = replicate_seeds(self.seed, replications)
        check_parameter_files()  # a bad parameter file fails as one line, before the progress bar starts
        checked_choice(self.calibration)  # and so does a calibration that cannot be loaded
        rows: list[dict] = []
        with tqdm(total=months * replications, desc=self.scenario.name, unit="month", disable=not progress) as bar:
            frames = [
                run_replicate(
                    self.scenario, self.n, months, child, r, self.draw_parameters, bar, self.calibration, rows
                )
                for r, child in enumerate(seeds)
            ]
        frame = pd.concat(frames, ignore_index=True)
        members = [replicate_member(self.calibration, child) for child in seeds]
        treatments = treatment_frame(rows) if self.scenario.treatments else None
        return Results(frame, self.scenario, self.n, months, replications, self.seed, self.draw_parameters,
                       calibration=self.calibration, members=members, treatments=treatments)  # fmt: skip
