"""The joint approval model: indirect inference, parameter draws, report."""

import json

import numpy as np
import pytest

from calibration import paper
from calibration.fit_joint import BindingFunction, Target, parameter_covariance
from calibration.fit_population import levenberg_marquardt
from calibration.joint import JOINT_TERMS, JointParams, approval_covariates
from calibration.joint_report import write_joint_report
from calibration.ologit_fit import fit_ordered_logit
from calibration.rules import approval_rule, default_rule
from calibration.sample import generate_sample
from sim.ordered_logit import draw_latent


def test_default_rule_is_the_joint_model(small_sample):
    rule = approval_rule("default")
    assert rule.primary.name == "joint" and set(rule.primary.coefficients) == set(JOINT_TERMS)
    covariates = approval_covariates(small_sample.columns)
    assert rule.primary.in_subsample(covariates).all()
    again = rule.apply(covariates, small_sample.approval_latent).approval
    np.testing.assert_array_equal(again, small_sample.columns["approval"])


def parameter_vector(model):
    """A drawn model in the covariance's parametrisation: (β_J, cut1, log cut gaps)."""
    cuts = np.asarray(model.cuts)
    return np.array([*(model.coefficients[t] for t in JOINT_TERMS), cuts[0], *np.log(np.diff(cuts))])


def test_parameter_draws_have_the_stated_spread():
    params = JointParams.load()
    covariance = np.asarray(params.covariance)
    stated = np.sqrt(np.diag(covariance))
    assert np.all(stated > 0)
    rng = np.random.default_rng(5)
    n = 4000
    draws = np.array([parameter_vector(params.draw(rng)) for _ in range(n)])
    # Every parameter is centred on the estimate with its stated SE. With 4,000
    # draws the sampling SE of a mean is 1.6% of the SD and that of an SD 1.1%,
    # so the tolerances are about 4.5 sampling SEs.
    np.testing.assert_allclose((draws.mean(axis=0) - params.vector()) / stated, 0, atol=0.07)
    np.testing.assert_allclose(draws.std(axis=0) / stated, 1, atol=0.05)
    # The draws keep the stated correlation of the two most strongly correlated parameters.
    correlation = covariance / np.outer(stated, stated)
    off_diagonal = np.abs(correlation - np.eye(len(stated)))
    i, j = np.unravel_index(np.argmax(off_diagonal), off_diagonal.shape)
    assert abs(correlation[i, j]) > 0.5, (params.parameter_names[i], params.parameter_names[j])
    drawn = np.corrcoef(draws[:, i], draws[:, j])[0, 1]
    assert drawn == pytest.approx(correlation[i, j], abs=3 * (1 - correlation[i, j] ** 2) / np.sqrt(n) + 0.01)
    # A draw is a coherent model: ordered cuts, every term present.
    model = params.draw(np.random.default_rng(1))
    assert np.all(np.diff(model.cuts) > 0) and set(model.coefficients) == set(JOINT_TERMS)


def test_draws_are_reproducible():
    params = JointParams.load()
    a = params.draw(np.random.default_rng(9))
    b = params.draw(np.random.default_rng(9))
    assert dict(a.coefficients) == dict(b.coefficients)


@pytest.mark.slow
def test_synthetic_recovery():
    """Data generated from a known β_J: the estimator recovers it, not just converges.

    N = 20,000 (not the calibration's 40,000) halves the cost. The z-scores below
    do not depend on N: the pseudo-published SEs, the estimator's SE and its
    error all scale as 1/√N. Only the last check does: the error shrinks as
    1/√N while the distance from the start to the truth is fixed, so it is
    about √2 times the 40,000 value (0.23 → 0.32 of the start's distance).
    """
    n = 20_000
    truth = JointParams.load()
    rng = np.random.default_rng(3)
    true_beta = np.array([truth.coefficients[t] for t in JOINT_TERMS])
    true_beta[10:] *= rng.uniform(0.6, 1.4, size=true_beta.size - 10)  # move the block effects
    true_beta[10:] += rng.choice([-0.15, 0.15], size=true_beta.size - 10)
    true_cuts = np.asarray(truth.cuts) + 0.3
    # "Published" tables: the seven models fitted by ML to outcomes drawn from the truth.
    observed = generate_sample(n, 21, default_rule())
    estimator = BindingFunction(observed.columns, observed.weights)
    xb = estimator.X @ true_beta
    outcome = np.searchsorted(true_cuts, xb + draw_latent(rng, xb.size), side="left") + 1
    pseudo = []
    for aux in estimator.aux:
        fit = fit_ordered_logit(aux.X, outcome[aux.mask], aux.weights)
        for j, term in enumerate(aux.terms):
            pseudo.append(Target(int(aux.name[-1]), term, float(fit.beta[j]), float(fit.se[j]), 1.0, "ok"))
    shares = np.array([observed.weights[outcome == k].sum() for k in range(1, 6)]) / observed.weights.sum()
    # The estimator runs on an independent simulated sample, from the calibrated start.
    simulated = generate_sample(n, 22, default_rule())
    binding = BindingFunction(simulated.columns, simulated.weights, target_list=pseudo)
    binding.approval_target = shares
    start = binding.pack(np.array([truth.coefficients[t] for t in JOINT_TERMS]), np.asarray(truth.cuts))
    # Stop once an iteration lowers the cost by less than 0.1%: the cost is
    # half the squared residuals in SE units, so the remaining gain (about 0.02
    # at a cost of 17) moves no estimate by more than a fraction of its SE.
    fit = levenberg_marquardt(binding.residuals, start, iterations=12, step=1e-4, rtol=1e-3)
    assert fit.converged, fit.reason
    beta, _ = binding.unpack(fit.x)
    start_error = np.abs(true_beta - np.array([truth.coefficients[t] for t in JOINT_TERMS]))[10:]
    error = np.abs(beta - true_beta)[10:]
    # Errors in units of the estimator's own standard error: the delta-method SE
    # from the pseudo-published SEs, ×√2 because the simulated sample is as large
    # as the "observed" one (indirect inference's (1 + 1/S) factor with S = 1).
    se = np.sqrt(np.diag(parameter_covariance(binding, fit.x)))[10 : len(JOINT_TERMS)] * np.sqrt(2)
    z = error / se
    labelled = dict(zip(JOINT_TERMS[10:], z.round(2), strict=True))
    assert np.max(z) < 4.0, labelled
    assert np.sqrt(np.mean(z**2)) < 1.6, labelled
    # And it removes most of the distance between its start and the truth.
    assert error.sum() < 0.5 * start_error.sum(), (error.sum(), start_error.sum())


def test_report_runs_and_is_consistent(tmp_path):
    report = write_joint_report(tmp_path, n=6_000, seed=2)
    for name in ("calibration.json", "table4_refits.csv", "forest.png", "marginals.png"):
        assert (tmp_path / name).exists()
    stored = json.loads((tmp_path / "calibration.json").read_text())
    terms = stored["terms"]
    # One row per cell of Table 4 (coefficients and cuts of the seven models), each cell once.
    cells = [(t["model"], t["term"]) for t in terms]
    table = paper.table4()
    assert len(cells) == len(set(cells)) == len(table)
    assert set(cells) == set(zip(table["model"].astype(int), table["term"], strict=True))
    for term in terms:
        if np.isfinite(term["z"]):
            assert term["z"] == pytest.approx((term["refit"] - term["published"]) / term["se"])
    accepted = [t for t in terms if t["in_acceptance"] and t["kind"] == "coefficient"]
    summary = stored["summary"]["coefficients"]
    assert summary["n"] == len(accepted)
    assert summary["within_1se"] == pytest.approx(np.mean([abs(t["z"]) <= 1 for t in accepted]))
    assert not any(t["model"] == 5 and t["term"].startswith("edu_") for t in accepted)
    distribution = [row["simulated"] for row in stored["approval_distribution_pct"]]
    assert sum(distribution) == pytest.approx(100)
    assert report["n"] == 6_000
