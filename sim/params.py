"""Parameters of the citizen dynamics, each with an explicit allowed range.

Three kinds, kept apart as in exploratory modelling (EMA Workbench):

* ``PolicyLevers``: what a government or platform chooses (blacklisting,
  sanctions, benefits, coverage, transparency, framing). Scenarios change these.
* ``DynamicsParams``: behavioural assumptions that the paper does not measure
  (recall windows, how fast fairness recovers, ...). Each is a named,
  documented assumption; sweeps can vary them as uncertainties.
* ``Channels``: switches for each route by which policy reaches the approval
  model's covariates.

Every numeric field carries ``metadata["range"]`` = (low, high); scenario
validation and sweeps read the ranges from here, so they are defined once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from sim.scores import ScoreParams

ADVANTAGE_TYPES = ("credit", "loan_rate", "savings_rate", "visa", "deposit_free", "checkin", "dating")


def bounded(default: float, low: float, high: float, doc: str) -> Any:
    """A dataclass field with an allowed range and a one-line description."""
    return field(default=default, metadata={"range": (low, high), "doc": doc})


@dataclass(frozen=True)
class PolicyLevers:
    """Policy levers (the values of the shipped baseline are assumptions, see docs).

    Score thresholds are on the Sesame scale (350–950); Tencent-only users are
    compared at the same quantile of their own score distribution.
    """

    threshold_credit: float = bounded(550, 350, 950, "score needed for credit without difficulty")
    threshold_loan_rate: float = bounded(600, 350, 950, "score needed for lower loan rates")
    threshold_savings_rate: float = bounded(600, 350, 950, "score needed for higher savings rates")
    threshold_visa: float = bounded(650, 350, 950, "score needed for fast-tracked visas")
    threshold_deposit_free: float = bounded(500, 350, 950, "score needed for deposit-free services")
    threshold_checkin: float = bounded(600, 350, 950, "score needed for fast-tracked check-ins")
    threshold_dating: float = bounded(550, 350, 950, "score needed for a dating-profile boost")
    # Availability by location: the paper argues rural citizens have less use for
    # several benefits (Section 4.4); Table 5 itself is withheld.
    urban_credit: float = bounded(1.0, 0, 1, "availability of credit benefits in cities")
    rural_credit: float = bounded(0.8, 0, 1, "availability of credit benefits in rural areas")
    urban_loan_rate: float = bounded(1.0, 0, 1, "availability of loan-rate benefits in cities")
    rural_loan_rate: float = bounded(0.7, 0, 1, "availability of loan-rate benefits in rural areas")
    urban_savings_rate: float = bounded(1.0, 0, 1, "availability of savings-rate benefits in cities")
    rural_savings_rate: float = bounded(0.7, 0, 1, "availability of savings-rate benefits in rural areas")
    urban_visa: float = bounded(1.0, 0, 1, "availability of visa benefits in cities")
    rural_visa: float = bounded(0.5, 0, 1, "availability of visa benefits in rural areas")
    urban_deposit_free: float = bounded(1.0, 0, 1, "availability of deposit-free services in cities")
    rural_deposit_free: float = bounded(0.4, 0, 1, "availability of deposit-free services in rural areas")
    urban_checkin: float = bounded(1.0, 0, 1, "availability of check-in benefits in cities")
    rural_checkin: float = bounded(0.6, 0, 1, "availability of check-in benefits in rural areas")
    urban_dating: float = bounded(1.0, 0, 1, "availability of dating benefits in cities")
    rural_dating: float = bounded(1.0, 0, 1, "availability of dating benefits in rural areas")
    benefit_generosity: float = bounded(1.0, 0, 10, "multiplier on how often eligible users receive benefits")
    disadvantage_threshold: float = bounded(550, 350, 950, "below this score users risk commercial disadvantages")
    disadvantage_intensity: float = bounded(1.0, 0, 10, "multiplier on how often commercial disadvantages occur")
    blacklist_rate: float = bounded(0.02, 0, 1, "P(blacklisted) per missed repayment of a pilot resident")
    false_positive_rate: float = bounded(0.0002, 0, 0.05, "monthly P(listed without misconduct), pilot residents")
    delisting_months: float = bounded(24, 1, 120, "months until a listed citizen is delisted (credit repair)")
    sanction_breadth: float = bounded(1, 1, 3, "sanctions per listing: 1 travel ban, 2 + credit, 3 + naming")
    redlist_rate: float = bounded(0.01, 0, 1, "monthly P(redlisted) for pilot residents in the top score decile")
    pilot_coverage: float = bounded(0.43, 0.43, 1.0, "share of citizens in pilot localities (43% in 2018)")
    algorithm_transparency: float = bounded(0.0, 0, 1, "0 opaque (2018), 1 scoring algorithms published")
    media_framing: float = bounded(0.0, -1, 1, "state-media framing relative to 2018 (+ more positive)")


@dataclass(frozen=True)
class DynamicsParams:
    """Behavioural assumptions (not measured by the paper)."""

    recall_months: float = bounded(12, 1, 60, "window in which a benefit or disadvantage counts as received")
    advantage_persistence: float = bounded(0.98, 0.5, 0.999, "stationary P(advantages) of users who had them")
    disadvantage_persistence: float = bounded(0.8, 0.3, 0.999, "stationary P(disadvantages) of users who had them")
    fairness_drop_wrongful: float = bounded(1.0, 0, 3, "fairness points lost when listed without misconduct")
    fairness_drop_peer: float = bounded(0.5, 0, 3, "fairness points lost per tie wrongly listed")
    fairness_recovery: float = bounded(0.05, 0, 1, "monthly share of a fairness loss that recovers")
    fairness_transparency_gain: float = bounded(0.3, 0, 3, "fairness points gained when algorithms are published")
    transparency_gain: float = bounded(1.0, 0, 2, "transparency points gained when algorithms are published")
    framing_sensitivity: float = bounded(0.3, 0, 2, "perceived-function points per unit of media framing")
    sanction_function_drop: float = bounded(0.5, 0, 4, "perceived-function points lost while sanctioned")
    functions_drift: float = bounded(0.1, 0, 1, "monthly speed at which perceived functions adjust")
    relative_sensitivity: float = bounded(1.0, 0, 5, "relative-score points per SD of score change vs ties")
    awareness_forgetting: float = bounded(0.02, 0, 1, "monthly P(an aware pilot resident stops being aware)")
    network_degree: float = bounded(8, 1, 50, "social ties per citizen")


@dataclass(frozen=True)
class Channels:
    """Routes from policy to the approval model's covariates; each can be switched off."""

    disadvantage: bool = True  # sanctions and low scores → `disadvantages`
    fairness: bool = True  # wrongful listings (own, ties), transparency → `fairness`
    relative_score: bool = True  # own score vs ties' scores → `relative_score`
    awareness: bool = True  # coverage and sanctions → `gov_pilot_participant`, `received_info`
    benefits: bool = True  # benefits and redlists (or their withdrawal) → `advantages`
    transparency: bool = True  # published algorithms → `transparency`
    framing: bool = True  # media framing and sanctions → perceived functions


@dataclass(frozen=True)
class SimulationParams:
    """Everything the engine needs besides the population and the approval model."""

    levers: PolicyLevers = field(default_factory=PolicyLevers)
    dynamics: DynamicsParams = field(default_factory=DynamicsParams)
    channels: Channels = field(default_factory=Channels)
    scores: ScoreParams = field(default_factory=ScoreParams)

    def with_levers(self, **changes: float) -> SimulationParams:
        return replace(self, levers=replace(self.levers, **changes))


def ranges(cls: type) -> dict[str, tuple[float, float]]:
    """Allowed range of every bounded field of a parameter dataclass."""
    return {f.name: f.metadata["range"] for f in fields(cls) if "range" in f.metadata}


def check_ranges(instance: object) -> None:
    """Raise ValueError naming the first field outside its allowed range."""
    for name, (low, high) in ranges(type(instance)).items():
        value = getattr(instance, name)
        if not low <= value <= high:
            raise ValueError(f"{name}: must be between {low} and {high}, got {value}")
