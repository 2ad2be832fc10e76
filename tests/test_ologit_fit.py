"""The Newton–Raphson ordered-logit fitter against statsmodels' OrderedModel."""

import numpy as np
from statsmodels.miscmodels.ordinal_model import OrderedModel

from calibration.ologit_fit import fit_ordered_logit
from sim.ordered_logit import category_probabilities, sample_categories

BETA = np.array([0.5, -0.8, 0.3])
CUTS = np.array([-3.0, -1.5, 0.5, 2.0])


def data(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), 2 * rng.normal(size=n)])
    return X, sample_categories(rng, X @ BETA, CUTS)


def test_matches_statsmodels():
    X, y = data()
    ours = fit_ordered_logit(X, y)
    result = OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=False, maxiter=5000, gtol=1e-8)
    params = result.params
    cuts = np.concatenate([[params[3]], params[3] + np.cumsum(np.exp(params[4:]))])
    assert ours.converged
    np.testing.assert_allclose(ours.beta, params[:3], atol=1e-4)
    np.testing.assert_allclose(ours.cuts, cuts, atol=1e-4)
    np.testing.assert_allclose(ours.se[:3], result.bse[:3], rtol=1e-3)


def test_soft_labels_recover_parameters_exactly():
    X, _ = data()
    fit = fit_ordered_logit(X, category_probabilities(X @ BETA, CUTS))
    np.testing.assert_allclose(fit.beta, BETA, atol=1e-7)
    np.testing.assert_allclose(fit.cuts, CUTS, atol=1e-7)


def test_weights_equal_to_replication():
    X, y = data(n=800)
    weights = np.random.default_rng(2).integers(1, 4, len(y)).astype(float)
    weighted = fit_ordered_logit(X, y, weights=weights)
    repeat = np.repeat(np.arange(len(y)), weights.astype(int))
    replicated = fit_ordered_logit(X[repeat], y[repeat])
    np.testing.assert_allclose(weighted.beta, replicated.beta, atol=1e-8)
    np.testing.assert_allclose(weighted.cuts, replicated.cuts, atol=1e-8)
