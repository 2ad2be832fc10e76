"""Parameters of the citizen dynamics: the one typed schema (``sim.schema``).

Three kinds, kept apart as in exploratory modelling (EMA Workbench):

* ``PolicyLevers``: what a government or platform chooses (blacklisting,
  sanctions, benefits, coverage, transparency, framing). Scenarios change these.
* ``DynamicsParams``: behavioural assumptions that the paper does not measure
  (recall windows, how fast fairness recovers, ...). Sweeps vary them as
  uncertainties.
* ``Channels``: switches for each route by which policy reaches the approval
  model's covariates.

The score dynamics (``sim.scores.ScoreParams``) are a fourth group of
assumptions. Every field records its range, its source and why the range is
what it is; levers the survey pins at t = 0 also carry a status-quo range.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from sim.schema import SCHEMA_CONFIG, bounded, check_status_quo, switch
from sim.scores import ScoreParams

ADVANTAGE_TYPES = ("credit", "loan_rate", "savings_rate", "visa", "deposit_free", "checkin", "dating")

SESAME_SCALE = "the Sesame Credit scale, 350–950 (Section 3.2)"
SHARE = "a probability or share"
RELATIVE = "defined relative to 2018, whose calibrated rates it multiplies"
TABLE5 = "assumption: Table 5 (benefits by location) is withheld; Section 4.4 says rural users have less use for some"
# Listings count as disadvantages; at t = 0 they must leave room for Table A2's
# 25.1% of Sesame/Tencent users with disadvantages in the low-propensity class
# (sim.baseline.calibrate_baseline), which bounds how many can be listed in 2018.
XU2022 = (
    "external: Xu, Kostka & Cao (2022), 'Information Control and Public Support for Social Credit Systems in "
    "China', Journal of Politics"
)
# Solved by calibration/information.py (``scsim calibrate --information``); a test checks that they agree.
SOLVED_XU2022 = "solved so that the in-silico survey experiment reproduces " + XU2022.removeprefix("external: ")
LISTING_ROOM = (
    "2018 listings must leave room for Table A2's 25.1% disadvantages among Sesame/Tencent users, and for the 11% "
    "of residents aware of their pilot (Section 4), since the listed know"
)


def threshold(default: float, benefit: str) -> float:
    return bounded(default, 350, 950, f"score needed for {benefit}", why=SESAME_SCALE)


def fading(what: str, source: str) -> float:
    """A monthly rate at which an information state fades (the same default, range and prior for each)."""
    return bounded(
        0.2, 0.02, 1, f"monthly share of {what} that fades", source=source,
        why="from a half-life of almost three years to forgetting within the month",
        prior=(0.05, 0.5), prior_why="half-lives from about one month to a year",
    )  # fmt: skip


def availability(default: float, benefit: str, place: str) -> float:
    source = "assumption" if place == "cities" else TABLE5
    return bounded(default, 0, 1, f"availability of {benefit} in {place}", source=source, why=SHARE)


class PolicyLevers(BaseModel):
    """Policy levers (the shipped values are assumptions unless a source is named).

    Score thresholds are on the Sesame scale (350–950); Tencent-only users are
    compared at the same quantile of their own score distribution.
    """

    model_config = SCHEMA_CONFIG

    threshold_credit: float = threshold(550, "credit without difficulty")
    threshold_loan_rate: float = threshold(600, "lower loan rates")
    threshold_savings_rate: float = threshold(600, "higher savings rates")
    threshold_visa: float = threshold(650, "fast-tracked visas")
    threshold_deposit_free: float = threshold(500, "deposit-free services")
    threshold_checkin: float = threshold(600, "fast-tracked check-ins")
    threshold_dating: float = threshold(550, "a dating-profile boost")
    urban_credit: float = availability(1.0, "credit benefits", "cities")
    rural_credit: float = availability(0.8, "credit benefits", "rural areas")
    urban_loan_rate: float = availability(1.0, "loan-rate benefits", "cities")
    rural_loan_rate: float = availability(0.7, "loan-rate benefits", "rural areas")
    urban_savings_rate: float = availability(1.0, "savings-rate benefits", "cities")
    rural_savings_rate: float = availability(0.7, "savings-rate benefits", "rural areas")
    urban_visa: float = availability(1.0, "visa benefits", "cities")
    rural_visa: float = availability(0.5, "visa benefits", "rural areas")
    urban_deposit_free: float = availability(1.0, "deposit-free services", "cities")
    rural_deposit_free: float = availability(0.4, "deposit-free services", "rural areas")
    urban_checkin: float = availability(1.0, "check-in benefits", "cities")
    rural_checkin: float = availability(0.6, "check-in benefits", "rural areas")
    urban_dating: float = availability(1.0, "dating benefits", "cities")
    rural_dating: float = availability(1.0, "dating benefits", "rural areas")
    benefit_generosity: float = bounded(
        1.0, 0, 10, "multiplier on how often eligible users receive benefits (1 = 2018)",
        why="from none to ten times the 2018 frequency", status_quo=(1, 1), status_quo_why=RELATIVE,
    )  # fmt: skip
    disadvantage_threshold: float = bounded(
        550, 350, 950, "below this score users risk commercial disadvantages more often", why=SESAME_SCALE
    )
    disadvantage_intensity: float = bounded(
        1.0, 0, 10, "multiplier on how often commercial disadvantages occur (1 = 2018)",
        why="from none to ten times the 2018 frequency", status_quo=(1, 1), status_quo_why=RELATIVE,
    )  # fmt: skip
    blacklist_rate: float = bounded(
        0.02, 0, 1, "P(blacklisted) per missed repayment of a pilot resident", why=SHARE,
        status_quo=(0, 0.05), status_quo_why=LISTING_ROOM,
    )  # fmt: skip
    false_positive_rate: float = bounded(
        0.0002, 0, 0.05, "monthly P(listed without misconduct), pilot residents",
        why="up to one wrongful listing per 20 residents a month, far beyond any reported error rate",
        status_quo=(0, 0.001), status_quo_why=LISTING_ROOM,
    )  # fmt: skip
    delisting_months: int = bounded(
        24, 1, 120, "months until a listed citizen is delisted (credit repair)",
        why="from one month to ten years on a list",
    )  # fmt: skip
    sanction_breadth: int = bounded(
        1, 1, 3, "sanctions per listing: 1 travel ban, 2 + credit restriction, 3 + public naming",
        source="Section 2: blacklists restrict high-speed trains and financial services",
        why="the three sanction levels the engine models",
    )  # fmt: skip
    redlist_rate: float = bounded(
        0.01, 0, 1, "monthly P(redlisted) for pilot residents in the top score decile", source="assumption (Section 2)",
        why=SHARE,
    )  # fmt: skip
    pilot_coverage: float | None = bounded(
        None, 0, 1, "share of citizens in pilot localities (unset: the 2018 share, 43%, Section 4)",
        source="Section 4 (43% of respondents lived in one of the 42 pilot localities)", why=SHARE,
        status_quo=(), status_quo_why="the 2018 coverage is the population's own: 43% in Section 4",
    )  # fmt: skip
    algorithm_transparency: float = bounded(
        0.0, 0, 1, "0 opaque (2018), 1 scoring algorithms published", why="from opaque to fully published",
        status_quo=(0, 0), status_quo_why="the algorithms were not in the public domain in 2018 (Conclusion)",
    )  # fmt: skip
    media_framing: float = bounded(
        0.0, -1, 1, "state-media framing relative to 2018 (+ more positive)",
        source="assumption",
        why="one unit of framing either way", status_quo=(0, 0), status_quo_why="framing is measured from 2018",
    )  # fmt: skip
    media_punitive_share: float = bounded(
        0.028, 0, 1, "share of state-media SCS coverage that reports punitive uses (2018: 2.8%)",
        source=XU2022 + ": 2.8% of 650 state-media reports on the SCS portrayed it negatively",
        why=SHARE,
    )  # fmt: skip
    naming_audience: float = bounded(
        50, 0, 10_000, "pilot residents who see each public naming (sanction_breadth 3)",
        why="from nobody to a locality-wide notice board of 10,000 residents per name",
    )  # fmt: skip


class DynamicsParams(BaseModel):
    """Behavioural assumptions (not measured by the paper)."""

    model_config = SCHEMA_CONFIG

    recall_months: int = bounded(
        12, 1, 60, "window in which a benefit or disadvantage counts as received",
        why="from one month to five years of memory",
    )  # fmt: skip
    advantage_persistence: float = bounded(
        0.98, 0.9, 0.99, "stationary P(advantages) of the users who had them at t = 0",
        why="below ≈0.86 the other users would need P > 1 to keep Table A2's 87.6% (0.9 leaves room for "
        "sampling); above 0.99 more of those who had advantages must keep them than are eligible for any benefit",
    )  # fmt: skip
    disadvantage_persistence: float = bounded(
        0.8, 0.3, 0.95, "stationary P(disadvantages) of the users who had them at t = 0",
        why="from weak to strong persistence; above ≈0.97 the other users could not hold even the 2018 listings",
    )  # fmt: skip
    fairness_drop_wrongful: float = bounded(
        1.0, 0, 3, "fairness points lost when listed without misconduct", why="up to the whole 1–4 fairness scale",
        prior=(0, 2),
        prior_why="from none to two-thirds of the 1–4 scale",
    )
    fairness_drop_peer: float = bounded(
        0.5, 0, 3, "fairness points lost per tie wrongly listed", why="up to the whole 1–4 fairness scale",
        prior=(0, 1),
        prior_why="from none to a third of the 1–4 scale per tie",
    )
    fairness_recovery: float = bounded(
        0.05, 0, 1, "monthly share of a fairness loss that recovers", why=SHARE,
        prior=(0.01, 0.2),
        prior_why="half-lives from about three months to six years",
    )
    fairness_transparency_gain: float = bounded(
        0.3, 0, 3, "fairness points gained when algorithms are published", why="up to the whole 1–4 fairness scale"
    )
    transparency_gain: float = bounded(
        1.0, 0, 2, "transparency points gained when algorithms are published", why="the whole 1–3 transparency scale"
    )
    framing_sensitivity: float = bounded(
        0.3, 0, 2, "perceived-function points per unit of media framing", why="up to half of the 1–5 scales"
    )
    sanction_function_drop: float = bounded(
        0.5, 0, 4, "perceived-function points lost while sanctioned", why="up to the whole 1–5 scales", prior=(0, 1),
        prior_why="from none to a quarter of the 1–5 scales",
    )
    functions_drift: float = bounded(
        0.1, 0, 1, "monthly speed at which perceived functions adjust", why=SHARE,
        prior=(0.05, 0.5),
        prior_why="adjustment within about 2 to 20 months",
    )
    relative_sensitivity: float = bounded(
        1.0, 0, 5, "relative-score points per SD of score change vs ties", why="up to the whole 1–5 scale per SD",
        prior=(0, 2),
        prior_why="from none to two points per SD",
    )
    awareness_forgetting: float = bounded(
        0.02, 0.01, 1, "monthly P(an aware pilot resident stops being aware)",
        why="below 0.01 the 11% aware (Section 4) cannot be held: delisted citizens return aware faster than "
        "anyone forgets",
    )  # fmt: skip
    network_degree: int = bounded(8, 1, 50, "social ties per citizen", why="from one tie to a wide circle")
    knowledge_decay: float = fading(
        "knowledge of punitive uses",
        "assumption (information effects fade within weeks to months: Hill, Lo, Vavreck & Zaller 2013, "
        "Political Communication 30(4))",
    )
    media_learning: float = bounded(
        1.0, 0, 1, "monthly P(learning of punitive uses) per unit share of punitive media coverage",
        why="a probability per unit share: at 1, coverage that reported nothing else would reach everyone monthly",
        prior=(0.25, 1),
        prior_why="from a quarter of the readers of punitive coverage learning monthly to all",
    )  # fmt: skip
    tie_learning: float = bounded(
        0.5, 0, 1, "P(a tie's new listing teaches of punitive uses, or shows enforcement)", why=SHARE, prior=(0.1, 0.9),
        prior_why="most but not all ties hear of a listing, or few do",
    )
    knowledge_drop: float = bounded(
        0.5008, 0, 4, "perceived-function and fairness points lost at full knowledge of punitive uses",
        source=SOLVED_XU2022 + " (repression treatment: support about 12% lower)",
        why="up to the whole 1–5 scales", prior=(0, 1),
        prior_why="from none to twice the solved value; the Xu check keeps draws inside its band",
    )  # fmt: skip
    enforcement_gain: float = bounded(
        0.0706, 0, 4, "perceived-function points gained at full memory of deserved punishment seen",
        source=SOLVED_XU2022 + " (social-order frame: support not much higher); Interview 5 (Section 4.4)",
        why="from no effect (0 is allowed: the route may not exist) to the whole 1–5 scales", prior=(0, 0.5),
        prior_why="from none to about seven times the solved value; the Xu check keeps draws inside its band",
    )  # fmt: skip
    enforcement_decay: float = fading("the memory of deserved punishment seen", "assumption (as knowledge_decay)")


class Channels(BaseModel):
    """Routes from policy to the approval model's covariates; each can be switched off."""

    model_config = SCHEMA_CONFIG

    disadvantage: bool = switch(True, "sanctions and low scores → `disadvantages`")
    fairness: bool = switch(True, "wrongful listings (own, ties), transparency → `fairness`")
    relative_score: bool = switch(True, "own score vs ties' scores → `relative_score`")
    awareness: bool = switch(True, "coverage → pilot awareness, and `received_info` for the newly covered")
    benefits: bool = switch(True, "benefits and redlists (or their withdrawal) → `advantages`")
    transparency: bool = switch(True, "published algorithms → `transparency`")
    sanction_functions: bool = switch(True, "perceived functions fall while sanctioned")
    media_functions: bool = switch(True, "state-media framing → perceived functions")
    punitive_knowledge: bool = switch(
        True, "knowledge of punitive uses (own or ties' listings, public naming, media) → perceived functions, fairness"
    )
    visible_enforcement: bool = switch(True, "deserved listings seen (ties, public naming) → perceived functions")


class SimulationParams(BaseModel):
    """Everything the engine needs besides the population and the approval model."""

    model_config = SCHEMA_CONFIG

    levers: PolicyLevers = Field(default_factory=PolicyLevers)
    dynamics: DynamicsParams = Field(default_factory=DynamicsParams)
    channels: Channels = Field(default_factory=Channels)
    scores: ScoreParams = Field(default_factory=ScoreParams)

    def check_status_quo(self) -> None:
        """Raise ``ParameterError`` if a t = 0 lever lies outside its status-quo range."""
        check_status_quo(self.levers, "levers")
        check_status_quo(self.dynamics, "dynamics")
        check_status_quo(self.scores, "scores")


PARAMETER_GROUPS: dict[str, type[BaseModel]] = {
    "levers": PolicyLevers,
    "dynamics": DynamicsParams,
    "channels": Channels,
    "scores": ScoreParams,
}
