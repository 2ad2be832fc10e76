"""Indirect inference for the joint approval model (stages 3 and 4 of ``scsim calibrate --refit``).

Objective: scaled residuals

* (refit − published) / SE × √weight for every usable Table 4 cell, where the
  refits are the paper's seven ordered logits fitted with soft labels (the
  joint model's expected category probabilities) on the synthetic sample,
  on the same subsamples with the same missing-value rules, with survey
  weights. Weights: ``ok`` 1, ``uncertain`` and ``se_missing`` ½ (SE imputed
  from the same model's neighbouring education SEs); the lost urban cells of
  Models 3, 4, 5, 7 get a weak target (weight ¼) at the mean of the surviving
  urban coefficients; Model 2's lost edu_4, Model 5's education artefact and
  Model 5's cuts (shifted by that artefact) are left out.
* the weighted approval distribution against Table A2, in units of 0.2 pp.

Soft labels (the joint model's expected category probabilities rather than
sampled outcomes) make the binding function smooth in the parameters, so a
Levenberg–Marquardt solver with small forward differences works; the sample is
held fixed (common random numbers).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from calibration import paper
from calibration.fit_population import Objective, levenberg_marquardt, pack, unpack
from calibration.joint import (
    JOINT_TERMS,
    PARAMETER_NAMES,
    JointParams,
    approval_covariates,
    joint_model,
    with_joint_state,
)
from calibration.ologit_fit import fit_ordered_logit
from calibration.parameter_files import POPULATION_FILE
from calibration.population import CROSS_LOADED, GeneratorParams
from calibration.published import load_models
from calibration.rules import approval_rule
from calibration.sample import generate_sample
from calibration.targets import a2_targets, design_effect_target
from sim.approval import CUT_NAMES, ApprovalModel
from sim.ordered_logit import category_probabilities

STATUS_WEIGHT = {"ok": 1.0, "uncertain": 0.5, "se_missing": 0.5, "coef_missing": 0.25}
APPROVAL_SCALE = 0.002  # 0.2 pp


@dataclass(frozen=True)
class AuxiliaryModel:
    """One of the paper's seven models, as refitted on a simulated sample."""

    name: str
    terms: tuple[str, ...]
    mask: np.ndarray
    X: np.ndarray
    weights: np.ndarray


@functools.cache
def _published_models() -> dict[str, ApprovalModel]:
    # Read once per process: the objective builds the auxiliary models on every evaluation.
    return load_models()


def auxiliary_models(covariates: dict[str, np.ndarray], weights: np.ndarray) -> list[AuxiliaryModel]:
    """Design matrices of the seven published models on their own subsamples.

    Same terms, same subsamples and the same missing-value rules as the paper
    (don't know / rather not answer dropped; Table A3 note c). Model 5 keeps its
    education dummies against the "none" base, like the paper; its artefactual
    coefficients are excluded from the targets instead.
    """
    out = []
    for name, model in _published_models().items():
        spec = ApprovalModel(name=name, coefficients=model.coefficients, cuts=model.cuts)
        mask = spec.in_subsample(covariates)
        X = spec.design_matrix({k: v[mask] for k, v in covariates.items() if isinstance(v, np.ndarray)})
        out.append(AuxiliaryModel(name, tuple(spec.terms), mask, X, weights[mask]))
    return out


@dataclass(frozen=True)
class Target:
    """One published Table 4 cell used as an indirect-inference target."""

    model: int
    term: str
    published: float
    se: float
    weight: float
    status: str


def targets() -> list[Target]:
    """The usable Table 4 cells, with their weights (module docstring)."""
    table = paper.table4()
    out = []
    for row in table.itertuples():
        model, term, status = int(row.model), str(row.term), str(row.status)
        coef = float(row.coef)
        if status == "coef_missing" and term == "urban":
            # Lost urban cells (Models 3, 4, 5, 7): a weak target at the mean of the
            # three surviving ones (0.326, 0.320, 0.348 agree closely), weight ¼ at
            # the surviving SE. Without it the refits drift to implausible values.
            coef = float(table[(table["term"] == "urban") & table["coef"].notna()]["coef"].mean())
        elif pd.isna(row.coef) or status == "coef_missing":
            continue
        if model == 5 and (term.startswith("edu_") or term in CUT_NAMES):
            continue
        se = float(row.se) if not pd.isna(row.se) else np.nan
        if np.isnan(se):
            if term in CUT_NAMES:
                continue
            same_model = table[(table["model"] == model) & table["term"].str.startswith("edu_")]
            se = float(same_model["se"].dropna().mean())
            status = "se_missing"
        out.append(Target(model, term, coef, se, STATUS_WEIGHT.get(status, 0.5), status))
    return out


class BindingFunction:
    """Refits of the seven auxiliary models as a function of the joint parameters."""

    def __init__(
        self,
        columns: dict[str, np.ndarray],
        weights: np.ndarray,
        scale: np.ndarray | None = None,
        target_list: list[Target] | None = None,
    ) -> None:
        self.targets = targets() if target_list is None else target_list
        self.approval_target = np.array([a2_targets("weighted_pct")["approval"][k] for k in range(1, 6)])
        self._starts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.set_sample(columns, weights)
        # The parametrisation (β × sd(x)) stays fixed when the sample changes.
        self.scale = self.X.std(axis=0) if scale is None else scale
        self.index = self._target_index()

    @classmethod
    def from_sample(cls, n: int, seed: int, generator: GeneratorParams | None = None) -> BindingFunction:
        sample = generate_sample(n, seed, approval_rule("model1"), generator)
        return cls(sample.columns, sample.weights)

    def set_sample(self, columns: dict[str, np.ndarray], weights: np.ndarray) -> None:
        """Point the binding function at a (re)simulated sample."""
        self.weights = weights
        self.covariates = with_joint_state(approval_covariates(columns))
        template = joint_model(dict.fromkeys(JOINT_TERMS, 0.0), np.array([-3.0, -2.0, 1.0, 2.5]))
        self.X = template.design_matrix(self.covariates)
        self.aux = auxiliary_models(self.covariates, self.weights)

    def _target_index(self) -> list[tuple[int, int]]:
        positions = []
        for target in self.targets:
            aux = self.aux[target.model - 1]
            if target.term in CUT_NAMES:
                positions.append((target.model - 1, len(aux.terms) + CUT_NAMES.index(target.term)))
            else:
                positions.append((target.model - 1, aux.terms.index(target.term)))
        return positions

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(JOINT_TERMS)
        beta = theta[:k] / self.scale
        cuts = theta[k] + np.concatenate([[0.0], np.cumsum(np.exp(theta[k + 1 :]))])
        return beta, cuts

    def pack(self, beta: np.ndarray, cuts: np.ndarray) -> np.ndarray:
        return np.concatenate([beta * self.scale, [cuts[0]], np.log(np.diff(cuts))])

    def soft_labels(self, theta: np.ndarray) -> np.ndarray:
        beta, cuts = self.unpack(theta)
        return category_probabilities(self.X @ beta, cuts)

    def refits(self, theta: np.ndarray, labels: np.ndarray | None = None) -> list[np.ndarray]:
        """(β, cuts) of each auxiliary model, concatenated, fitted to the joint model's labels."""
        labels = self.soft_labels(theta) if labels is None else labels
        out = []
        for aux in self.aux:
            fit = fit_ordered_logit(aux.X, labels[aux.mask], aux.weights, start=self._starts.get(aux.name))
            self._starts[aux.name] = (fit.beta, fit.cuts)
            out.append(np.concatenate([fit.beta, fit.cuts]))
        return out

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        labels = self.soft_labels(theta)
        refits = self.refits(theta, labels)
        coefficient = np.array(
            [
                (refits[m][j] - t.published) / t.se * np.sqrt(t.weight)
                for t, (m, j) in zip(self.targets, self.index, strict=True)
            ]
        )
        implied = self.weights @ labels / self.weights.sum()
        return np.concatenate([coefficient, (implied - self.approval_target) / APPROVAL_SCALE])

    def initial_theta(self) -> np.ndarray:
        """Published block coefficients, Model 7's demographics, cuts solved for the A2 marginal."""
        published = {(t.model, t.term): t.published for t in self.targets}
        beta = np.array([published.get((7, term), 0.0) for term in JOINT_TERMS])
        for model, term in published:
            if term in JOINT_TERMS and JOINT_TERMS.index(term) >= 10:
                beta[JOINT_TERMS.index(term)] = 0.6 * published[(model, term)]
        xb = self.X @ beta
        w = self.weights / self.weights.sum()
        cumulative = np.cumsum(self.approval_target)[:-1]
        cuts = np.array([brentq(lambda c, p=p: w @ expit(c - xb) - p, -60, 60) for p in cumulative])
        return self.pack(beta, cuts)


def calibrate_joint(
    n: int = 40_000,
    seed: int = 20180402,
    iterations: int = 25,
    verbose: int = 1,
    generator: GeneratorParams | None = None,
) -> tuple[JointParams, BindingFunction, np.ndarray]:
    """Estimate the joint model with the generator fixed; returns parameters, binding function, θ."""
    started = time.perf_counter()
    binding = BindingFunction.from_sample(n, seed, generator)
    fit = levenberg_marquardt(
        binding.residuals, binding.initial_theta(), iterations=iterations, step=1e-4, verbose=verbose
    )
    params = joint_params(binding, fit.x)
    params.meta = {
        "version": "joint_v1",
        "seed": seed,
        "n": n,
        "cost": fit.cost,
        "n_parameters": int(fit.x.size),
        "n_targets": int(fit.fun.size),
        "runtime_seconds": round(time.perf_counter() - started, 1),
        **fit.record(),
    }
    return params, binding, fit.x


def joint_params(binding: BindingFunction, theta: np.ndarray) -> JointParams:
    """Joint parameters at θ, with the delta-method covariance of the estimator."""
    beta, cuts = binding.unpack(theta)
    return JointParams(
        coefficients=dict(zip(JOINT_TERMS, map(float, beta), strict=True)),
        cuts=[float(c) for c in cuts],
        covariance=parameter_covariance(binding, theta).tolist(),
        parameter_names=list(PARAMETER_NAMES),
    )


def parameter_covariance(binding: BindingFunction, theta: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Delta-method covariance (J'WJ)⁻¹ of the estimator, in the (β, cut1, log gaps) space.

    Rows are the coefficient targets (already scaled by 1/SE, so W = I) and the
    approval shares scaled by their sampling SE at the paper's N and design
    effect (the one its margin of error implies, ``design_effect_target``).
    """
    base = binding.residuals(theta)
    n_coef = len(binding.targets)
    shares = binding.approval_target
    share_se = np.sqrt(shares * (1 - shares) * design_effect_target() / paper.sample_size())
    rescale = np.concatenate([np.ones(n_coef), APPROVAL_SCALE / share_se])
    jacobian = np.empty((base.size, theta.size))
    for j in range(theta.size):
        shifted = theta.copy()
        shifted[j] += step
        jacobian[:, j] = (binding.residuals(shifted) - base) / step
    jacobian *= rescale[:, None]
    covariance = np.linalg.pinv(jacobian.T @ jacobian)
    covariance = (covariance + covariance.T) / 2  # pinv leaves last-bit asymmetries; the file check wants none
    k = len(JOINT_TERMS)
    to_natural = np.concatenate([1 / binding.scale, np.ones(theta.size - k)])
    return covariance * np.outer(to_natural, to_natural)


class JointObjective:
    """Generator and joint model together: Table A2, A4, the text facts and Table 4.

    Each evaluation re-simulates the sample from the same random numbers with the
    candidate generator parameters (thresholds refitted to Table A2's unweighted
    column), then refits the seven auxiliary models to the joint model's soft labels.
    """

    def __init__(self, generator: GeneratorParams, n: int, seed: int, target_list: list[Target] | None = None) -> None:
        self.population = Objective(generator, n, seed)
        self.generator = generator
        state = self.population.evaluate(generator)
        self.binding = BindingFunction(state["columns"], state["weights"], target_list=target_list)
        self.n_generator = len(pack_generator(generator))
        self._generator_key: bytes | None = None
        self._population_residuals = np.empty(0)

    def split(self, theta: np.ndarray) -> tuple[GeneratorParams, np.ndarray]:
        return unpack_generator(theta[: self.n_generator], self.generator), theta[self.n_generator :]

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        generator, joint_theta = self.split(theta)
        # The sample depends on the generator's parameters alone (common random numbers): the Jacobian's
        # joint-model columns, about a quarter of them, reuse it instead of simulating it again.
        key = np.ascontiguousarray(theta[: self.n_generator]).tobytes()
        if key != self._generator_key:
            state = self.population.evaluate(generator)
            self._population_residuals = self.population.residuals_from(state)
            self.binding.set_sample(state["columns"], state["weights"])
            self._generator_key = key
        return np.concatenate([self._population_residuals, self.binding.residuals(joint_theta)])


def pack_generator(params: GeneratorParams) -> np.ndarray:
    """The generator's free parameters (``fit_population.pack``) and its cross-loadings, as a vector."""
    return np.concatenate([pack(params), [params.cross_loadings.get(name, 0.0) for name in CROSS_LOADED]])


def unpack_generator(theta: np.ndarray, template: GeneratorParams) -> GeneratorParams:
    """Inverse of ``pack_generator``, on top of ``template``."""
    k = len(CROSS_LOADED)
    params = unpack(theta[:-k], template)
    params.cross_loadings = dict(zip(CROSS_LOADED, map(float, theta[-k:]), strict=True))
    return params


def calibrate_all(
    generator: GeneratorParams,
    joint_start: JointParams | None = None,
    n: int = 40_000,
    seed: int = 20180403,
    reference_n: int = 1_000_000,
    iterations: int = 12,
    verbose: int = 1,
) -> tuple[GeneratorParams, JointParams]:
    """Jointly calibrate the generator's correlation structure and the joint model.

    Returns the generator (with thresholds from a fresh reference draw) and the
    joint parameters (with the delta-method covariance of β_J, τ given the generator).
    """
    started = time.perf_counter()
    objective = JointObjective(generator, n, seed)
    binding = objective.binding
    if joint_start is None:
        joint_theta = binding.initial_theta()
    else:
        joint_theta = binding.pack(
            np.array([joint_start.coefficients[t] for t in JOINT_TERMS]), np.asarray(joint_start.cuts)
        )
    theta0 = np.concatenate([pack_generator(generator), joint_theta])
    fit = levenberg_marquardt(objective.residuals, theta0, iterations=iterations, step=0.01, verbose=verbose)
    fitted_generator, joint_theta = objective.split(fit.x)
    objective.residuals(fit.x)  # leave the binding function at the optimum's sample
    reference = Objective(fitted_generator, reference_n, seed + 1).evaluate(fitted_generator)
    fitted_generator.thresholds = {k: [float(x) for x in v] for k, v in reference["thresholds"].items()}
    joint = joint_params(binding, joint_theta)
    runtime = round(time.perf_counter() - started, 1)
    fitted_generator.meta.update(
        {
            "version": "population_v2",
            "joint_seed": seed,
            "joint_n": n,
            "joint_runtime_seconds": runtime,
            **fit.record("joint_"),
        }
    )
    joint.meta = {
        "version": "joint_v1",
        "seed": seed,
        "n": n,
        "cost": fit.cost,
        "n_parameters": int(fit.x.size),
        "n_residuals": int(fit.fun.size),
        "n_table4_targets": len(binding.targets),
        "runtime_seconds": runtime,
        "generator": POPULATION_FILE,
        **fit.record(),
    }
    return fitted_generator, joint
