"""The joint approval model: indirect inference, parameter draws, report."""

import json

import numpy as np
import pytest

from calibration.fit_joint import BindingFunction, Target, parameter_covariance
from calibration.fit_population import levenberg_marquardt
from calibration.joint import JOINT_TERMS, JointParams, default_rule
from calibration.joint_report import write_joint_report
from calibration.ologit_fit import fit_ordered_logit
from calibration.published import approval_rule
from calibration.sample import approval_covariates, generate_sample
from sim.ordered_logit import draw_latent


def test_default_rule_is_the_joint_model(small_sample):
    rule = approval_rule("default")
    assert rule.primary.name == "joint" and set(rule.primary.coefficients) == set(JOINT_TERMS)
    covariates = approval_covariates(small_sample.columns)
    assert rule.primary.in_subsample(covariates).all()
    again = rule.apply(covariates, small_sample.approval_latent).approval
    np.testing.assert_array_equal(again, small_sample.columns["approval"])


def test_parameter_draws_have_the_stated_spread():
    params = JointParams.load()
    covariance = np.asarray(params.covariance)
    stated = np.sqrt(np.diag(covariance))
    assert np.all(stated > 0)
    rng = np.random.default_rng(5)
    draws = np.array([params.draw(rng).coefficients[t] for _ in range(3000) for t in JOINT_TERMS[:1]])
    assert abs(draws.std() / stated[0] - 1) < 0.06
    vectors = np.array([rng.multivariate_normal(params.vector(), covariance) for _ in range(3000)])
    np.testing.assert_allclose(vectors.std(axis=0) / stated, 1, atol=0.06)
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
    """Data generated from a known β_J: the estimator recovers it, not just converges."""
    truth = JointParams.load()
    rng = np.random.default_rng(3)
    true_beta = np.array([truth.coefficients[t] for t in JOINT_TERMS])
    true_beta[10:] *= rng.uniform(0.6, 1.4, size=true_beta.size - 10)  # move the block effects
    true_beta[10:] += rng.choice([-0.15, 0.15], size=true_beta.size - 10)
    true_cuts = np.asarray(truth.cuts) + 0.3
    # "Published" tables: the seven models fitted by ML to outcomes drawn from the truth.
    observed = generate_sample(40_000, 21, default_rule())
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
    simulated = generate_sample(40_000, 22, default_rule())
    binding = BindingFunction(simulated.columns, simulated.weights, target_list=pseudo)
    binding.approval_target = shares
    start = binding.pack(np.array([truth.coefficients[t] for t in JOINT_TERMS]), np.asarray(truth.cuts))
    fit = levenberg_marquardt(binding.residuals, start, iterations=12, step=1e-4)
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
    assert len(terms) == sum(len(JOINT_TERMS) * 0 + 1 for _ in terms) and len(terms) > 90
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
