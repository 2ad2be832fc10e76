"""The synthetic survey sample against the paper (Tables A2, A3, Section 3.1)."""

import numpy as np
import pandas as pd
import pytest

from calibration import design, paper
from calibration.items import ADVANTAGE_COLUMNS, SCHEMA_COLUMNS
from calibration.population import GeneratorParams, simulate_latents
from calibration.report import marginals_table
from calibration.sample import draw_citizens, generate_sample, realise

ALLOWED_CODES = {
    "income_group": {1, 2, 3, -2},
    "male": {0, 1},
    "education": {1, 2, 3, 4},
    "urban": {0, 1},
    "region": {1, 2, 3},
    "smartphone_time": set(range(7)),
    "post_frequency": set(range(1, 7)),
    "ccp_member": {0, 1, -2},
    "gov_confidence": {1, 2, 3, 4},
    "sesame_score_band": {1, 2, 3, 4, 5, 6, -1, -2},
    "tencent_score_band": set(range(1, 10)) | {-1, -2},
    "relative_score": {1, 2, 3, 4, 5, -1, -2},
    "gov_relative_score": {1, 2, 3, -1, -2},
    "transparency": {1, 2, 3},
    "fairness": {1, 2, 3, 4, -1},
    "disadvantages": {0, 1, -2},
    "accountability": {1, 2, 3, 4, 5},
    "abiding_regulations": {1, 2, 3, 4, -1},
    "quality_of_life": {1, 2, 3, 4, 5},
    "approval": {1, 2, 3, 4, 5},
}


def test_schema_columns_and_types(small_sample):
    frame = small_sample.to_frame()
    assert tuple(frame.columns) == SCHEMA_COLUMNS
    assert frame["weight"].dtype == np.float64
    for column in SCHEMA_COLUMNS:
        if column != "weight":
            assert str(frame[column].dtype) == "Int64", column
    for column, allowed in ALLOWED_CODES.items():
        present = set(frame[column].dropna().astype(int).unique())
        assert present <= allowed, (column, present - allowed)
    assert frame["age"].between(14, 65).all()


def test_branching(small_sample):
    frame = small_sample.to_frame()
    sesame = frame["uses_sesame"] == 1
    tencent = frame["uses_tencent"] == 1
    commercial = sesame | tencent | (frame["uses_other_commercial"] == 1)
    assert frame.loc[sesame, "sesame_score_band"].notna().all()
    assert frame.loc[~sesame, "sesame_score_band"].isna().all()
    assert frame.loc[~tencent, "tencent_score_band"].isna().all()
    for column in ("relative_score", "advantages", "disadvantages", *ADVANTAGE_COLUMNS):
        assert frame.loc[sesame | tencent, column].notna().all(), column
        assert frame.loc[~(sesame | tencent), column].isna().all(), column
    for column in ("transparency", "auto_joined", "fairness"):
        assert frame.loc[~commercial, column].isna().all()
    assert frame.loc[frame["gov_pilot_participant"] == 0, "gov_relative_score"].isna().all()
    # Users, non-users and "don't know" are exclusive and exhaustive.
    any_system = (
        frame[["uses_sesame", "uses_tencent", "uses_other_commercial", "gov_pilot_participant"]].sum(axis=1) > 0
    )
    status = any_system.astype(int) + frame["scs_none"] + frame["scs_dont_know"]
    assert (status == 1).all()
    # Everyone with advantages has at least one advantage type, nobody else has any.
    types = frame[list(ADVANTAGE_COLUMNS)].fillna(0).sum(axis=1)
    assert (types[frame["advantages"] == 1] >= 1).all()
    assert (types[frame["advantages"].fillna(0) == 0] == 0).all()


def test_same_seed_identical_different_seed_differs(default_rule):
    a = generate_sample(3_000, 42, default_rule).to_frame()
    b = generate_sample(3_000, 42, default_rule).to_frame()
    c = generate_sample(3_000, 43, default_rule).to_frame()
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_a2_cells_within_tolerance(large_sample):
    table = marginals_table(large_sample)
    bad_w = table.loc[~table["ok_weighted"], ["variable", "code", "paper_weighted", "sim_weighted"]]
    bad_u = table.loc[~table["ok_unweighted"], ["variable", "code", "paper_unweighted", "sim_unweighted"]]
    assert bad_w.empty, bad_w.to_string()
    assert bad_u.empty, bad_u.to_string()
    sesame = table.query("variable == 'uses_sesame'").iloc[0]
    assert abs(sesame["sim_weighted"] - sesame["paper_weighted"]) <= 1.5


def test_weighted_approval_within_one_point(large_sample):
    table = marginals_table(large_sample).query("variable == 'approval'")
    assert len(table) == 5
    assert table["diff_weighted"].abs().max() <= 1.0, table.to_string()


def test_weighted_age_moments(large_sample):
    w = large_sample.weights
    age = large_sample.columns["age"].astype(float)
    mean = w @ age / w.sum()
    sd = np.sqrt(w @ (age - mean) ** 2 / w.sum())
    assert abs(mean - paper.a3_moment("age", "mean")) <= 0.3
    assert abs(sd - paper.a3_moment("age", "sd")) <= 0.5


def test_weights_capped_and_margin_of_error(default_rule):
    sample = generate_sample(2_209, 5, default_rule)
    assert sample.weights.max() <= 2.0 + 1e-12
    assert abs(sample.weights.mean() - 1) < 1e-9
    assert abs(design.margin_of_error(sample.weights) - paper.fact("margin_of_error")) <= 0.1


def test_citizens_drawn_in_proportion_to_weight(large_sample):
    index = draw_citizens(large_sample, 400_000, seed=9)
    w = large_sample.weights
    region = large_sample.columns["region"]
    for code in (1, 2, 3):
        weighted = w[region == code].sum() / w.sum()
        drawn = np.mean(region[index] == code)
        assert abs(drawn - weighted) < 0.004
    np.testing.assert_array_equal(index, draw_citizens(large_sample, 400_000, seed=9))


@pytest.mark.parametrize("n", [0, -5])
def test_non_positive_n_rejected(default_rule, n):
    with pytest.raises(ValueError, match="n: must be a positive integer"):
        generate_sample(n, 1, default_rule)


def test_realising_latents_as_they_are_consumed_gives_the_same_answers():
    """``realise(..., consume=True)`` frees each latent once used; the answers must not change."""
    params = GeneratorParams.load()
    kept = simulate_latents(5_000, 11, params)
    consumed = simulate_latents(5_000, 11, params)
    expected, _ = realise(kept, params)
    columns, _ = realise(consumed, params, consume=True)
    assert consumed.z == {} and consumed.nonresponse == {}
    assert kept.z and kept.nonresponse
    assert columns.keys() == expected.keys()
    for name, values in expected.items():
        np.testing.assert_array_equal(columns[name], values, err_msg=name)
    # The advantage types' uniforms are drawn late but from the same stream.
    np.testing.assert_array_equal(
        consumed.uniforms, np.random.default_rng(consumed.uniform_seed).random((len(ADVANTAGE_COLUMNS), 5_000))
    )
