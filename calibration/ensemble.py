"""Members of the calibration ensemble (``scsim calibrate --ensemble K``): what varies, and one member's fit.

A member is a full joint calibration (stage 4 of ``scsim calibrate --refit``:
the generator's correlation structure and the joint approval model together)
that differs from the shipped one in

* **its targets.** Member 0 and member 1 keep the published point targets.
  Every other member is a parametric bootstrap of the targets: each Table 4
  cell used as a target (coefficients and cuts) is drawn from N(published,
  SE²), and each Table A4 tolerance from N(published, SE²), all independent.
  Independence is an assumption: the paper publishes no covariances, and
  estimates from one survey are correlated, so the spread this gives is an
  approximation. A tolerance's SE is the large-sample SE of 1 − R²,
  2·t·√(1 − t)/√n (Olkin & Finn 1995, for R² of a multiple regression), at
  n = the number of complete cases a survey of 2,209 with the synthetic
  sample's completion rate would have (an assumption: Table A4 gives no n).
  Table A2's shares stay fixed (the issue asks for Table 4 and A4 only).
* **its seed**, which draws the common-random-numbers sample of the optimiser
  and the reference draw of the thresholds;
* **its starting point**: a warm start, jittered for every member but member 0
  by N(0, 0.05²) on each free parameter in the optimiser's scale (loadings,
  β × sd(x), first cut, log gaps), so members do not all start in one basin.
  The point-target members start from the shipped solution (the simple
  structure with its cross-loadings set to 0); each bootstrap member starts
  from the point-target member of its own structure
  (``experiments.ensemble_run.start_directory``);
* **its structure**, one of ``STRUCTURES``.

Every member is also fitted to the paper's qualitative statement "men are
slightly more positive than women" (Section 4; ``calibration.qualitative``):
a one-sided penalty when the men–women gap in the share approving leaves
(0, limit]. The shipped calibration has a 9.7 pp gap against a 6.3 pp limit,
so without it no member would meet that statement.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from calibration import paper
from calibration.fit_joint import (
    JointObjective,
    Target,
    joint_params,
    pack_generator,
    targets,
)
from calibration.fit_population import TOLERANCE_VARIABLES, Objective, levenberg_marquardt, polish_small_branch
from calibration.joint import JOINT_TERMS, JointParams
from calibration.population import CROSS_LOADED, GeneratorParams
from calibration.qualitative import gender_gap_limit

STRUCTURES = {
    "cross_loaded": "two correlated factors with the 16 cross-loadings free (the shipped structure)",
    "simple": "two correlated factors in simple structure: every item loads on one factor only "
    "(the 16 cross-loadings fixed at 0)",
}
START_JITTER = 0.05  # SD of the start's jitter, in the optimiser's scale (module docstring)
# The gender-gap penalty's unit: a gap 0.1 pp past its aim costs as much as a Table 4 cell 1 SE off. The first
# build used 0.5 pp, and fits settled 0.3 pp past the aim, where two of seven members missed the criterion.
GAP_SCALE = 0.001
GAP_INSIDE = 0.005  # aim 0.5 pp inside the limit: the check is on sampled outcomes at N = 200,000, ±0.3 pp away
# Of the warm start's generator meta, what still describes a member; the rest (seed, cost, sizes) is the shipped fit's.
KEPT_META = ("advantage_type_shares", "kish_design_effect_target")
APPROVING = 4


@dataclass(frozen=True)
class MemberSpec:
    """What makes one member differ from the others (all derived from the ensemble's root seed).

    Attributes:
        index: Position in the ensemble (0 is the point-target, shipped-structure member).
        structure: A key of ``STRUCTURES``.
        point_targets: Fitted to the published targets (else to a bootstrap draw of them).
        seed: Seed of the optimiser's common-random-numbers sample; ``seed + 1`` seeds the thresholds' draw.
        target_seed: Seed of the bootstrap draw of the targets.
        start_seed: Seed of the start's jitter.
        start_jitter: SD of that jitter (0: start exactly at the shipped solution).
    """

    index: int
    structure: str
    point_targets: bool
    seed: int
    target_seed: int
    start_seed: int
    start_jitter: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def member_specs(k: int, root_seed: int) -> list[MemberSpec]:
    """The first ``k`` members of the ensemble with this root seed.

    Member i depends only on (root seed, i), so a larger K only adds members.
    Members 0 and 1 keep the point targets, one per structure; the rest are
    bootstrap members, alternating structures.
    """
    specs = []
    for index in range(k):
        child = np.random.SeedSequence(root_seed, spawn_key=(index,))
        crn, target, start = (int(s.generate_state(1)[0]) for s in child.spawn(3))
        structure = "cross_loaded" if index % 2 == 0 else "simple"
        specs.append(MemberSpec(index, structure, index < 2, crn, target, start, 0.0 if index == 0 else START_JITTER))
    return specs


def tolerance_standard_errors(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Large-sample SE of each A4 tolerance at the survey's N of complete cases (module docstring)."""
    data = np.column_stack([columns[v].astype(float) for v in TOLERANCE_VARIABLES])
    complete = np.all(data >= 0, axis=1) & (columns["smartphone_time"] >= 1)
    n_complete = complete.mean() * paper.sample_size()
    tolerance = paper.a4_tolerances().reindex(TOLERANCE_VARIABLES).to_numpy()
    return 2 * tolerance * np.sqrt(1 - tolerance) / np.sqrt(n_complete)


def member_targets(spec: MemberSpec, columns: dict[str, np.ndarray]) -> tuple[list[Target], np.ndarray, np.ndarray]:
    """(Table 4 targets, A4 tolerance targets, their SEs) of a member: published, or one bootstrap draw."""
    table4 = targets()
    tolerance = paper.a4_tolerances().reindex(TOLERANCE_VARIABLES).to_numpy()
    tolerance_se = tolerance_standard_errors(columns)
    if spec.point_targets:
        return table4, tolerance, tolerance_se
    rng = np.random.default_rng(spec.target_seed)
    drawn = [replace(t, published=float(t.published + t.se * rng.standard_normal())) for t in table4]
    drawn_tolerance = np.clip(tolerance + tolerance_se * rng.standard_normal(tolerance.size), 0.01, 0.99)
    return drawn, drawn_tolerance, tolerance_se


class MemberObjective:
    """The joint objective restricted to a structure's free parameters, plus the gender-gap penalty."""

    def __init__(
        self,
        generator: GeneratorParams,
        n: int,
        spec: MemberSpec,
        target_list: list[Target],
        tolerance: np.ndarray,
        start_joint: JointParams,
        gap_scale: float = GAP_SCALE,
    ) -> None:
        self.joint = JointObjective(generator, n, spec.seed, target_list=target_list)
        self.joint.population.tolerance_target = tolerance
        n_generator = self.joint.n_generator
        n_joint = len(JOINT_TERMS) + 4
        self.free = np.ones(n_generator + n_joint, dtype=bool)
        if spec.structure == "simple":
            k = len(CROSS_LOADED)
            self.free[n_generator - k : n_generator] = False
        elif spec.structure != "cross_loaded":
            raise ValueError(f"structure: must be one of {', '.join(STRUCTURES)}, got {spec.structure!r}")
        self.gap_scale = gap_scale
        # The criterion's own limit, at the start's shares: over the 75–85% approving a fit can reach, the
        # margin moves by under 0.1 pp, so it is held fixed rather than chased by the optimiser.
        binding = self.joint.binding
        self.start_joint_theta = binding.pack(
            np.array([start_joint.coefficients[t] for t in JOINT_TERMS]), np.asarray(start_joint.cuts)
        )
        men, women = self.gender_shares(self.start_joint_theta)
        self.gap_limit = gender_gap_limit(binding.covariates, binding.weights, men, women)
        self.full = np.zeros(self.free.size)

    def gender_shares(self, joint_theta: np.ndarray) -> tuple[float, float]:
        """Weighted share approving among men and among women, on the soft labels."""
        binding = self.joint.binding
        approve = binding.soft_labels(joint_theta)[:, APPROVING - 1 :].sum(axis=1)
        male = binding.covariates["male"] == 1
        w = binding.weights
        return float(np.average(approve[male], weights=w[male])), float(np.average(approve[~male], weights=w[~male]))

    def gender_gap(self, joint_theta: np.ndarray) -> float:
        men, women = self.gender_shares(joint_theta)
        return men - women

    def expand(self, x: np.ndarray) -> np.ndarray:
        full = self.full.copy()
        full[self.free] = x
        return full

    def residuals(self, x: np.ndarray) -> np.ndarray:
        theta = self.expand(x)
        base = self.joint.residuals(theta)
        gap = self.gender_gap(theta[self.joint.n_generator :])
        above = max(0.0, gap - (self.gap_limit - GAP_INSIDE)) / self.gap_scale
        below = max(0.0, GAP_INSIDE - gap) / self.gap_scale
        return np.concatenate([base, [above, below]])


@dataclass
class MemberFit:
    """A fitted member: its parameter files' contents and the figures of its fit."""

    generator: GeneratorParams
    joint: JointParams
    record: dict[str, object]


def fit_member(
    spec: MemberSpec,
    start_generator: GeneratorParams,
    start_joint: JointParams,
    n: int = 40_000,
    iterations: int = 6,
    reference_n: int = 400_000,
    verbose: int = 0,
    rtol: float = 1e-3,
    gap_scale: float = GAP_SCALE,
) -> MemberFit:
    """Fit one member, warm-started from ``start_generator`` / ``start_joint`` (normally the shipped pair).

    Args:
        spec: The member (``member_specs``).
        start_generator, start_joint: The warm start.
        n: Size of the optimiser's common-random-numbers sample.
        iterations: Levenberg–Marquardt iterations (Jacobian evaluations) at most.
        reference_n: Size of the fresh draw for the thresholds and the small-branch polish.
        verbose: Print the optimiser's progress.
        rtol: The optimiser has converged when an iteration lowers the cost by less than this share of it.
        gap_scale: Unit of the gender-gap penalty (a share; ``GAP_SCALE``).
    """
    started = time.perf_counter()
    generator = copy.deepcopy(start_generator)
    generator.meta = {key: generator.meta[key] for key in KEPT_META if key in generator.meta}
    if spec.structure == "simple":
        generator.cross_loadings = dict.fromkeys(CROSS_LOADED, 0.0)
    probe = Objective(generator, min(n, 20_000), spec.seed).evaluate(generator)
    target_list, tolerance, tolerance_se = member_targets(spec, probe["columns"])
    objective = MemberObjective(generator, n, spec, target_list, tolerance, start_joint, gap_scale)
    binding = objective.joint.binding
    joint_theta = objective.start_joint_theta
    theta0 = np.concatenate([pack_generator(generator), joint_theta])
    x0 = theta0[objective.free]
    if spec.start_jitter > 0:
        x0 = x0 + spec.start_jitter * np.random.default_rng(spec.start_seed).standard_normal(x0.size)
    initial_cost = float(0.5 * np.sum(objective.residuals(x0) ** 2))
    fit = levenberg_marquardt(objective.residuals, x0, iterations=iterations, step=0.01, verbose=verbose, rtol=rtol)
    theta = objective.expand(fit.x)
    fitted_generator, joint_theta = objective.joint.split(theta)
    objective.joint.residuals(theta)  # leave the binding function at the optimum's sample
    gap = objective.gender_gap(joint_theta)
    reference = Objective(fitted_generator, reference_n, spec.seed + 1).evaluate(fitted_generator)
    fitted_generator.thresholds = {k: [float(x) for x in v] for k, v in reference["thresholds"].items()}
    # As stage 5 of the refit: the 7.4% branch's weight loading on a large draw.
    fitted_generator = polish_small_branch(fitted_generator, "gov_relative_score", reference_n, spec.seed + 1)
    joint = joint_params(binding, joint_theta)
    n_free = int(objective.free.sum())
    runtime = round(time.perf_counter() - started, 1)
    record = {
        "spec": spec.as_dict(),
        "structure_description": STRUCTURES[spec.structure],
        "n": n,
        "reference_n": reference_n,
        "initial_cost": initial_cost,
        "cost": float(fit.cost),
        "n_free_parameters": n_free,
        "n_free_generator": int(objective.free[: objective.joint.n_generator].sum()),
        "n_free_joint": int(objective.free[objective.joint.n_generator :].sum()),
        "n_residuals": int(fit.fun.size),
        "n_table4_targets": len(target_list),
        "gender_gap_soft_pp": 100 * gap,
        "gender_gap_limit_pp": 100 * objective.gap_limit,
        "runtime_seconds": runtime,
        "targets": {
            "table4": [{"model": t.model, "term": t.term, "value": t.published, "se": t.se} for t in target_list],
            "tolerances": dict(zip(TOLERANCE_VARIABLES, map(float, tolerance), strict=True)),
            "tolerance_se": dict(zip(TOLERANCE_VARIABLES, map(float, tolerance_se), strict=True)),
        },
        **fit.record(),
    }
    fitted_generator.meta.update(
        {"version": "population_v2", "ensemble_member": spec.index, "joint_seed": spec.seed, "joint_n": n,
         "joint_cost": float(fit.cost), **fit.record("joint_")}
    )  # fmt: skip
    joint.meta = {
        "version": "joint_v1",
        "ensemble_member": spec.index,
        "seed": spec.seed,
        "n": n,
        "cost": float(fit.cost),
        "n_parameters": n_free,
        "n_residuals": int(fit.fun.size),
        "n_table4_targets": len(target_list),
        "runtime_seconds": runtime,
        **fit.record(),
    }
    return MemberFit(fitted_generator, joint, record)
