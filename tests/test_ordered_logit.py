"""Ordered logit in Stata's convention, checked against statsmodels."""

import numpy as np
import pytest
from statsmodels.miscmodels.ordinal_model import OrderedModel

from sim.ordered_logit import (
    CutpointError,
    categorize,
    category_probabilities,
    check_cuts,
    cumulative_probabilities,
    draw_latent,
)

CUTS = np.array([-3.340, -2.363, 0.940, 2.523])  # Table 4, Model 1


def test_probabilities_sum_to_one_and_are_in_unit_interval():
    xb = np.linspace(-8, 8, 101)
    probs = category_probabilities(xb, CUTS)
    assert probs.shape == (101, 5)
    assert np.all(probs >= 0) and np.all(probs <= 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)


def test_stata_convention_cumulative():
    # P(Y <= k) = Λ(cut_k − xβ): a higher xβ moves mass to higher categories.
    low, high = cumulative_probabilities(np.array([-1.0, 1.0]), CUTS)
    assert np.all(high < low)
    np.testing.assert_allclose(low[2], 1 / (1 + np.exp(-(0.940 + 1.0))))


def test_matches_statsmodels_ordered_model_predict():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 2))
    beta = np.array([0.8, -0.5])
    model = OrderedModel(rng.integers(0, 5, 300), x, distr="logit")
    # statsmodels parametrises thresholds as the first cut then log increments.
    increments = np.log(np.diff(CUTS))
    params = np.concatenate([beta, [CUTS[0]], increments])
    expected = model.predict(params, exog=x)
    np.testing.assert_allclose(category_probabilities(x @ beta, CUTS), expected, atol=1e-10)


def test_persistent_latent_reproduces_probabilities():
    rng = np.random.default_rng(7)
    n = 400_000
    xb = np.full(n, 0.5)
    approval = categorize(xb, draw_latent(rng, n), CUTS)
    observed = np.bincount(approval, minlength=6)[1:] / n
    np.testing.assert_allclose(observed, category_probabilities(xb[:1], CUTS)[0], atol=0.003)


def test_categories_change_only_with_covariates():
    rng = np.random.default_rng(1)
    latent = draw_latent(rng, 1000)
    xb = rng.normal(size=1000)
    first = categorize(xb, latent, CUTS)
    np.testing.assert_array_equal(first, categorize(xb, latent, CUTS))
    higher = categorize(xb + 0.5, latent, CUTS)
    assert np.all(higher >= first) and np.any(higher > first)


@pytest.mark.parametrize("cuts", [[0.0, 0.0, 1.0, 2.0], [1.0, 0.5, 2.0, 3.0], [0.0, np.nan, 1.0, 2.0]])
def test_bad_cuts_rejected(cuts):
    with pytest.raises(CutpointError, match="cut points must be"):
        check_cuts(np.array(cuts))
