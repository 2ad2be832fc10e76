"""Iterative fits say whether they converged: Levenberg–Marquardt, the calibrations, raking."""

import warnings

import numpy as np
import pytest

from calibration import ConvergenceWarning, design
from calibration.fit_joint import calibrate_all, calibrate_joint
from calibration.fit_population import calibrate_population, levenberg_marquardt
from calibration.joint import JointParams
from calibration.population import GeneratorParams, simulate_latents


def rosenbrock(x):
    return np.array([1 - x[0], 10 * (x[1] - x[0] ** 2)])


def test_fit_stopped_by_the_iteration_limit_warns_and_says_so():
    with pytest.warns(ConvergenceWarning, match="iteration limit"):
        fit = levenberg_marquardt(rosenbrock, np.array([-1.2, 1.0]), iterations=1, step=1e-6)
    assert not fit.converged
    assert fit.iterations == 1 and "iteration limit" in fit.reason
    assert fit.record() == {"converged": False, "stop_reason": fit.reason, "iterations": 1}


def test_converging_fit_records_it_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fit = levenberg_marquardt(rosenbrock, np.array([-1.2, 1.0]), iterations=200, step=1e-7)
    assert fit.converged and fit.iterations < 200
    np.testing.assert_allclose(fit.x, [1.0, 1.0], atol=1e-3)
    assert fit.record("joint_")["joint_converged"] is True


def test_calibrations_record_convergence_in_meta():
    with pytest.warns(ConvergenceWarning):
        generator = calibrate_population(n=3_000, seed=1, reference_n=5_000, max_nfev=1, verbose=0)
    assert generator.meta["converged"] is False and generator.meta["iterations"] == 1
    with pytest.warns(ConvergenceWarning):
        joint, _, _ = calibrate_joint(n=3_000, seed=2, iterations=1, verbose=0, generator=GeneratorParams.load())
    assert joint.meta["converged"] is False and joint.meta["stop_reason"] == "iteration limit (1) reached"
    with pytest.warns(ConvergenceWarning):
        generator, joint = calibrate_all(
            GeneratorParams.load(), JointParams.load(), n=3_000, seed=3, reference_n=5_000, iterations=0, verbose=0
        )
    assert joint.meta["converged"] is False and generator.meta["joint_converged"] is False


def design_sample(n, seed=3):
    latents = simulate_latents(n, seed, GeneratorParams.load())
    return latents.age_group, latents.male, latents.region


def test_raking_with_too_few_passes_warns():
    margins = GeneratorParams.load().design_margins("weighted")
    with pytest.warns(ConvergenceWarning, match="raking"):
        raking = design.rake(*design_sample(2_209), margins, iterations=1)
    assert not raking.converged and raking.margin_gap > 1e-3


def test_raking_reaches_a_fixed_point_and_reports_the_gap_capping_leaves():
    margins = GeneratorParams.load().design_margins("weighted")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        full = design.rake(*design_sample(2_209), margins)
        capped = design.rake(*design_sample(2_209), margins, cap=1.2)
    assert full.converged and full.iterations < 2000 and full.last_change <= design.FIXED_POINT
    assert full.margin_gap < 1e-12 and full.weights.max() <= 2.0
    # A tight cap stops the weights short of the margins: a fixed point, with a gap.
    assert capped.converged and capped.weights.max() <= 1.2 + 1e-12
    assert capped.margin_gap > 1e-3
