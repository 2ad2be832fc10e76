"""Commercial credit scores (Sesame 350–950, Tencent 0–850) that move with conduct.

Each score is a monotone transform of a Gaussian latent x_t:

    score_t = F⁻¹(Φ(x_t)),   x_t = m_i + d_t,
    d_{t+1} = ρ d_t + √(1 − ρ²) · s · ε_t,   ε_t ~ N(0, 1),

where F is the stationary score distribution (the reported bands of Table A2,
uniform within band), m_i the citizen's long-run level, d_t a mean-reverting
deviation with variance s². A month with ε_t below Φ⁻¹(p_i) is a missed
repayment (default); p_i, the citizen's default propensity, falls with m_i,
which the synthetic sample correlates with income, education and urban
residence. Other months are repayments and push the score up.

Why this form: at t = 0 each citizen's x_0 is placed inside their reported
band, and (m_i, d_0) is drawn from its exact conditional given x_0, so m and d
are independent with variances 1 − s² and s². Then x_t ~ N(0, 1) in every
month: the band distribution of Table A2 is reproduced at t = 0 and stays
stationary under the baseline, without burn-in.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np
from pydantic import BaseModel
from scipy.special import ndtr, ndtri

from sim.schema import SCHEMA_CONFIG, bounded

SESAME_EDGES = np.array([350.0, 450, 550, 650, 750, 850, 950])  # Table A2 bands
TENCENT_EDGES = np.array([0.0, 100, 200, 300, 400, 500, 600, 700, 800, 850])  # Table A2 bands


class ScoreParams(BaseModel):
    """Monthly score dynamics (assumptions, not in the paper)."""

    model_config = SCHEMA_CONFIG

    persistence: float = bounded(
        0.9, 0, 0.999, "ρ, monthly autocorrelation of a score's transitory deviation",
        why="from no memory to deviations lasting decades",
    )  # fmt: skip
    deviation_share: float = bounded(
        0.3, 0.01, 0.99, "s², share of score variance that is transitory",
        why="strictly inside (0, 1): the level and the deviation both need some variance",
    )  # fmt: skip
    default_rate: float = bounded(
        0.02, 0, 0.05, "mean monthly probability of a missed repayment",
        why="up to one missed repayment in 20 months on average; above ≈0.1 the listings it triggers in 2018 "
        "outrun the 11% of residents aware of their pilot (Section 4), since the listed know",
    )  # fmt: skip
    default_gradient: float = bounded(
        0.8, 0, 3, "how strongly the default propensity falls with the long-run score level (probit slope per SD)",
        why="from no gradient to a nearly deterministic one",
    )  # fmt: skip


@dataclass
class ScoreState:
    """One system's scores: long-run level m, deviation d (latent units)."""

    level: np.ndarray
    deviation: np.ndarray
    band_shares: np.ndarray
    edges: np.ndarray

    def latent(self) -> np.ndarray:
        return self.level + self.deviation

    def score(self) -> np.ndarray:
        return to_score(self.latent(), self.band_shares, self.edges)

    def band(self) -> np.ndarray:
        """Band codes 1..K of the current scores."""
        cumulative = np.concatenate([[0.0], np.cumsum(self.band_shares)])
        return np.clip(np.searchsorted(cumulative, ndtr(self.latent()), side="right"), 1, len(self.band_shares))


def to_score(latent: np.ndarray, band_shares: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """F⁻¹(Φ(x)): piecewise-linear quantile function of the banded distribution."""
    cumulative = np.concatenate([[0.0], np.cumsum(band_shares)])
    return np.interp(ndtr(latent), cumulative / cumulative[-1], edges)


def initial_scores(
    rng: np.random.Generator, band: np.ndarray, band_shares: np.ndarray, edges: np.ndarray, params: ScoreParams
) -> ScoreState:
    """Place each citizen inside their band and split x_0 into level and deviation.

    Args:
        rng: Generator for this system's initial draws.
        band: Reported band code 1..K per citizen (a full-state value, never missing).
        band_shares: Stationary band shares (Table A2, among those reporting).
        edges: Band edges in score points.
        params: Score dynamics.
    """
    shares = np.asarray(band_shares, dtype=float) / np.sum(band_shares)
    cumulative = np.concatenate([[0.0], np.cumsum(shares)])
    low, high = cumulative[band - 1], cumulative[band]
    u = np.clip(low + rng.random(band.size) * (high - low), 1e-12, 1 - 1e-12)
    x0 = ndtri(u)
    s2 = params.deviation_share
    level = (1 - s2) * x0 + np.sqrt(s2 * (1 - s2)) * rng.standard_normal(band.size)
    return ScoreState(level, x0 - level, shares, np.asarray(edges, dtype=float))


def default_propensity(state: ScoreState, params: ScoreParams) -> np.ndarray:
    """Monthly probability of a missed repayment, falling with the long-run level."""
    standardised = state.level / np.sqrt(1 - params.deviation_share)
    gradient = params.default_gradient
    # Probit intercept chosen so the population mean equals default_rate exactly:
    # E[Φ(a − g·z)] = Φ(a / √(1 + g²)) for z ~ N(0, 1).
    intercept = ndtri(params.default_rate) * np.sqrt(1 + gradient**2) if params.default_rate > 0 else -np.inf
    return ndtr(intercept - gradient * standardised)


def step_scores(
    state: ScoreState, params: ScoreParams, rng: np.random.Generator, shock: np.ndarray | None = None
) -> tuple[ScoreState, np.ndarray]:
    """One month of conduct and score movement.

    Args:
        state: Current scores.
        params: Score dynamics.
        rng: Generator (used only when ``shock`` is not given).
        shock: Standard-normal conduct shocks, one per citizen, when several
            systems should respond to the same month of conduct.

    Returns:
        The new state and a boolean array of citizens who defaulted this month.
    """
    if shock is None:
        shock = rng.standard_normal(state.level.size)
    if params.default_rate > 0:
        defaulted = np.empty(state.level.size, dtype=bool)
        _defaults(shock, state.level, *_default_threshold(params), defaulted)
    else:
        defaulted = np.zeros(state.level.size, dtype=bool)
    return move_scores(state, params, shock), defaulted


def _default_threshold(params: ScoreParams) -> tuple[float, float, float]:
    """Intercept, gradient and level SD of the default threshold: a default when the shock falls
    below intercept − gradient · level / level SD (−inf, no default, at a rate of 0)."""
    # Φ⁻¹(p_i) = intercept − g·z_i: the default threshold without evaluating Φ.
    gradient = params.default_gradient
    intercept = ndtri(params.default_rate) * np.sqrt(1 + gradient**2) if params.default_rate > 0 else -np.inf
    return intercept, gradient, np.sqrt(1 - params.deviation_share)


def _innovation_sd(params: ScoreParams) -> float:
    """The SD of a month's conduct shock in the deviation's AR(1) step."""
    return np.sqrt(1 - params.persistence**2) * np.sqrt(params.deviation_share)


@numba.njit(cache=True)
def _defaults(
    shock: np.ndarray, level: np.ndarray, intercept: float, gradient: float, level_sd: float, defaulted: np.ndarray
) -> None:
    """``defaulted = shock < intercept − gradient · level / level_sd``, compiled: no n-long temporaries."""
    for citizen in range(shock.size):
        defaulted[citizen] = shock[citizen] < intercept - gradient * level[citizen] / level_sd


def move_scores(state: ScoreState, params: ScoreParams, shock: np.ndarray) -> ScoreState:
    """The scores after a month with these conduct shocks (``step_scores`` without the defaults).

    For a system whose defaults nobody reads: it saves their computation.
    """
    deviation = np.empty(state.deviation.shape)
    _move_deviations(state.deviation, shock, params.persistence, _innovation_sd(params), deviation)
    return ScoreState(state.level, deviation, state.band_shares, state.edges)


def conduct_month(
    rng: np.random.Generator, systems: tuple[ScoreState, ...], params: ScoreParams
) -> tuple[tuple[ScoreState, ...], np.ndarray]:
    """One month of conduct moving every system's scores: ``step_scores`` for the first (whose defaults
    are returned), ``move_scores`` for the others, all with the same shocks.

    The shocks are ``rng.standard_normal(n)`` to the last bit, drawn in the same compiled pass by
    numba's port of NumPy's ziggurat from the generator's own state: no array of shocks (8 B a
    citizen), and about 6 ms a month at a million citizens against NumPy's 9.4 for the draw alone
    (``tests/test_draws.py`` checks the numbers).
    """
    n = systems[0].level.size
    moved = tuple(np.empty(n) for _ in systems)
    defaulted = np.empty(n, dtype=bool)
    _conduct(
        rng, systems[0].level, *_default_threshold(params), tuple(system.deviation for system in systems),
        params.persistence, _innovation_sd(params), moved, defaulted,
    )  # fmt: skip
    states = tuple(
        ScoreState(system.level, deviation, system.band_shares, system.edges)
        for system, deviation in zip(systems, moved, strict=True)
    )
    return states, defaulted


@numba.njit(cache=True)
def _conduct(
    rng: np.random.Generator,
    level: np.ndarray,
    intercept: float,
    gradient: float,
    level_sd: float,
    deviations: tuple,
    persistence: float,
    innovation_sd: float,
    moved: tuple,
    defaulted: np.ndarray,
) -> None:
    for citizen in range(level.size):
        shock = rng.standard_normal()
        # -inf (no defaults): never below.
        defaulted[citizen] = shock < intercept - gradient * level[citizen] / level_sd
        for system in range(len(moved)):
            moved[system][citizen] = persistence * deviations[system][citizen] + innovation_sd * shock


@numba.njit(cache=True)
def _move_deviations(
    deviation: np.ndarray, shock: np.ndarray, persistence: float, innovation_sd: float, out: np.ndarray
) -> None:
    """``out = persistence · deviation + innovation_sd · shock``, compiled: no n-long temporaries."""
    for citizen in range(out.size):
        out[citizen] = persistence * deviation[citizen] + innovation_sd * shock[citizen]


# Latents this close to a threshold's are mapped to scores exactly (see ``score_at_least``).
# The computed score F⁻¹(Φ(x)) is monotone except within a few ulps of Φ's and
# the band edges' branch points (~1e-15 in latent units): 1e-9 leaves a wide margin.
THRESHOLD_MARGIN = 1e-9


def _ordered(x: float) -> int:
    """An integer key in the order of the doubles (−0.0 and 0.0 share one)."""
    bits = int(np.float64(x).view(np.int64))
    return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)


def _from_ordered(key: int) -> float:
    return float(np.int64(key if key >= 0 else -key | -0x8000000000000000).view(np.float64))


def threshold_latent(threshold: float, band_shares: np.ndarray, edges: np.ndarray) -> float:
    """The smallest latent x whose score ``to_score(x)`` is at least ``threshold`` (±inf: every or no x).

    Found by bisection over the doubles, on the same ``to_score`` the scores use.
    """
    band = tuple(np.asarray(band_shares, dtype=float).tolist())
    return _threshold_latent(float(threshold), band, tuple(np.asarray(edges, dtype=float).tolist()))


# Levers change rarely: each threshold is searched once (~1 ms of bisection), not every month.
@functools.lru_cache(maxsize=256)
def _threshold_latent(threshold: float, band_shares: tuple[float, ...], edges: tuple[float, ...]) -> float:
    shares, points = np.array(band_shares), np.array(edges)

    def reaches(key: int) -> bool:
        return bool(to_score(np.array([_from_ordered(key)]), shares, points)[0] >= threshold)

    # Φ is 0 below −40 and 1 above 40 in double precision: scores are constant outside.
    low, high = _ordered(-40.0), _ordered(40.0)
    if reaches(low):
        return -np.inf
    if not reaches(high):
        return np.inf
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if reaches(middle) else (middle, high)
    return _from_ordered(high)


def score_at_least(
    latent: np.ndarray, threshold: float, band_shares: np.ndarray, edges: np.ndarray, *, below: bool = False
) -> np.ndarray:
    """``to_score(latent, band_shares, edges) >= threshold`` (``<`` with ``below``), to the last bit.

    Compares latents with the threshold's latent instead of mapping every latent
    to a score: saves Φ and the band interpolation, ~25 ms a month at a million
    citizens. Latents within ``THRESHOLD_MARGIN`` of it are mapped exactly.
    """
    cut = threshold_latent(threshold, band_shares, edges)
    if not np.isfinite(cut):
        # ±inf: every score, or none, reaches the threshold; NaN compares false either way.
        reached = cut < 0
        return ~np.isnan(latent) if reached != below else np.zeros(latent.shape, dtype=bool)
    if below:
        result, outer = np.less(latent, cut - THRESHOLD_MARGIN), np.less_equal(latent, cut + THRESHOLD_MARGIN)
    else:
        result, outer = np.greater(latent, cut + THRESHOLD_MARGIN), np.greater_equal(latent, cut - THRESHOLD_MARGIN)
    # Counting first: nearly every month nobody is that close, and no index is searched.
    if np.count_nonzero(outer) != np.count_nonzero(result):
        near = np.flatnonzero(outer & ~result)
        score = to_score(latent[near], band_shares, edges)
        result[near] = score < threshold if below else score >= threshold
    return result
