"""The joint approval model and its binding function (indirect inference).

The paper estimates seven separate ordered logits, each on demographics plus
one block and on its own subsample (Table 4). A simulated citizen has every
attribute at once, so the simulation needs one latent model

    y* = x β_J + ε,   ε ~ logistic,   P(Y ≤ k) = Λ(τ_k − x β_J),

over all covariates. β_J is not any published model's coefficients: adding
them would count the correlated blocks twice. It is estimated by indirect
inference (Gouriéroux, Monfort & Renault 1993; Smith 1993; Grazzini &
Richiardi 2015): simulate the synthetic sample, refit the paper's seven
auxiliary models on their subsamples, and choose β_J, τ so that the refits
match the published coefficients (``fit_joint.py``).

The joint model reads each citizen's full state: what they would answer if
asked (``*_full`` columns of the synthetic sample). Experiences that require
using a system are zero for non-users (no advantages or disadvantages without
a commercial score; not auto-joined without a system). "No smartphone" is
scored as the lowest usage category.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from calibration.published import DEMOGRAPHICS, load_models
from sim.approval import NOT_ASKED, ApprovalModel, ApprovalRule
from sim.state import COVARIATES

PARAMS_FILE = Path(__file__).resolve().parent / "params" / "joint_v1.json"

BLOCK_TERMS = (
    "smartphone_time", "post_frequency", "ccp_member", "gov_confidence", "sesame_score",
    "relative_score", "transparency", "received_info", "auto_joined", "fairness",
    "advantages", "disadvantages", "accountability", "abiding_regulations", "quality_of_life",
)  # fmt: skip
JOINT_TERMS = (*DEMOGRAPHICS, *BLOCK_TERMS)

# Columns of the public schema the joint model reads (the engine's covariates).
STATE_COLUMNS = COVARIATES


def joint_state(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every citizen's full covariates, as the joint model reads them."""
    sesame_or_tencent = (columns["uses_sesame"] == 1) | (columns["uses_tencent"] == 1)
    commercial = sesame_or_tencent | (columns["uses_other_commercial"] == 1)
    state = {name: np.asarray(columns[name]) for name in ("age", "male", "education", "urban", "region")}
    for name in STATE_COLUMNS:
        if name not in state:
            state[name] = np.asarray(columns[f"{name}_full"]).copy()
    state["smartphone_time"] = np.maximum(state["smartphone_time"], 1)
    state["auto_joined"] = np.where(commercial, state["auto_joined"], 0)
    for name in ("advantages", "disadvantages"):
        state[name] = np.where(sesame_or_tencent, state[name], 0)
    return state


def with_joint_state(covariates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the ``*_joint`` columns the joint model reads."""
    out = dict(covariates)
    for name, values in joint_state(covariates).items():
        out[f"{name}_joint"] = values
    return out


JOINT_SOURCES = {name: f"{name}_joint" for name in STATE_COLUMNS}


@dataclass
class JointParams:
    """Calibrated joint model: coefficients, cuts, and their sampling covariance."""

    coefficients: dict[str, float]
    cuts: list[float]
    covariance: list[list[float]] = field(default_factory=list)
    parameter_names: list[str] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)

    def save(self, path: Path = PARAMS_FILE) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path = PARAMS_FILE) -> JointParams:
        return cls(**json.loads(Path(path).read_text()))

    def model(self) -> ApprovalModel:
        return joint_model(self.coefficients, np.asarray(self.cuts))

    def vector(self) -> np.ndarray:
        """(β_J, cut1, log cut increments): the parametrisation of the covariance."""
        cuts = np.asarray(self.cuts)
        return np.array([*(self.coefficients[t] for t in JOINT_TERMS), cuts[0], *np.log(np.diff(cuts))])

    def draw(self, rng: np.random.Generator) -> ApprovalModel:
        """One coherent draw of the joint model from its calibrated uncertainty.

        The covariance is the delta-method covariance of the indirect-inference
        estimator, (J'WJ)⁻¹ with W = diag(1/SE²) of the published coefficients
        and J the Jacobian of the binding function (``fit_joint.py``).
        """
        theta = rng.multivariate_normal(self.vector(), np.asarray(self.covariance), method="cholesky")
        return model_from_vector(theta)


def default_rule(path: Path = PARAMS_FILE) -> ApprovalRule:
    """The default approval rule of the simulation: the joint model, for everyone."""
    model = JointParams.load(path).model()
    return ApprovalRule(primary=model, fallback=model)


def model_from_vector(theta: np.ndarray) -> ApprovalModel:
    k = len(JOINT_TERMS)
    cuts = theta[k] + np.concatenate([[0.0], np.cumsum(np.exp(theta[k + 1 :]))])
    return joint_model(dict(zip(JOINT_TERMS, map(float, theta[:k]), strict=True)), cuts)


def joint_model(coefficients: dict[str, float], cuts: np.ndarray) -> ApprovalModel:
    """The joint ordered logit over every covariate, reading the full state."""
    return ApprovalModel(
        name="joint",
        coefficients={t: float(coefficients[t]) for t in JOINT_TERMS},
        cuts=np.asarray(cuts, dtype=float),
        source_columns=JOINT_SOURCES,
    )


@dataclass(frozen=True)
class AuxiliaryModel:
    """One of the paper's seven models, as refitted on a simulated sample."""

    name: str
    terms: tuple[str, ...]
    mask: np.ndarray
    X: np.ndarray
    weights: np.ndarray


def auxiliary_models(covariates: dict[str, np.ndarray], weights: np.ndarray) -> list[AuxiliaryModel]:
    """Design matrices of the seven published models on their own subsamples.

    Same terms, same subsamples and the same missing-value rules as the paper
    (don't know / rather not answer dropped; Table A3 note c). Model 5 keeps its
    education dummies against the "none" base, like the paper; its artefactual
    coefficients are excluded from the targets instead.
    """
    out = []
    for name, model in load_models().items():
        spec = ApprovalModel(name=name, coefficients=model.coefficients, cuts=model.cuts)
        mask = spec.in_subsample(covariates)
        X = spec.design_matrix({k: v[mask] for k, v in covariates.items() if isinstance(v, np.ndarray)})
        out.append(AuxiliaryModel(name, tuple(spec.terms), mask, X, weights[mask]))
    return out


def covariate_matrix(model: ApprovalModel, covariates: dict[str, np.ndarray]) -> np.ndarray:
    """The joint model's regressors for every citizen."""
    return model.design_matrix(covariates)


__all__ = ["JOINT_TERMS", "NOT_ASKED", "JointParams", "auxiliary_models", "joint_state", "with_joint_state"]
