"""The paper's qualitative statements (Section 4) as criteria: each can come out either way."""

from __future__ import annotations

import numpy as np
import pytest

from calibration import qualitative
from calibration.rules import approval_rule
from calibration.sample import generate_sample


@pytest.fixture(scope="module")
def sample():
    return generate_sample(30_000, 5, approval_rule())


def _with_approval(sample, approval: np.ndarray) -> dict[str, np.ndarray]:
    return {**{k: np.asarray(v) for k, v in sample.columns.items()}, "approval": approval}


def _results(columns, weights) -> dict[str, qualitative.Criterion]:
    return {c.name: c for c in qualitative.check(columns, weights)}


def test_every_statement_has_one_criterion(sample):
    results = qualitative.check(sample.columns, sample.weights)
    assert len({c.name for c in results}) == len(results) == 11
    assert all(c.statement and c.criterion and c.measured for c in results)
    lines = qualitative.markdown(results)
    assert f"{sum(c.passed for c in results)} of 11 criteria met" in "\n".join(lines)


def test_men_slightly_more_positive_can_pass_and_fail_both_ways(sample):
    columns = {k: np.asarray(v) for k, v in sample.columns.items()}
    male = columns["male"] == 1
    rng = np.random.default_rng(1)
    u = rng.random(male.size)
    limit_pp = _results(sample.columns, sample.weights)["men_slightly_more"].limit_pp

    def approval_with_gap(gap: float) -> np.ndarray:
        # Men approve with probability 0.8, women with 0.8 - gap.
        return np.where(u < np.where(male, 0.8, 0.8 - gap), 5, 3)

    small, none, large = (_results(_with_approval(sample, approval_with_gap(g)), sample.weights)
                          for g in (limit_pp / 200, 0.0, 2 * limit_pp / 100))  # fmt: skip
    assert small["men_slightly_more"].passed
    assert not none["men_slightly_more"].passed  # "more positive": no gap is not enough
    assert not large["men_slightly_more"].passed  # "slightly": twice the limit is too much


def test_regional_differences_are_judged_against_the_surveys_margin(sample):
    columns = {k: np.asarray(v) for k, v in sample.columns.items()}
    rng = np.random.default_rng(2)
    even = np.where(rng.random(columns["age"].size) < 0.8, 4, 2)
    assert _results(_with_approval(sample, even), sample.weights)["regions_small"].passed
    west_all_approve = np.where(columns["region"] == 1, 5, even)
    assert not _results(_with_approval(sample, west_all_approve), sample.weights)["regions_small"].passed


def test_orderings_follow_the_data(sample):
    columns = {k: np.asarray(v) for k, v in sample.columns.items()}
    # Approval set by education alone: none 4 (approve), low 3, medium and high 5.
    by_education = np.select([columns["education"] == 1, columns["education"] == 2], [4, 3], 5)
    results = _results(_with_approval(sample, by_education), sample.weights)
    assert not results["education_highest_top_lowest_low"].passed  # high ties medium: not "highest"
    # High all approve, low none, none and medium half.
    rng = np.random.default_rng(3)
    ranked = np.select([columns["education"] == 4, columns["education"] == 2], [5, 3], 4)
    ranked = np.where(np.isin(columns["education"], (1, 3)) & (rng.random(ranked.size) < 0.5), 3, ranked)
    assert _results(_with_approval(sample, ranked), sample.weights)["education_highest_top_lowest_low"].passed
    rural_approve = np.where(columns["urban"] == 0, 5, 3)
    results = _results(_with_approval(sample, rural_approve), sample.weights)
    assert not results["cities_higher"].passed and not results["doubters_more_rural"].passed


def test_the_doubters_female_limit_is_bayes_rule():
    rng = np.random.default_rng(4)
    weights = rng.uniform(0.5, 2.0, 5_000)
    female = rng.random(5_000) < 0.4
    doubter = rng.random(5_000) < np.where(female, 0.3, 0.2)
    f = np.average(female, weights=weights)
    p_doubter = np.average(doubter, weights=weights)
    gap = np.average(doubter[female], weights=weights[female]) - np.average(doubter[~female], weights=weights[~female])
    excess = np.average(female[doubter], weights=weights[doubter]) - f
    assert excess == pytest.approx(f * (1 - f) * gap / p_doubter, rel=1e-12)


def test_the_population_report_lists_every_criterion(tmp_path):
    import json

    from calibration.report import write_report

    facts = write_report(tmp_path, n=20_000, seed=3)
    assert len(facts["qualitative"]) == 11
    assert json.loads((tmp_path / "summary.json").read_text())["qualitative"] == facts["qualitative"]
    report = (tmp_path / "report.md").read_text()
    assert "## The paper's qualitative statements (Section 4)" in report
    for criterion in facts["qualitative"]:
        assert criterion["statement"] in report
