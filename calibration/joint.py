"""The joint approval model: its terms, parameters and the state it reads.

This is the runtime side, used by every simulation; the indirect-inference
fit is ``fit_joint.py``.

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

from calibration.parameter_files import (
    JOINT_FILE,
    SHIPPED_DIR,
    Checker,
    params_path,
    read_json,
    strict_schema,
    validate_types,
)
from calibration.published import DEMOGRAPHICS
from sim.approval import CUT_NAMES, NOT_ASKED, ApprovalModel
from sim.state import COVARIATES

# The shipped file; loaders read ``params_path(JOINT_FILE)`` (``$SCSIM_PARAMS_DIR``).
PARAMS_FILE = SHIPPED_DIR / JOINT_FILE

BLOCK_TERMS = (
    "smartphone_time", "post_frequency", "ccp_member", "gov_confidence", "sesame_score",
    "relative_score", "transparency", "received_info", "auto_joined", "fairness",
    "advantages", "disadvantages", "accountability", "abiding_regulations", "quality_of_life",
)  # fmt: skip
JOINT_TERMS = (*DEMOGRAPHICS, *BLOCK_TERMS)
# The parametrisation of the covariance: β_J, the first cut, the log gaps between cuts.
PARAMETER_NAMES = (*JOINT_TERMS, "cut1", *(f"log_cut_gap{k}" for k in range(2, len(CUT_NAMES) + 1)))

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


def approval_covariates(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Columns of a synthetic sample as the approval models read them.

    Adds the imputed income of refusers (for the Model 1 fallback) and the full
    state the joint model reads (``joint_state``).
    """
    covariates = dict(columns)
    covariates["income_group_imputed"] = columns["income_group_full"]
    return with_joint_state(covariates)


@dataclass
class JointParams:
    """Calibrated joint model: coefficients, cuts, and their sampling covariance."""

    coefficients: dict[str, float]
    cuts: list[float]
    covariance: list[list[float]] = field(default_factory=list)
    parameter_names: list[str] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Write the parameters as JSON (NaN and infinity are refused: ``load`` would reject them)."""
        Path(path).write_text(json.dumps(asdict(self), indent=1, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path: Path | None = None) -> JointParams:
        """Read and check a parameter file.

        Args:
            path: The file; default ``joint_v1.json`` in ``$SCSIM_PARAMS_DIR`` or,
                if that is not set, in the shipped ``calibration/params``.

        Raises:
            ParameterFileError: One line naming the file and the field, for a
                file that is missing, unreadable, not JSON, or has a missing,
                extra, mistyped, non-finite or inconsistent field.
        """
        path = params_path(JOINT_FILE) if path is None else Path(path)
        data = read_json(path)
        check_joint_file(data, path)
        return cls(**data)

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


def check_joint_file(data: object, path: Path) -> None:
    """Types, names, cuts and covariance of a ``joint_v1.json`` (``JointParams.load``)."""
    validate_types(strict_schema(JointParams), data, path)
    check = Checker(path)
    check.exact_keys("coefficients", data["coefficients"], JOINT_TERMS)
    check.length("cuts", data["cuts"], len(CUT_NAMES))
    check.monotone("cuts", data["cuts"])
    if list(data["parameter_names"]) != list(PARAMETER_NAMES):
        check.fail("parameter_names", f"must be exactly {', '.join(PARAMETER_NAMES)}")
    size = len(PARAMETER_NAMES)
    rows = data["covariance"]
    check.length("covariance", rows, size)
    for i, row in enumerate(rows):
        check.length(f"covariance.{i}", row, size)
    covariance = np.asarray(rows, dtype=float)
    scale = max(float(np.abs(covariance).max()), 1e-300)
    if not np.allclose(covariance, covariance.T, rtol=0.0, atol=1e-9 * scale):
        i, j = np.unravel_index(np.argmax(np.abs(covariance - covariance.T)), covariance.shape)
        values = f"[{i}][{j}] = {covariance[i, j]:.6g} but [{j}][{i}] = {covariance[j, i]:.6g}"
        check.fail("covariance", f"must be symmetric; {values}")
    eigenvalues = np.linalg.eigvalsh(covariance)
    if eigenvalues[0] < -1e-9 * max(eigenvalues[-1], 0.0):
        check.fail("covariance", f"must be positive semi-definite; smallest eigenvalue {eigenvalues[0]:.3g}")
    try:
        # ``draw`` samples through the Cholesky factor, which needs a positive definite matrix.
        np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        check.fail("covariance", "must be positive definite (draw() uses its Cholesky factor); it is singular")


__all__ = [
    "JOINT_TERMS",
    "NOT_ASKED",
    "PARAMETER_NAMES",
    "JointParams",
    "approval_covariates",
    "joint_state",
    "with_joint_state",
]
