"""The paper's qualitative statements about approval by group, as testable criteria.

Section 4 describes Figure 4 and the 'doubters' only in words (the percentages
are withheld for out-of-sample validation):

    "the oldest age group approves most strongly; approval rises with income;
    men are slightly more positive than women; approval is highest among the
    most educated and lowest among the low-educated; approval is higher in
    cities than in rural areas; regional differences are small and not
    significant."

    "The 'doubters' are the roughly 20% of respondents who strongly or somewhat
    disapprove or neither approve nor disapprove. They are younger, have a very
    low income, are slightly more likely to be female, have less education, and
    are more likely to live in rural areas."

Each statement becomes one criterion on the weighted synthetic sample. Orderings
are strict inequalities between weighted shares. The two vague words get
numbers chosen from the paper's own figures, not from the withheld ones:

* "slightly" (men against women): a gap above zero but no larger than Model 1's
  conditional male effect (its average marginal effect on the share approving,
  Table 4) plus the 95% sampling margin of a men–women difference in a survey of
  2,209 with the weighted gender split (Table A2). A larger bivariate gap is one
  the survey would have shown to exceed the conditional effect.
* "slightly more likely to be female" (doubters): the excess of women among the
  doubters that the same limit on the approval gap implies, by Bayes' rule:
  f_d − f = f(1 − f)·gap / P(doubter).
* "small and not significant" (regions): every pairwise gap below the 95% margin
  of that difference at the survey's N and weighted regional shares.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from calibration import paper
from calibration.published import load_models
from sim.approval import ApprovalModel

Z95 = 1.959963984540054
AGE_EDGES = (31, 51)  # Table A2's age groups 14–30, 31–50, 51+
APPROVING = 4  # "somewhat" or "strongly approve"
DOUBTING = 3  # at most "neither approve nor disapprove"
REGION_NAMES = {1: "West", 2: "Central", 3: "East"}  # Table A2's region codes


@dataclass(frozen=True)
class Criterion:
    """One statement of the paper checked on a sample."""

    name: str
    statement: str
    criterion: str
    measured: str
    passed: bool
    limit_pp: float | None = None  # the number a vague word was given, in percentage points

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _share(indicator: np.ndarray, weights: np.ndarray, mask: np.ndarray) -> float:
    return float(np.average(indicator[mask], weights=weights[mask]))


def _pp(value: float) -> str:
    return f"{100 * value:.1f}"


def _margin(p: np.ndarray, sizes: np.ndarray) -> float:
    """95% margin of a difference of two independent shares p at sample sizes ``sizes``."""
    return float(Z95 * np.sqrt(np.sum(p * (1 - p) / sizes)))


def male_effect(model: ApprovalModel, covariates: Mapping[str, np.ndarray], weights: np.ndarray) -> float:
    """Model 1's average marginal effect of being male on the share approving (on its subsample)."""
    inside = model.in_subsample(covariates)
    shares = []
    for male in (1, 0):
        p = model.probabilities({**covariates, "male": np.full(weights.size, male)})
        shares.append(p[:, APPROVING - 1 :].sum(axis=1))
    return float(np.average((shares[0] - shares[1])[inside], weights=weights[inside]))


def gender_gap_limit(
    covariates: Mapping[str, np.ndarray], weights: np.ndarray, men: float, women: float, survey_n: int | None = None
) -> float:
    """The largest men–women gap in the share approving that is still "slightly" (module docstring).

    Model 1's conditional male effect on this sample, plus the 95% margin of the
    gap between shares ``men`` and ``women`` at the survey's N and the sample's
    weighted gender split.
    """
    survey_n = survey_n or paper.sample_size()
    w = np.asarray(weights, dtype=float)
    male = np.asarray(covariates["male"]) == 1
    female_share = 1 - float(np.average(male, weights=w))
    effect = male_effect(load_models()["model1"], covariates, w)
    return effect + _margin(np.array([men, women]), survey_n * np.array([1 - female_share, female_share]))


def check(columns: Mapping[str, np.ndarray], weights: np.ndarray, survey_n: int | None = None) -> list[Criterion]:
    """Every qualitative criterion on a weighted sample (``columns`` as ``SyntheticSample.columns``)."""
    survey_n = survey_n or paper.sample_size()
    cov = {name: np.asarray(values) for name, values in columns.items()}
    w = np.asarray(weights, dtype=float)
    approval = cov["approval"]
    approve = (approval >= APPROVING).astype(float)
    everyone = np.ones(w.size, dtype=bool)
    by = {
        "age": np.digitize(cov["age"], AGE_EDGES) + 1,
        "income": cov["income_group"],
        "education": cov["education"],
    }

    def shares(name: str, codes) -> list[float]:
        return [_share(approve, w, by[name] == code) for code in codes]

    out = []
    age = shares("age", (1, 2, 3))
    out.append(Criterion(
        "oldest_approve_most", "the oldest age group approves most strongly",
        "share approving: 51+ above 14–30 and 31–50",
        f"14–30 {_pp(age[0])}%, 31–50 {_pp(age[1])}%, 51+ {_pp(age[2])}%", age[2] > max(age[:2]),
    ))  # fmt: skip
    income = shares("income", (1, 2, 3))
    out.append(Criterion(
        "approval_rises_with_income", "approval rises with income",
        "share approving rises from income group 1 to 2 to 3 (refusers left out)",
        ", ".join(f"group {k} {_pp(v)}%" for k, v in enumerate(income, start=1)), income[0] < income[1] < income[2],
    ))  # fmt: skip

    male = cov["male"] == 1
    men, women = _share(approve, w, male), _share(approve, w, ~male)
    female_share = 1 - float(np.average(male, weights=w))
    effect = male_effect(load_models()["model1"], cov, w)
    gap_limit = gender_gap_limit(cov, w, men, women, survey_n)
    out.append(Criterion(
        "men_slightly_more", "men are slightly more positive than women",
        f"0 < men − women ≤ {_pp(gap_limit)} pp (Model 1's conditional male effect {_pp(effect)} pp "
        f"+ the 95% margin of the gap at N = {survey_n:,})",
        f"men {_pp(men)}%, women {_pp(women)}%: gap {_pp(men - women)} pp", 0 < men - women <= gap_limit,
        100 * gap_limit,
    ))  # fmt: skip

    education = shares("education", (1, 2, 3, 4))
    # The size of the smallest group says how much a survey of 2,209 could tell about it.
    none_share = float(w[by["education"] == 1].sum() / w.sum())
    out.append(Criterion(
        "education_highest_top_lowest_low", "approval is highest among the most educated and lowest among the "
        "low-educated", "share approving: high education (4) above every other level, low (2) below every other",
        ", ".join(f"{label} {_pp(v)}%" for label, v in zip(("none", "low", "medium", "high"), education, strict=True))
        + f" (no education: {_pp(none_share)}% of the weighted sample, about {none_share * survey_n:.0f} "
        f"of {survey_n:,} respondents)",
        education[3] > max(education[:3]) and education[1] < min(education[0], *education[2:]),
    ))  # fmt: skip
    urban = cov["urban"] == 1
    city, rural = _share(approve, w, urban), _share(approve, w, ~urban)
    out.append(Criterion(
        "cities_higher", "approval is higher in cities than in rural areas", "share approving: urban above rural",
        f"urban {_pp(city)}%, rural {_pp(rural)}%", city > rural,
    ))  # fmt: skip

    regions = sorted(int(r) for r in np.unique(cov["region"]))
    region_share = {r: _share(approve, w, cov["region"] == r) for r in regions}
    region_weight = {r: float(w[cov["region"] == r].sum() / w.sum()) for r in regions}
    worst = max(
        itertools.combinations(regions, 2),
        key=lambda pair: (
            abs(region_share[pair[0]] - region_share[pair[1]])
            / _margin(np.array([region_share[r] for r in pair]), survey_n * np.array([region_weight[r] for r in pair]))
        ),
    )
    gap = abs(region_share[worst[0]] - region_share[worst[1]])
    limit = _margin(np.array([region_share[r] for r in worst]), survey_n * np.array([region_weight[r] for r in worst]))
    out.append(Criterion(
        "regions_small", "regional differences are small and not significant",
        f"every pairwise regional gap below its 95% margin at N = {survey_n:,}",
        ", ".join(f"{REGION_NAMES.get(r, r)} {_pp(v)}%" for r, v in region_share.items())
        + f"; the gap closest to its margin: {_pp(gap)} pp against {_pp(limit)} pp "
        f"({REGION_NAMES.get(worst[0], worst[0])}–{REGION_NAMES.get(worst[1], worst[1])})",
        gap < limit, 100 * limit,
    ))  # fmt: skip

    doubter = approval <= DOUBTING
    p_doubter = float(np.average(doubter, weights=w))

    def among(values: np.ndarray, mask: np.ndarray) -> float:
        return float(np.average(values[mask], weights=w[mask]))

    age_d, age_all = among(cov["age"], doubter), among(cov["age"], everyone)
    low_d, low_all = (among((cov["income_group"] == 1).astype(float), m) for m in (doubter, everyone))
    female_d = among((~male).astype(float), doubter)
    female_limit = female_share * (1 - female_share) * gap_limit / p_doubter
    edu_d, edu_all = among(cov["education"].astype(float), doubter), among(cov["education"].astype(float), everyone)
    rural_d, rural_all = (among((~urban).astype(float), m) for m in (doubter, everyone))
    out += [
        Criterion("doubters_younger", "doubters are younger", "mean age: doubters below everyone",
                  f"{age_d:.1f} against {age_all:.1f}", age_d < age_all),
        Criterion("doubters_very_low_income", "doubters have a very low income",
                  "share in income group 1 (under 1,000 RMB): doubters above everyone",
                  f"{_pp(low_d)}% against {_pp(low_all)}%", low_d > low_all),
        Criterion("doubters_slightly_female", "doubters are slightly more likely to be female",
                  f"0 < female share of doubters − of everyone ≤ {_pp(female_limit)} pp (the excess the "
                  "'slightly' limit on the men–women gap implies)",
                  f"{_pp(female_d)}% against {_pp(female_share)}%: {_pp(female_d - female_share)} pp",
                  0 < female_d - female_share <= female_limit, 100 * female_limit),
        Criterion("doubters_less_educated", "doubters have less education",
                  "mean education level (1–4): doubters below everyone", f"{edu_d:.2f} against {edu_all:.2f}",
                  edu_d < edu_all),
        Criterion("doubters_more_rural", "doubters are more likely to live in rural areas",
                  "rural share: doubters above everyone", f"{_pp(rural_d)}% against {_pp(rural_all)}%",
                  rural_d > rural_all),
    ]  # fmt: skip
    return out


def markdown(criteria: list[Criterion]) -> list[str]:
    """The criteria as a report section (lines)."""
    passed = sum(c.passed for c in criteria)
    return [
        "## The paper's qualitative statements (Section 4)",
        "",
        f"{passed} of {len(criteria)} criteria met. How each statement became a criterion: "
        "`calibration/qualitative.py`.",
        "",
        "| statement | criterion | measured (weighted) | met |",
        "|---|---|---|---|",
        *[f"| {c.statement} | {c.criterion} | {c.measured} | {'yes' if c.passed else '**no**'} |" for c in criteria],
        "",
    ]
