"""Calibration report of the joint approval model (``scsim calibrate --report DIR``).

Rebuilds the evidence from the shipped parameters: simulate a sample, draw
approval from the joint model, refit the paper's seven ordered logits on the
sampled outcomes (ordinary maximum likelihood, not soft labels), and compare
every coefficient with Table 4.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from calibration import paper
from calibration.fit_joint import auxiliary_models, targets
from calibration.fit_population import TOLERANCE_VARIABLES, tolerances
from calibration.joint import JointParams, approval_covariates, with_joint_state
from calibration.ologit_fit import fit_ordered_logit
from calibration.population import GeneratorParams
from calibration.rules import approval_rule
from calibration.sample import generate_sample
from calibration.targets import a2_targets
from sim.approval import CUT_NAMES, ApprovalRule

Z_SIGNIFICANT = 1.959963984540054  # two-sided 5%
# Default seed of ``scsim calibrate --report`` (the seed of the fit quoted in calibration/README.md).
REPORT_SEED = 7


def refit_table(
    n: int,
    seed: int,
    generator: GeneratorParams | None = None,
    joint: JointParams | None = None,
    target_values: dict[tuple[int, str], float] | None = None,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Every Table 4 cell against its refit on a simulated sample of size ``n``.

    Args:
        n, seed: Size and root seed of the simulated sample.
        generator, joint: The calibration (default: the loaded pair).
        target_values: (model, term) → the value the calibration was fitted to,
            for a bootstrap member of the ensemble; ``z`` is then measured against
            it (column ``target``). Default: the published value.
    """
    rule = approval_rule("default") if joint is None else ApprovalRule(primary=joint.model(), fallback=joint.model())
    sample = generate_sample(n, seed, rule, generator)
    covariates = with_joint_state(approval_covariates(sample.columns))
    approval = sample.columns["approval"]
    observations = paper.read_table("table4_observations.csv", ("model", "observations"))
    paper_n = observations.set_index("model")["observations"].astype(int)
    used = {(t.model, t.term): t for t in targets()}
    table = paper.table4()
    rows = []
    for aux in auxiliary_models(covariates, sample.weights):
        model = int(aux.name[-1])
        fit = fit_ordered_logit(aux.X, approval[aux.mask], aux.weights)
        estimates = np.concatenate([fit.beta, fit.cuts])
        errors = fit.se
        names = [*aux.terms, *CUT_NAMES]
        for j, term in enumerate(names):
            cell = table[(table["model"] == model) & (table["term"] == term)].iloc[0]
            published, se = float(cell["coef"]), float(cell["se"])
            target = (target_values or {}).get((model, term), published)
            z = (estimates[j] - target) / se if np.isfinite(target) and np.isfinite(se) else np.nan
            excluded = (model == 5 and (term.startswith("edu_") or term in CUT_NAMES)) or cell["status"] != "ok"
            rows.append(
                {
                    "model": model,
                    "term": term,
                    "kind": "cut" if term in CUT_NAMES else "coefficient",
                    "published": published,
                    "target": target,
                    "se": se,
                    "refit": float(estimates[j]),
                    "refit_se": float(errors[j]),
                    "z": float(z),
                    "status": cell["status"],
                    "in_objective": (model, term) in used,
                    "in_acceptance": not excluded and np.isfinite(z),
                    "significant": bool(np.isfinite(se) and abs(published / se) >= Z_SIGNIFICANT),
                    "se_ratio_at_paper_n": float(errors[j] * np.sqrt(aux.mask.sum() / paper_n[model]) / se)
                    if np.isfinite(se)
                    else np.nan,
                }
            )
    frame = pd.DataFrame(rows)
    return frame, {"sample": sample, "covariates": covariates}


def summarise(frame: pd.DataFrame) -> dict[str, object]:
    """Shares within 1 and 2 SE and sign preservation, on the acceptance set."""
    out: dict[str, object] = {}
    for label, subset in (
        ("coefficients", frame[frame["in_acceptance"] & (frame["kind"] == "coefficient")]),
        ("coefficients_and_cuts", frame[frame["in_acceptance"]]),
    ):
        significant = subset[subset["significant"]]
        kept = int((np.sign(significant["refit"]) == np.sign(significant["published"])).sum())
        out[label] = {
            "n": len(subset),
            "within_1se": float((subset["z"].abs() <= 1).mean()),
            "within_2se": float((subset["z"].abs() <= 2).mean()),
            "significant": len(significant),
            "significant_sign_kept": kept,
            "worst": subset.loc[subset["z"].abs().nlargest(5).index, ["model", "term", "z"]].to_dict("records"),
        }
    return out


def plot_forest(frame: pd.DataFrame) -> Figure:
    """Published coefficient ± SE (bars) with the refit (points), one panel per model."""
    fig, axes = plt.subplots(2, 4, figsize=(18, 9))
    for ax, model in zip(axes.flat, range(1, 8), strict=False):
        rows = frame[(frame["model"] == model) & (frame["kind"] == "coefficient")].reset_index(drop=True)
        y = np.arange(len(rows))[::-1]
        ax.errorbar(rows["published"], y, xerr=rows["se"], fmt="s", color="grey", ms=4, label="published ± SE")
        colours = np.where(rows["in_acceptance"], "C0", "C1")
        ax.scatter(rows["refit"], y, color=colours, zorder=3, s=18, label="refit (orange: excluded)")
        ax.set_yticks(y, rows["term"], fontsize=7)
        ax.axvline(0, color="black", lw=0.5)
        ax.set_title(f"Model {model}")
        if model == 5:
            ax.set_xlim(-3, 3)
    axes.flat[0].legend(fontsize=7)
    axes.flat[-1].axis("off")
    fig.suptitle("Table 4: published coefficients ± 1 SE and refits on the simulated sample")
    fig.tight_layout()
    return fig


def plot_marginals(approval: pd.DataFrame, tolerance: pd.DataFrame) -> Figure:
    """Approval distribution and Table A4 tolerances, published against simulated."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
    x = np.arange(5)
    axes[0].bar(x - 0.2, approval["paper"], 0.4, label="Table A2 (weighted)")
    axes[0].bar(x + 0.2, approval["simulated"], 0.4, label="joint model (weighted)")
    axes[0].set_xticks(x, ["1", "2", "3", "4", "5"])
    axes[0].set_xlabel("approval")
    axes[0].set_ylabel("%")
    axes[0].legend()
    x = np.arange(len(tolerance))
    axes[1].bar(x - 0.2, tolerance["paper"], 0.4, label="Table A4")
    axes[1].bar(x + 0.2, tolerance["simulated"], 0.4, label="simulated")
    axes[1].set_xticks(x, tolerance.index, rotation=90, fontsize=7)
    axes[1].set_ylim(0.5, 1.0)
    axes[1].set_ylabel("tolerance (1 − R²)")
    axes[1].legend()
    fig.tight_layout()
    return fig


def joint_parameter_table() -> list[dict[str, object]]:
    """The joint model's parameters with their delta-method standard errors."""
    params = JointParams.load()
    se = np.sqrt(np.diag(np.asarray(params.covariance)))
    values = params.vector()
    return [
        {"parameter": name, "value": float(v), "se": float(s)}
        for name, v, s in zip(params.parameter_names, values, se, strict=True)
    ]


def write_joint_report(out: Path, n: int = 50_000, seed: int = REPORT_SEED) -> dict[str, object]:
    """Write ``calibration.json``, ``table4_refits.csv`` and the figures to ``out``.

    Args:
        out: Output directory (created if missing).
        n: Simulated sample size.
        seed: Root seed of the simulated sample.

    Returns:
        The report, as written to ``calibration.json``.
    """
    out.mkdir(parents=True, exist_ok=True)
    frame, context = refit_table(n, seed)
    sample = context["sample"]
    w = sample.weights
    target = a2_targets("weighted_pct")["approval"]
    simulated = np.array([w[sample.columns["approval"] == k].sum() for k in range(1, 6)]) / w.sum()
    approval = pd.DataFrame(
        {"paper": [100 * target[k] for k in range(1, 6)], "simulated": 100 * simulated}, index=range(1, 6)
    )
    approval["diff_pp"] = approval["simulated"] - approval["paper"]
    tolerance = pd.DataFrame(
        {"paper": paper.a4_tolerances().reindex(TOLERANCE_VARIABLES), "simulated": tolerances(sample.columns)}
    )
    tolerance["diff"] = tolerance["simulated"] - tolerance["paper"]
    report = {
        "n": n,
        "seed": seed,
        "summary": summarise(frame),
        "approval_distribution_pct": approval.reset_index(names="category").to_dict("records"),
        "approval_max_abs_diff_pp": float(approval["diff_pp"].abs().max()),
        "tolerances": tolerance.reset_index(names="variable").to_dict("records"),
        "tolerance_max_abs_diff": float(tolerance["diff"].abs().max()),
        "joint_parameters": joint_parameter_table(),
        "terms": frame.to_dict("records"),
    }
    (out / "calibration.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    frame.to_csv(out / "table4_refits.csv", index=False, float_format="%.5g")
    for name, fig in (("forest.png", plot_forest(frame)), ("marginals.png", plot_marginals(approval, tolerance))):
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
    return report
