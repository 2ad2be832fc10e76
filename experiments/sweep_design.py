"""Design points of a sweep: grids, Latin hypercubes (scipy.stats.qmc), Sobol and Morris samples (SALib).

Every sampler works in the unit cube, one coordinate per factor; the unit
coordinate is then mapped to the factor's value: linearly for a continuous
factor, to one of its equally likely choices for an integer or a list of
values. The unit sample is stored with the design, because Sobol and Morris
analyses need exactly the sample that was drawn.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from experiments.sweep import DEFAULT_GRID_LEVELS, MAX_RUNS, Factor, Sweep, SweepError

DESIGN_STREAM = 0xD5161  # entropy word that keeps the design's stream apart from the runs'
MORRIS_LEVELS = 4  # SALib's default grid of the Morris method


@dataclass(frozen=True)
class Design:
    """The design points: unit coordinates (for the analysis) and factor values (for the runs)."""

    kind: str
    units: np.ndarray  # points × factors, in [0, 1]
    values: list[dict[str, object]]  # one {factor label: value} per point
    problem: dict[str, object]  # SALib's problem definition, in unit coordinates

    @property
    def points(self) -> int:
        return len(self.values)


def to_value(factor: Factor, unit: float) -> object:
    """The factor's value at one unit coordinate."""
    if factor.discrete:
        choices = factor.choices()
        return choices[min(int(unit * len(choices)), len(choices) - 1)]
    return float(factor.low + unit * (factor.high - factor.low))


def grid_levels(factor: Factor) -> list[object]:
    """A grid factor's values: its list, every integer in range, or evenly spaced levels."""
    if factor.values is not None:
        return list(factor.values)
    if factor.discrete:
        choices = factor.choices()
        if factor.levels is None or factor.levels >= len(choices):
            return choices
        return sorted({round(float(v)) for v in np.linspace(factor.low, factor.high, factor.levels)})
    return [float(v) for v in np.linspace(factor.low, factor.high, factor.levels or DEFAULT_GRID_LEVELS)]


def _unit_of(factor: Factor, value: object) -> float:
    """Midpoint unit coordinate of a value (grid points are stored like the sampled designs)."""
    if factor.discrete:
        choices = factor.choices()
        return (choices.index(value) + 0.5) / len(choices)
    return (float(value) - factor.low) / (factor.high - factor.low)


def build_design(sweep: Sweep) -> Design:
    """The design points of a sweep (identical for identical sweep files and seeds)."""
    factors = sweep.factors
    problem = {"num_vars": len(factors), "names": [f.label for f in factors], "bounds": [[0.0, 1.0]] * len(factors)}
    rng = np.random.default_rng(np.random.SeedSequence([DESIGN_STREAM, sweep.file.seed]))
    design, samples = sweep.file.design, sweep.file.samples
    if design == "grid":
        levels = [grid_levels(f) for f in factors]
        _check_size(int(np.prod([len(v) for v in levels])), sweep)
        combos = list(itertools.product(*levels))
        units = np.array([[_unit_of(f, v) for f, v in zip(factors, combo, strict=True)] for combo in combos])
    elif design == "lhs":
        from scipy.stats import qmc

        _check_size(samples, sweep)
        units = qmc.LatinHypercube(d=len(factors), seed=rng).random(samples)
    elif design == "sobol":
        from SALib.sample import sobol

        _check_size(samples * (len(factors) + 2), sweep)
        try:
            units = sobol.sample(problem, samples, calc_second_order=False, seed=rng)
        except ValueError as err:
            raise SweepError(f"samples: the Sobol sampler refuses {samples}: {err}") from None
    else:
        from SALib.sample import morris

        _check_size(samples * (len(factors) + 1), sweep)
        units = morris.sample(problem, samples, num_levels=sweep.file.levels or MORRIS_LEVELS, seed=rng)
    values = [{f.label: to_value(f, u) for f, u in zip(factors, row, strict=True)} for row in units]
    if design == "grid":
        values = [dict(zip(problem["names"], combo, strict=True)) for combo in combos]
    return Design(design, np.asarray(units, dtype=float), values, problem)


def _check_size(points: int, sweep: Sweep) -> None:
    runs = points * sweep.file.replications * (2 if sweep.shift is not None else 1)
    if runs > MAX_RUNS:
        raise SweepError(f"design: {runs:,} runs is more than the {MAX_RUNS:,} a sweep may hold; use fewer points")
