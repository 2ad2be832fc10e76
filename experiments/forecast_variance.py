"""The forecast's variance split: chance, coefficients within a calibration, and between calibrations.

Three pairs of arms run on the same replicate seeds (``experiments.forecast``):

* **A** (the main arms, the headline effect): the run's calibration, with one
  draw of the joint model's coefficients per replicate from that calibration's
  covariance. Under ``ensemble`` each replicate first draws its member.
* **B** (``ensemble`` only): the same member as A, coefficients at its point estimate.
* **C**: one fixed calibration at its point estimate: the shipped one (under
  ``shipped`` and ``ensemble``) or member K (under ``member:K``).

With V(·) the sample variance (ddof 1) of the paired replicate effects at the
horizon: chance = V(C), coefficients = V(A) − V(B), calibrations = V(B) − V(C).
Without an ensemble there is no arm B: coefficients = V(A) − V(C) and
calibrations is 0 by construction. A difference of two sample variances can
fall below 0 by chance; it is then reported as 0 and flagged, with its raw
estimate. Shares are of the sum of the (clipped) components.

With prior draws of the assumptions (``experiments.forecast_prior``) a fourth
component is added: assumptions = V(P) − V(A), P being the accepted draws.
"""

from __future__ import annotations

import numpy as np

from calibration.ensemble_files import CalibrationChoice
from calibration.members import cached_accepted_members

COMPONENTS = ("chance", "coefficients", "calibrations")


def fixed_label(choice: CalibrationChoice) -> str:
    """The calibration of arm C: member K under ``member:K``, else the shipped one."""
    return str(choice) if choice.kind == "member" else "shipped"


def calibration_record(choice: CalibrationChoice, members: list[int | None]) -> dict[str, object]:
    """The calibration choice, the accepted members it drew from and each replicate's member (``forecast.json``)."""
    return {
        "choice": str(choice),
        "accepted_members": cached_accepted_members() if choice.kind == "ensemble" else None,
        "members": members if choice.kind != "shipped" else None,
        "fixed_arms": fixed_label(choice),
    }


def method(choice: CalibrationChoice) -> str:
    """What the split computes under ``choice``, in words (stored in ``forecast.json``)."""
    fixed = "member " + str(choice.member) if choice.kind == "member" else "the shipped calibration"
    head = (
        "Sample variances (ddof 1) of the paired replicate effects on the share approving at the horizon, "
        "all arms on the same replicate seeds. "
    )
    tail = (
        " A negative difference is clipped at 0 and flagged (its raw estimate is kept); "
        "shares are of the sum of the components."
    )
    if choice.kind == "ensemble":
        return (
            head + "A: a calibration member drawn per replicate from the accepted members, coefficients drawn from "
            "that member's covariance (the headline effect). B: the same member, coefficients at its point estimate. "
            f"C: {fixed}, coefficients at its point estimate. chance = V(C); coefficients = V(A) - V(B); "
            "calibrations = V(B) - V(C)." + tail
        )
    return (
        head + f"A: {fixed}, coefficients drawn from its covariance (the headline effect). C: {fixed}, "
        "coefficients at its point estimate. chance = V(C); coefficients = V(A) - V(C); calibrations = 0 by "
        "construction (one calibration throughout: no between-calibration arm is run)." + tail
    )


def _variance(effects: np.ndarray) -> float:
    return float(np.var(effects, ddof=1))


def _arm(description: str, effects: np.ndarray) -> dict[str, object]:
    return {
        "description": description,
        "variance": _variance(effects) if effects.size > 1 else None,
        "mean_effect_pp": float(effects.mean()),
        "per_replicate": effects.tolist(),
    }


def _difference(larger: float, smaller: float) -> dict[str, object]:
    raw = larger - smaller
    return {"variance": max(raw, 0.0), "estimate": raw, "clipped": raw < 0}


def variance_split(
    choice: CalibrationChoice, drawn: np.ndarray, member_point: np.ndarray | None, fixed: np.ndarray
) -> dict[str, object]:
    """The three-way split of the effect's variance (``forecast.json``'s ``uncertainty``).

    Args:
        choice: The forecast's calibration choice.
        drawn: Per-replicate effects of arm A.
        member_point: Per-replicate effects of arm B (``ensemble`` only, else None).
        fixed: Per-replicate effects of arm C.
    """
    fixed_name = fixed_label(choice)
    arms = {
        "A": _arm(
            ("drawn member" if choice.kind == "ensemble" else fixed_name) + ", coefficients drawn (headline effect)",
            drawn,
        ),
        "C": _arm(f"{fixed_name}, coefficients at the point estimate", fixed),
    }
    if member_point is not None:
        arms["B"] = _arm("drawn member (as in A), coefficients at its point estimate", member_point)
    out: dict[str, object] = {
        "calibration": str(choice),
        "method": method(choice),
        "total_variance": arms["A"]["variance"],
        "effect_without_parameter_draws_pp": float(fixed.mean()),
        "arms": arms,
    }
    if drawn.size < 2:
        out["components"] = {name: {"variance": None, "share": None} for name in COMPONENTS}
        return out
    var_a, var_c = _variance(drawn), _variance(fixed)
    chance = {"variance": var_c, "estimate": var_c, "clipped": False}
    if member_point is not None:
        var_b = _variance(member_point)
        coefficients, calibrations = _difference(var_a, var_b), _difference(var_b, var_c)
    else:
        coefficients = _difference(var_a, var_c)
        calibrations = {"variance": 0.0, "estimate": 0.0, "clipped": False, "by_construction": True}
    components = {"chance": chance, "coefficients": coefficients, "calibrations": calibrations}
    total = sum(value["variance"] for value in components.values())
    for value in components.values():
        value["share"] = value["variance"] / total if total > 0 else None
    out["components"] = components
    out["sum_of_components"] = total
    return out


def variance_markdown(result: dict[str, object]) -> list[str]:
    """The uncertainty paragraph of ``forecast.md``, generated from ``result['uncertainty']``."""
    split = result["uncertainty"]
    components = split["components"]
    if components["chance"]["variance"] is None:
        return [f"With {result['replications']} replication the variance cannot be split."]
    arms = split["arms"]
    lines = [
        f"Without coefficient draws, with {fixed_label_text(split)}, the effect is "
        f"{arms['C']['mean_effect_pp']:+.2f} pp. The variance of the replicate effects is "
        f"{split['total_variance']:.3g} pp² in the headline arms and {arms['C']['variance']:.3g} pp² without "
        "coefficient draws"
        + (
            f", {arms['B']['variance']:.3g} pp² with the drawn members at their point estimates."
            if "B" in arms
            else "."
        )
    ]
    if split["sum_of_components"] == 0:
        lines.append("All are zero, so there is nothing to split.")
        return [" ".join(lines)]
    parts = []
    for name, words in (("chance", "chance (simulation noise)"), ("coefficients", "coefficients within a "
                        "calibration"), ("calibrations", "between calibrations"),
                        ("assumptions", "the assumptions (accepted prior draws)")):  # fmt: skip
        value = components.get(name)
        if value is None or value["variance"] is None:
            continue
        text = f"{words} {100 * value['share']:.0f}% ({value['variance']:.3g} pp²)"
        if value.get("by_construction"):
            text += ", zero by construction: one calibration throughout"
        elif value["clipped"]:
            text += (
                f", its estimate {value['estimate']:.3g} pp² is below zero (a difference of two sample variances) "
                "and is reported as 0"
            )
        parts.append(text)
    lines.append("Split of the variance: " + "; ".join(parts) + ".")
    return [" ".join(lines)]


def fixed_label_text(split: dict[str, object]) -> str:
    """Arm C's calibration in words."""
    choice = split["calibration"]
    return f"ensemble member {choice.split(':')[1]}" if choice.startswith("member:") else "the shipped calibration"
