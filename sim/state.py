"""The citizens' state as a structure of arrays (one NumPy array per attribute).

``covariates`` holds the current values of the approval model's regressors,
keyed by their public names (``fairness``, ``advantages``, ...); ``baseline``
keeps the t = 0 values, which switched-off channels hold fixed and recovery
processes return to. A covariate no channel moves (``MOVABLE_COVARIATES``)
is one read-only array shared by both. Everything else is the machinery the policy and
perception stages need: scores, experience timers, list status, awareness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from sim.network import TieNetwork, homophilous_network, in_place_order
from sim.params import ADVANTAGE_TYPES, SimulationParams
from sim.scores import SESAME_EDGES, TENCENT_EDGES, ScoreState, initial_scores

# Regressors of the joint approval model, as read from the citizen's full state.
COVARIATES = (
    "age", "income_group", "male", "education", "urban", "region", "smartphone_time",
    "post_frequency", "ccp_member", "gov_confidence", "sesame_score_band", "relative_score",
    "transparency", "received_info", "auto_joined", "fairness", "advantages", "disadvantages",
    "accountability", "abiding_regulations", "quality_of_life",
)  # fmt: skip
FUNCTIONS = ("accountability", "abiding_regulations", "quality_of_life")
PILOT_EDGES = np.array([0.0, 1000.0])  # a pilot score on a 0–1000 percentile scale
FUNCTION_RANGES = {"accountability": (1, 5), "abiding_regulations": (1, 4), "quality_of_life": (1, 5)}
# The approval model's covariates each channel moves (and holds at t = 0 when off).
CHANNEL_COVARIATES: dict[str, tuple[str, ...]] = {
    "disadvantage": ("disadvantages",),
    "fairness": ("fairness",),
    "relative_score": ("relative_score",),
    "awareness": ("received_info",),
    "benefits": ("advantages",),
    "transparency": ("transparency",),
    "sanction_functions": FUNCTIONS,
    "media_functions": FUNCTIONS,
    "punitive_knowledge": (*FUNCTIONS, "fairness"),
    "visible_enforcement": FUNCTIONS,
}
# Every covariate a channel moves, channel by channel (the others never change).
MOVABLE_COVARIATES = tuple(dict.fromkeys(name for names in CHANNEL_COVARIATES.values() for name in names))
# Movable covariates whose every value is a whole number (a yes or no, or a missing-answer code).
YES_NO_COVARIATES = ("advantages", "disadvantages", "received_info")


@dataclass
class Population:
    """What the engine needs to start: the citizens' full t = 0 state.

    Attributes:
        covariates: Each regressor of ``COVARIATES`` for every citizen (full state).
        uses_sesame, uses_tencent, uses_other_commercial: System use (0/1).
        lives_in_pilot_locality, gov_pilot_participant: Pilot residence and awareness.
        tencent_score_band: Full-state Tencent band 1–9.
        sesame_band_shares, tencent_band_shares: Stationary band distributions.
    """

    covariates: dict[str, np.ndarray]
    uses_sesame: np.ndarray
    uses_tencent: np.ndarray
    uses_other_commercial: np.ndarray
    lives_in_pilot_locality: np.ndarray
    gov_pilot_participant: np.ndarray
    tencent_score_band: np.ndarray
    sesame_band_shares: np.ndarray
    tencent_band_shares: np.ndarray

    @property
    def n(self) -> int:
        return len(self.uses_sesame)


@dataclass
class CitizenState:
    """All citizens, one array per attribute."""

    covariates: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray]
    sesame_or_tencent: np.ndarray
    commercial: np.ndarray
    pilot_order: np.ndarray
    resident: np.ndarray
    initially_resident: np.ndarray
    aware: np.ndarray
    sesame: ScoreState
    tencent: ScoreState
    pilot: ScoreState
    # The ties, kept in the group × age order they were drawn in (``sim.network``).
    network: TieNetwork
    # Each citizen's row in the population it was built from (citizens are kept in the network's order).
    population_rows: np.ndarray
    # Each citizen's best latent at t = 0.
    initial_latent: np.ndarray
    approval_latent: np.ndarray
    months_since_advantage: np.ndarray
    months_since_disadvantage: np.ndarray
    listed_months_left: np.ndarray
    wrongly_listed: np.ndarray
    sanctions: np.ndarray
    redlisted_months_left: np.ndarray
    fairness_loss: np.ndarray
    # Points the perceived functions have drifted from t = 0 (sanctions, media framing), shared by the three.
    function_shift: np.ndarray
    # Knowledge of punitive uses and the memory of deserved punishment seen, 0–1 (``sim.perceptions``).
    punitive_knowledge: np.ndarray
    enforcement_seen: np.ndarray
    # Listed at any time since t = 0 (the forecast's never-sanctioned citizens are the others).
    ever_listed: np.ndarray
    # Who received each benefit type this month: one array of citizens per type, in the order of ADVANTAGE_TYPES
    # (a receiver is one citizen in about four a month: their indices, not a types × citizens mask).
    benefit_receivers: tuple[np.ndarray, ...] = tuple(np.empty(0, dtype=np.int64) for _ in ADVANTAGE_TYPES)
    # Values derived from attributes that never change (or change only with the levers), kept between months.
    group_cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.approval_latent)

    @property
    def benefits_this_month(self) -> np.ndarray:
        """Who received each benefit type this month (types × citizens), built from ``benefit_receivers``."""
        received = np.zeros((len(ADVANTAGE_TYPES), self.n), dtype=bool)
        for row, citizens in zip(received, self.benefit_receivers, strict=True):
            row[citizens] = True
        return received

    @property
    def ties(self) -> np.ndarray:
        """(n, degree) int32, the citizens each citizen names (built on each call, see ``TieNetwork.ties``)."""
        return self.network.ties

    @property
    def listed(self) -> np.ndarray:
        return self.listed_months_left > 0

    def best_latent(self, sesame: ScoreState | None = None, tencent: ScoreState | None = None) -> np.ndarray:
        """Each user's score latent on a common scale (the better of their systems).

        ``sesame`` and ``tencent`` default to the current scores; calibration passes future ones.
        """
        sesame, tencent = sesame or self.sesame, tencent or self.tencent
        both, uses_tencent = self._system_masks()
        return _best_latent(sesame.level, sesame.deviation, tencent.level, tencent.deviation, both, uses_tencent)

    def _system_masks(self) -> tuple[np.ndarray, np.ndarray]:
        """Users of both systems and of Tencent (fixed: found once, not every month)."""
        cached = self.group_cache.get("system_masks")
        if cached is None or cached[0] is not self.baseline["uses_tencent"]:
            uses_sesame, uses_tencent = self.baseline["uses_sesame"] == 1, self.baseline["uses_tencent"] == 1
            cached = (self.baseline["uses_tencent"], uses_sesame & uses_tencent, uses_tencent)
            self.group_cache["system_masks"] = cached
        return cached[1], cached[2]


@numba.njit(cache=True)
def _best_latent(
    sesame_level: np.ndarray,
    sesame_deviation: np.ndarray,
    tencent_level: np.ndarray,
    tencent_deviation: np.ndarray,
    both: np.ndarray,
    uses_tencent: np.ndarray,
) -> np.ndarray:
    """Sesame's latent; for users of both systems np.maximum(Sesame's, Tencent's); Tencent's for a
    Tencent user whose result is finite (a Tencent-only user's maximum(−inf, x) is x).

    Compiled: one pass instead of five n-long operations (~10 → ~2 ms a month at a million citizens).
    """
    latent = np.empty(sesame_level.size)
    for citizen in range(latent.size):
        own = sesame_level[citizen] + sesame_deviation[citizen]
        other = tencent_level[citizen] + tencent_deviation[citizen]
        # np.maximum(own, other)'s choice, NaN included (a NaN on either side wins).
        if both[citizen] and (own >= other or own != own):
            other = own
        if uses_tencent[citizen] and np.isfinite(other):
            own = other
        latent[citizen] = own
    return latent


def compact_copy(values: np.ndarray) -> np.ndarray:
    """A copy of ``values`` in int8 if that holds every value exactly, else in its own dtype.

    The survey's answers are small whole numbers: the t = 0 values take 1 byte a
    citizen instead of 8 (saves ~160 B a citizen over the 21 covariates). Readers
    compute with them in float64, which converts them back exactly.
    """
    values = np.asarray(values)
    if values.size and not (np.isfinite(values).all() and values.min() >= -128 and values.max() <= 127):
        return values.copy()
    compact = values.astype(np.int8)
    # Compared by value (NaN, fractions and out-of-range values differ): the float64 read back is the same.
    return compact if np.array_equal(compact, values) else values.copy()


def _rows(population: Population, rows: np.ndarray) -> Population:
    """The population's citizens in the order of ``rows`` (every array taken in that order)."""
    return Population(
        covariates={name: np.take(values, rows) for name, values in population.covariates.items()},
        **{
            name: np.take(getattr(population, name), rows)
            for name in ("uses_sesame", "uses_tencent", "uses_other_commercial", "lives_in_pilot_locality",
                         "gov_pilot_participant", "tencent_score_band")
        },
        sesame_band_shares=population.sesame_band_shares,
        tencent_band_shares=population.tencent_band_shares,
    )  # fmt: skip


def initial_state(population: Population, params: SimulationParams, rng: np.random.Generator) -> CitizenState:
    """Build the t = 0 state (scores placed in reported bands, ties, persistent draws).

    Experience timers, propensities and list status are set by
    ``sim.baseline.calibrate_baseline``, which makes the baseline stationary.
    """
    n = population.n
    cov = population.covariates
    network = homophilous_network(rng, cov["region"], cov["urban"], cov["age"], params.dynamics.network_degree)
    # Citizens are kept in the network's order: citizen i holds the population's row ``order[i]``, so a
    # citizen's ties lie within ``reach`` places of it and the channels that read ties read nearby memory.
    population_rows, network = network.order, in_place_order(network)
    population = _rows(population, population_rows)
    baseline = {name: compact_copy(values) for name, values in population.covariates.items()}
    covariates = {}
    for name, values in population.covariates.items():
        if name in YES_NO_COVARIATES:
            # The channels set them to 0 or 1 only: int8 (if every t = 0 value fits), which xβ and
            # the metrics read exactly; saves 21 B a citizen over three float64 arrays.
            covariates[name] = compact_copy(values)
        elif name in MOVABLE_COVARIATES:
            covariates[name] = np.array(values, dtype=np.float64)
        else:
            # A covariate no channel moves is its t = 0 value, shared and read-only (a write
            # raises): saves a float64 copy, 8 B a citizen for each of the 12 such covariates.
            covariates[name] = baseline[name]
            covariates[name].flags.writeable = False
    baseline["uses_sesame"] = compact_copy(population.uses_sesame)
    baseline["uses_tencent"] = compact_copy(population.uses_tencent)
    sesame_or_tencent = (population.uses_sesame == 1) | (population.uses_tencent == 1)
    commercial = sesame_or_tencent | (population.uses_other_commercial == 1)
    sesame_band = np.asarray(population.covariates["sesame_score_band"], dtype=np.int64)
    sesame = initial_scores(rng, sesame_band, population.sesame_band_shares, SESAME_EDGES, params.scores)
    tencent_band = np.asarray(population.tencent_score_band, dtype=np.int64)
    tencent = initial_scores(rng, tencent_band, population.tencent_band_shares, TENCENT_EDGES, params.scores)
    # Government pilots score residents on their own scale (0–1000 here, as a
    # percentile); it moves with the same monthly conduct as the commercial scores.
    pilot = initial_scores(rng, np.ones(n, dtype=np.int64), np.array([1.0]), PILOT_EDGES, params.scores)
    resident = np.asarray(population.lives_in_pilot_locality) == 1
    # Localities join or leave the pilots in one fixed random order: residents
    # hold the first places, in proportion to their share, so a coverage equal
    # to that share covers exactly them, raising it adds non-residents and
    # lowering it drops residents, without reshuffling anyone.
    base = float(resident.mean())
    order = rng.random(n)
    pilot_order = np.where(resident, order * base, base + order * (1 - base))
    state = CitizenState(
        covariates=covariates,
        baseline=baseline,
        sesame_or_tencent=sesame_or_tencent,
        commercial=commercial,
        pilot_order=pilot_order,
        resident=resident.copy(),
        initially_resident=resident,
        aware=np.asarray(population.gov_pilot_participant) == 1,
        sesame=sesame,
        tencent=tencent,
        pilot=pilot,
        network=network,
        population_rows=population_rows,
        initial_latent=np.zeros(n),
        approval_latent=rng.logistic(size=n),
        # Timers in the dtypes sim.baseline sets (int16 months since, int8 list months): saves 10 B a
        # citizen against int32, and np.zeros leaves the pages untouched until they are replaced.
        months_since_advantage=np.zeros(n, dtype=np.int16),
        months_since_disadvantage=np.zeros(n, dtype=np.int16),
        listed_months_left=np.zeros(n, dtype=np.int8),
        wrongly_listed=np.zeros(n, dtype=bool),
        sanctions=np.zeros(n, dtype=np.int8),
        redlisted_months_left=np.zeros(n, dtype=np.int8),
        fairness_loss=np.zeros(n),
        function_shift=np.zeros(n),
        # Set to their stationary t = 0 levels by sim.baseline.calibrate_baseline.
        punitive_knowledge=np.zeros(n),
        enforcement_seen=np.zeros(n),
        ever_listed=np.zeros(n, dtype=bool),
    )
    state.initial_latent = state.best_latent()
    return state
