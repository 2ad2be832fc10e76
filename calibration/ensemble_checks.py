"""The acceptance rule of an ensemble member: every check, its figures, and the reason for any failure.

A member is accepted when it passes all of these (``ACCEPTANCE_RULE`` states
them for the manifest and the README):

1. **Optimiser**: Levenberg–Marquardt stopped on its own criterion (the cost fell
   by less than ``RTOL`` of itself in an iteration, or no step lowered it), not at
   its iteration limit.
2. **Refits** (the joint model's refit criteria; sampled outcomes, ordinary ML,
   N = ``refit_n``): of the ``ok`` Table 4 coefficients, ≥ 85% within 1 unit and
   100% within 2 units of the published values, where the unit is the published
   SE for a point-target member and √2 SE for a bootstrap member
   (``BOOTSTRAP_UNIT``); every coefficient the paper reports as significant at
   5% keeps its published sign. Measured against its own drawn targets, a
   bootstrap member cannot meet the point-target thresholds: independent draws
   on 103 targets are not all absorbable by the model's parameters, so about a
   third of the residuals grow by the draw itself (member 2 of the shipped
   ensemble: 64% within 1 SE of its own targets). That figure is reported too.
3. **Table A4**: every tolerance within 0.05 of the member's target.
4. **Foundation** (``tests/test_population.py``'s tolerances, N = ``check_n``):
   every weighted Table A2 cell within 1 pp (Sesame 1.5 pp) and every unweighted
   one within 1.5 pp; the weighted approval distribution within 1 pp of Table A2;
   weighted age mean within 0.3 and SD within 0.5 of Table A3. They must hold on
   two independent draws (``FOUNDATION_SEEDS``): the report's seed and the seed
   ``scsim population`` uses by default. A member whose expected share sits
   within sampling noise of a tolerance's edge passes one draw and fails the
   next (of build 2's ten members accepted on one draw, four failed at seed 0),
   and a user checking a shipped member draws at the default seed.
5. **Qualitative** (``calibration.qualitative``): every criterion met, except one
   that conflicts with the Table 4 coefficients the member is fitted to
   (``conflict_with_table4``); that one is reported with the reason, not required.
"""

from __future__ import annotations

import numpy as np

from calibration import paper, qualitative
from calibration.fit_population import TOLERANCE_VARIABLES, tolerances
from calibration.joint import JointParams
from calibration.joint_report import refit_table, summarise
from calibration.population import GeneratorParams
from calibration.report import marginals_table
from calibration.sample import SyntheticSample, generate_sample
from sim.approval import ApprovalRule

RTOL = 5e-3
# A bootstrap member's refit differs from the published value by its target's draw (SD = SE) plus its own
# fitting error, of the same order for a member that fits as well as a point-target member: two independent
# errors of equal SD, so its distance to the published value is judged in units of √2 SE.
BOOTSTRAP_UNIT = float(np.sqrt(2))
WITHIN_1SE = 0.85
A4_LIMIT = 0.05
APPROVAL_LIMIT_PP = 1.0
AGE_MEAN_LIMIT, AGE_SD_LIMIT = 0.3, 0.5
EDUCATION = "education_highest_top_lowest_low"
POPULATION_DEFAULT_SEED = 0  # ``scsim population --seed``'s default
ACCEPTANCE_RULE = [
    f"optimiser converged (cost fell by less than {RTOL:g} of itself, or no step lowered it)",
    f"refits on sampled outcomes: >= {WITHIN_1SE:.0%} of ok coefficients within 1 unit and 100% within 2 units of "
    "the published values (unit: SE for point-target members, sqrt(2) SE for bootstrap members); every "
    "significant published coefficient keeps its sign",
    f"every Table A4 tolerance within {A4_LIMIT} of the member's target",
    "every Table A2 cell within tolerance (weighted 1 pp, Sesame 1.5 pp; unweighted 1.5 pp); weighted approval "
    f"within {APPROVAL_LIMIT_PP} pp; weighted age mean within {AGE_MEAN_LIMIT} and SD within {AGE_SD_LIMIT} of A3; "
    f"on two independent draws of check_n (the report's seed and scsim population's default seed "
    f"{POPULATION_DEFAULT_SEED})",
    "every qualitative criterion of Section 4 met, except one in conflict with the Table 4 coefficients the "
    "member is fitted to (reported with the reason)",
]


def conflict_with_table4(criterion: str, targets: dict[tuple[int, str], float], shares: list[float]) -> str | None:
    """Why a missed qualitative criterion cannot be met by a member fitted to Table 4, or None.

    The education statement puts the lowest approval among the low-educated.
    Only its "low below none" part can conflict with Table 4: Models 1 and 2
    publish low education *above* the no-education base (edu_2 = +0.653 and
    +1.076). A member whose targets for those two cells are positive (the
    published values, or a bootstrap draw of them that keeps their sign) is
    asked to reproduce low above none. If only "low below none" fails and the
    rest of the statement holds (high education highest, low below medium and
    high), the miss is the published coefficients', not the member's. The
    member's own refits of these cells are not used: with 1.3% of the sample in
    the base group they sit near zero and their sign is noise.
    """
    if criterion != EDUCATION:
        return None
    none, low, medium, high = shares
    rest_holds = high > max(none, low, medium) and low < min(medium, high)
    edu_2 = [targets.get((model, "edu_2"), np.nan) for model in (1, 2)]
    if rest_holds and low >= none and all(v > 0 for v in edu_2):
        return (
            f"only 'low below none' fails (none {100 * none:.1f}%, low {100 * low:.1f}%); Models 1 and 2 publish "
            f"low education above the no-education base (edu_2 +0.653, +1.076) and this member was fitted to "
            f"{edu_2[0]:+.3f} and {edu_2[1]:+.3f}. The no-education group is about 1.3% of the weighted sample "
            "(about 29 of 2,209 respondents)"
        )
    return None


def _education_shares(columns: dict[str, np.ndarray], weights: np.ndarray) -> list[float]:
    approve = columns["approval"] >= qualitative.APPROVING
    return [float(np.average(approve[columns["education"] == k], weights=weights[columns["education"] == k]))
            for k in (1, 2, 3, 4)]  # fmt: skip


def foundation(sample: SyntheticSample, seed: int) -> tuple[list[str], dict[str, object]]:
    """The foundation's tolerances on one draw: the reasons it fails (empty if none) and its figures."""
    marginals = marginals_table(sample)
    approval = marginals[marginals["variable"] == "approval"]
    cells = marginals[marginals["variable"] != "approval"]
    w = sample.weights
    age = sample.columns["age"].astype(float)
    age_mean = float(w @ age / w.sum())
    age_sd = float(np.sqrt(w @ (age - age_mean) ** 2 / w.sum()))
    reasons = []
    bad = cells[~(cells["ok_weighted"] & cells["ok_unweighted"])]
    if len(bad):
        row = bad.iloc[0]
        reasons.append(
            f"A2 (seed {seed}): {len(bad)} cell(s) outside tolerance, e.g. {row['variable']}={row['code']} "
            f"(weighted {row['diff_weighted']:+.2f} pp, unweighted {row['diff_unweighted']:+.2f} pp)"
        )
    approval_gap = float(approval["diff_weighted"].abs().max())
    if approval_gap > APPROVAL_LIMIT_PP:
        reasons.append(
            f"approval (seed {seed}): weighted distribution off by {approval_gap:.2f} pp (limit {APPROVAL_LIMIT_PP})"
        )
    age_target = (paper.a3_moment("age", "mean"), paper.a3_moment("age", "sd"))
    if abs(age_mean - age_target[0]) > AGE_MEAN_LIMIT or abs(age_sd - age_target[1]) > AGE_SD_LIMIT:
        reasons.append(
            f"age (seed {seed}): weighted mean {age_mean:.2f}, SD {age_sd:.2f} (A3: {age_target[0]}, {age_target[1]})"
        )
    figures = {
        "seed": seed,
        "a2_cells_outside": len(bad),
        "a2_max_weighted_gap_share_of_tolerance": float(
            (cells["diff_weighted"].abs() / cells["weighted_tolerance_pp"]).max()
        ),
        "approval_max_gap_pp": approval_gap,
        "age_mean": age_mean,
        "age_sd": age_sd,
    }
    return reasons, figures


def check_member(
    generator: GeneratorParams,
    joint: JointParams,
    record: dict[str, object],
    check_n: int = 200_000,
    refit_n: int = 50_000,
    seed: int = 1,
) -> dict[str, object]:
    """Run the acceptance rule on one fitted member; returns the checks, ``accepted`` and the reasons.

    ``seed`` draws the report's sample (A4, qualitative criteria and the first
    foundation draw) and, plus 6, the refits' sample.
    """
    targets = {(t["model"], t["term"]): t["value"] for t in record["targets"]["table4"]}
    frame, _ = refit_table(refit_n, seed + 6, generator, joint, targets)
    own_targets = summarise(frame)["coefficients"]
    unit = 1.0 if record["spec"]["point_targets"] else BOOTSTRAP_UNIT
    refits = summarise(frame.assign(z=(frame["refit"] - frame["published"]) / (unit * frame["se"])))["coefficients"]
    refits["unit_se"] = unit
    model = joint.model()
    rule = ApprovalRule(primary=model, fallback=model)
    sample = generate_sample(check_n, seed, rule, generator)
    w = sample.weights
    tolerance_target = np.array([record["targets"]["tolerances"][v] for v in TOLERANCE_VARIABLES])
    tolerance_gap = np.abs(tolerances(sample.columns) - tolerance_target)
    criteria = qualitative.check(sample.columns, w)
    education = _education_shares(sample.columns, w)

    reasons = []
    if not record.get("converged", False):
        reasons.append(f"optimiser: {record.get('stop_reason', 'did not converge')}")
    if refits["within_1se"] < WITHIN_1SE:
        reasons.append(
            f"refits: {refits['within_1se']:.1%} of coefficients within {unit:.3g} SE of the published values "
            f"(needs {WITHIN_1SE:.0%})"
        )
    if refits["within_2se"] < 1:
        worst = refits["worst"][0]
        reasons.append(
            f"refits: {refits['within_2se']:.1%} within {2 * unit:.3g} SE (worst Model {worst['model']} "
            f"{worst['term']} {worst['z'] * unit:+.1f} SE)"
        )
    if refits["significant_sign_kept"] < refits["significant"]:
        reasons.append(f"refits: {refits['significant'] - refits['significant_sign_kept']} significant sign(s) lost")
    if tolerance_gap.max() > A4_LIMIT:
        worst_var = TOLERANCE_VARIABLES[int(tolerance_gap.argmax())]
        reasons.append(f"A4: {worst_var} tolerance off by {tolerance_gap.max():.3f} (limit {A4_LIMIT})")
    draws = []
    for draw_seed in dict.fromkeys((seed, POPULATION_DEFAULT_SEED)):
        draw = sample if draw_seed == seed else generate_sample(check_n, draw_seed, rule, generator)
        draw_reasons, figures = foundation(draw, draw_seed)
        reasons += draw_reasons
        draws.append(figures)
    qualitative_rows = []
    for criterion in criteria:
        excuse = None if criterion.passed else conflict_with_table4(criterion.name, targets, education)
        if not criterion.passed and excuse is None:
            reasons.append(f"qualitative: {criterion.name} missed ({criterion.measured})")
        qualitative_rows.append({**criterion.as_dict(), "exempt_reason": excuse})
    worst_draw = {key: max(d[key] for d in draws) for key in ("a2_cells_outside", "approval_max_gap_pp")}
    return {
        "accepted": not reasons,
        "reasons": reasons,
        "check_n": check_n,
        "refit_n": refit_n,
        "seed": seed,
        "refits": refits,
        "refits_against_own_targets": own_targets,
        "a4_max_gap": float(tolerance_gap.max()),
        **worst_draw,
        "a2_max_weighted_gap_share_of_tolerance": max(d["a2_max_weighted_gap_share_of_tolerance"] for d in draws),
        "age_mean": draws[0]["age_mean"],
        "age_sd": draws[0]["age_sd"],
        "foundation_draws": draws,
        "qualitative": qualitative_rows,
        "qualitative_met": int(sum(c.passed for c in criteria)),
        "qualitative_total": len(criteria),
    }
