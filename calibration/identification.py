"""Which joint coefficients the published tables pin down: the ensemble against the delta method.

For each β_J coefficient: its delta-method SE (``joint_v1.json``, conditional on
the generator), the spread (SD) of its value across the accepted members of
the ensemble, and their ratio. A coefficient is **pinned** by the tables when
the spread is at most one delta-method SE: then re-drawing the targets within
their published sampling error, re-seeding, re-starting and changing the factor
structure move it no more than the delta method says the targets' noise does.
Otherwise the calibration's choices move it, and results that hinge on it
carry that uncertainty (the ensemble carries it into every run that uses
``--calibration ensemble``).

Also reported: the correlation across members between each coefficient and
the member's fit cost (does a better fit systematically move it?), the mean by
structure, and parsimony (free parameters against targets, cost and acceptance
by structure).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from calibration.ensemble_files import FIT_FILE, accepted_members, ensemble_dir, member_dir, read_manifest
from calibration.joint import JOINT_TERMS, JointParams
from calibration.parameter_files import JOINT_FILE

PLAIN_NAMES = {
    "age": "age (per year)", "income_2": "middle income", "income_3": "high income", "male": "being male",
    "edu_2": "low education", "edu_3": "medium education", "edu_4": "high education", "urban": "living in a city",
    "region_central": "Central region", "region_east": "East region", "smartphone_time": "time on a smartphone",
    "post_frequency": "posting online", "ccp_member": "CCP membership", "gov_confidence": "confidence in government",
    "sesame_score": "Sesame score", "relative_score": "score relative to others", "transparency": "transparency",
    "received_info": "having received information", "auto_joined": "joining automatically",
    "fairness": "perceived fairness", "advantages": "having advantages", "disadvantages": "having disadvantages",
    "accountability": "function: accountability", "abiding_regulations": "function: abiding by regulations",
    "quality_of_life": "function: quality of life",
}  # fmt: skip
PINNED_RATIO = 1.0
MIN_MEMBERS = 3


def identification_table(shipped: JointParams | None = None, root: Path | None = None) -> dict[str, object]:
    """Per-coefficient spread across accepted members against the delta-method SE, and parsimony."""
    shipped = shipped or JointParams.load()
    root = ensemble_dir() if root is None else Path(root)
    manifest = read_manifest(root)
    accepted = accepted_members(root)
    fits = {i: json.loads((member_dir(i, root) / FIT_FILE).read_text()) for i in accepted}
    values = np.array(
        [[JointParams.load(member_dir(i, root) / JOINT_FILE).coefficients[t] for t in JOINT_TERMS] for i in accepted]
    )
    cost = np.array([fits[i]["cost"] for i in accepted])
    structure = [fits[i]["spec"]["structure"] for i in accepted]
    se = np.sqrt(np.diag(np.asarray(shipped.covariance)))[: len(JOINT_TERMS)]
    tried = [m["index"] for m in manifest["members"]]
    every = np.array(
        [[JointParams.load(member_dir(i, root) / JOINT_FILE).coefficients[t] for t in JOINT_TERMS] for i in tried]
    )
    rows = []
    for j, term in enumerate(JOINT_TERMS):
        column = values[:, j] if len(accepted) else np.array([])
        # Fewer than three members cannot tell a spread from chance: no verdict then.
        spread = float(column.std(ddof=1)) if column.size >= MIN_MEMBERS else None
        spread_tried = float(every[:, j].std(ddof=1)) if len(tried) >= MIN_MEMBERS else None
        correlation = float(np.corrcoef(column, cost)[0, 1]) if column.size > 2 and column.std() > 0 else None
        by_structure = {s: float(column[[k for k, x in enumerate(structure) if x == s]].mean())
                        for s in sorted(set(structure))}  # fmt: skip
        rows.append({
            "term": term, "plain": PLAIN_NAMES[term], "shipped": float(shipped.coefficients[term]),
            "delta_se": float(se[j]), "member_mean": float(column.mean()) if column.size else None,
            "member_min": float(column.min()) if column.size else None,
            "member_max": float(column.max()) if column.size else None,
            "between_member_sd": spread, "ratio": None if spread is None else spread / float(se[j]),
            "pinned": None if spread is None else bool(spread <= PINNED_RATIO * se[j]),
            "correlation_with_cost": correlation,
            "all_tried_sd": spread_tried,
            "all_tried_ratio": None if spread_tried is None else spread_tried / float(se[j]),
            "mean_by_structure": by_structure,
        })  # fmt: skip
    return {
        "n_members_tried": len(manifest["members"]),
        "n_accepted": len(accepted),
        "accepted": accepted,
        "pinned_rule": f"between-member SD <= {PINNED_RATIO:g} delta-method SE",
        "coefficients": rows,
        "parsimony": parsimony(manifest),
        "rejections": rejection_tally(manifest["members"]),
        "exemptions": exemptions(fits),
        "members": manifest["members"],
        "member_values": {
            str(i): dict(zip(JOINT_TERMS, map(float, v), strict=True)) for i, v in zip(accepted, values, strict=True)
        },
    }


# A stored reason's check, in words shared by the members it rejects (the figures stay in each member's row).
REASON_KINDS = [
    (r"^optimiser:", lambda m: "optimiser: stopped at its iteration limit"),
    (r"^refits: [\d.]+% of coefficients within", lambda m: "refits: under 85% of coefficients within 1 unit"),
    (r"^refits: [\d.]+% within [\d.]+ SE \(worst (Model \d+ \w+)", lambda m: f"refits: beyond 2 units, worst {m[1]}"),
    (r"^refits: \d+ significant sign", lambda m: "refits: a significant published sign lost"),
    (r"^A4: (\w+) tolerance", lambda m: f"A4: the {m[1]} tolerance"),
    (r"^A2 \(seed (\d+)\): .*e\.g\. (\w+)=", lambda m: f"A2: a {m[2]} cell (seed {m[1]})"),
    (r"^approval \(seed (\d+)\)", lambda m: f"approval distribution (seed {m[1]})"),
    (r"^age \(seed (\d+)\)", lambda m: f"age moments (seed {m[1]})"),
    (r"^qualitative: (\w+) missed", lambda m: f"qualitative: {m[1]}"),
]


def reason_kind(reason: str) -> str:
    """The check a stored rejection reason names (the reason itself if it matches no known form)."""
    for pattern, name in REASON_KINDS:
        match = re.match(pattern, reason)
        if match:
            return name(match)
    return reason


def rejection_tally(members: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per check: the members it rejects, and those it alone rejects (passing it would have admitted them)."""
    kinds: dict[str, dict[str, list[int]]] = {}
    for m in members:
        found = list(dict.fromkeys(reason_kind(r) for r in m["reasons"]))
        for kind in found:
            entry = kinds.setdefault(kind, {"members": [], "alone": []})
            entry["members"].append(m["index"])
            if len(found) == 1:
                entry["alone"].append(m["index"])
    rows = [{"check": k, **v} for k, v in kinds.items()]
    return sorted(rows, key=lambda r: (-len(r["members"]), r["check"]))


def rejection_markdown(rows: list[dict[str, object]]) -> list[str]:
    """The rejection tally as a table."""
    lines = [
        "### Why members were rejected",
        "",
        "| check failed | members | of which for this check alone |",
        "|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['check']} | {len(r['members'])} ({', '.join(map(str, r['members']))}) | "
            f"{len(r['alone'])}{' (' + ', '.join(map(str, r['alone'])) + ')' if r['alone'] else ''} |"
        )
    return [*lines, ""] if rows else []


def parsimony(manifest: dict[str, object]) -> list[dict[str, object]]:
    """Per structure: free parameters, residuals, members tried and accepted, and their costs."""
    out = []
    for name in sorted({m["structure"] for m in manifest["members"]}):
        members = [m for m in manifest["members"] if m["structure"] == name]
        accepted = [m for m in members if m["accepted"]]
        point = [m["cost"] for m in members if m["point_targets"]]
        out.append({
            "structure": name, "description": manifest.get("structures", {}).get(name, ""),
            "n_free_parameters": members[0]["n_free_parameters"], "n_residuals": members[0]["n_residuals"],
            "n_free_generator": members[0].get("n_free_generator"), "n_free_joint": members[0].get("n_free_joint"),
            "n_table4_targets": members[0].get("n_table4_targets"),
            "tried": len(members), "accepted": len(accepted),
            "median_cost": float(np.median([m["cost"] for m in members])),
            "point_target_cost": float(point[0]) if point else None,
        })  # fmt: skip
    return out


def parsimony_table(rows: list[dict[str, object]]) -> list[str]:
    """Free parameters against targets, and fit, by structure (lines)."""
    lines = [
        "| structure | free parameters (generator + joint) | residuals (Table 4 cells + approval shares + generator "
        "targets + gender-gap bounds) | members tried | accepted | median cost | point-target cost |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        table4 = r.get("n_table4_targets")
        split = f" ({table4} + 5 + {r['n_residuals'] - table4 - 7} + 2)" if isinstance(table4, int) else ""
        free = f" ({r['n_free_generator']} + {r['n_free_joint']})" if r.get("n_free_generator") is not None else ""
        lines.append(
            f"| `{r['structure']}`: {r['description']} | {r['n_free_parameters']}{free} | {r['n_residuals']}{split} | "
            f"{r['tried']} | {r['accepted']} | {r['median_cost']:.1f} | {_num(r['point_target_cost'])} |"
        )
    return [*lines, ""]


def parsimony_sentence(rows: list[dict[str, object]]) -> str:
    """What the measured costs and acceptance say about the smaller structure (generated from the figures)."""
    if len(rows) < 2:
        return "Only one structure was tried, so parsimony cannot be compared."
    small, large = sorted(rows, key=lambda r: r["n_free_parameters"])[:2]
    rate = {r["structure"]: r["accepted"] / r["tried"] for r in (small, large)}
    as_well = rate[small["structure"]] >= rate[large["structure"]] and (
        small["point_target_cost"] is None
        or large["point_target_cost"] is None
        or small["point_target_cost"] <= 1.1 * large["point_target_cost"]
    )
    figures = (
        f"`{small['structure']}` ({small['n_free_parameters']} free parameters, {small['accepted']} of "
        f"{small['tried']} accepted, point-target cost {_num(small['point_target_cost'])}) against "
        f"`{large['structure']}` ({large['n_free_parameters']}, {large['accepted']} of {large['tried']}, "
        f"{_num(large['point_target_cost'])}); {small['n_residuals']} residuals"
    )
    if as_well:
        return (f"The smaller structure fits as well by the acceptance rate and a point-target cost within 10%: "
                f"{figures}. It is preferred.")  # fmt: skip
    return f"The smaller structure does not fit as well: {figures}. The larger one is kept."


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def plot_identification(table: dict[str, object]) -> Figure:
    """Members' coefficients in delta-method SEs from the shipped value; the band is ±1 SE."""
    rows = table["coefficients"]
    fig, ax = plt.subplots(figsize=(9, 8))
    y = np.arange(len(rows))[::-1]
    ax.axvspan(-1, 1, color="0.9", label="±1 delta-method SE")
    for index, coefficients in table["member_values"].items():
        x = [(coefficients[r["term"]] - r["shipped"]) / r["delta_se"] for r in rows]
        ax.scatter(x, y, s=14, alpha=0.7, label=f"member {index}")
    ax.set_yticks(y, [f"{r['plain']}{' *' if r['pinned'] is False else ''}" for r in rows], fontsize=8)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("member − shipped, in delta-method SEs (* not pinned: spread > 1 SE)")
    ax.set_title(f"Joint coefficients across {table['n_accepted']} accepted calibrations")
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


def markdown(table: dict[str, object]) -> list[str]:
    """The identification section of the report (lines), generated from the table."""
    rows = table["coefficients"]
    loose = [r["plain"] for r in rows if r["pinned"] is False]
    head = (
        f"{table['n_accepted']} accepted of {table['n_members_tried']} members tried. Pinned: {table['pinned_rule']}."
    )
    if any(r["pinned"] is None for r in rows):
        verdict = (
            f"With fewer than {MIN_MEMBERS} accepted members no coefficient can be classified; the last columns "
            "show the spread over every member tried, accepted or not, as a first look only."
        )
    else:
        verdict = (
            f"{len(rows) - len(loose)} of {len(rows)} coefficients are pinned. Not pinned: "
            + (", ".join(loose) if loose else "none")
            + "."
        )
    lines = [
        "## Identification: which joint coefficients the tables pin down",
        "",
        f"{head} {verdict}",
        "",
        "| coefficient | shipped | delta-method SE | accepted members (min to max) | between-member SD | SD / SE | "
        "pinned | corr. with cost | SD over all members tried | its SD / SE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        corr = "n/a" if r["correlation_with_cost"] is None else f"{r['correlation_with_cost']:+.2f}"
        span = "n/a" if r["member_min"] is None else f"{r['member_min']:+.3f} to {r['member_max']:+.3f}"
        pinned = "n/a" if r["pinned"] is None else ("yes" if r["pinned"] else "**no**")
        lines.append(
            f"| {r['plain']} (`{r['term']}`) | {r['shipped']:+.3f} | {r['delta_se']:.3f} | {span} | "
            f"{_num(r['between_member_sd'], 3)} | {_num(r['ratio'], 2)} | {pinned} | {corr} | "
            f"{_num(r['all_tried_sd'], 3)} | {_num(r['all_tried_ratio'], 2)} |"
        )
    lines += ["", "### Parsimony", "", *parsimony_table(table["parsimony"]), parsimony_sentence(table["parsimony"]), ""]
    lines += rejection_markdown(table["rejections"])
    lines += exemptions_markdown(table.get("exemptions", []))
    lines += members_markdown(table["members"])
    return lines


def exemptions(fits: dict[int, dict[str, object]]) -> list[dict[str, object]]:
    """The qualitative criteria accepted members miss, each with the reason the acceptance rule exempts it."""
    return [
        {"member": index, "criterion": row["name"], "measured": row["measured"], "reason": row["exempt_reason"]}
        for index, fit in fits.items()
        for row in fit["checks"]["qualitative"]
        if not row["passed"]
    ]


def exemptions_markdown(rows: list[dict[str, object]]) -> list[str]:
    """Which accepted member misses which qualitative criterion, and why it is still accepted."""
    lines = ["### Qualitative criteria the accepted members miss", ""]
    if not rows:
        return [*lines, "Every accepted member meets every qualitative criterion.", ""]
    members = sorted({r["member"] for r in rows})
    lines += [
        f"{len(members)} accepted member(s) miss a criterion, each exempt by rule 5 of the acceptance rule:",
        "",
        "| member | criterion | measured | why it is exempt |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['member']} | {r['criterion']} | {r['measured']} | {r['reason']} |" for r in rows]
    return [*lines, ""]


def members_markdown(members: list[dict[str, object]]) -> list[str]:
    """Every member tried, accepted or not, with its figures and the reasons for a rejection."""
    lines = [
        "### Every member tried",
        "",
        "| member | structure | targets | cost | converged | within 1 unit of published (unit) / 1 SE of own targets "
        "| within 2 units | "
        "A4 max gap | approval max gap (pp) | qualitative met | accepted | reasons |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in members:
        lines.append(
            f"| {m['index']} | {m['structure']} | {'point' if m['point_targets'] else 'bootstrap'} | {m['cost']:.1f} | "
            f"{'yes' if m['converged'] else 'no'} ({m['iterations']} it.) | {m['within_1se']:.0%} "
            f"({m['unit_se']:.3g} SE) / {m['within_1se_own_targets']:.0%} | {m['within_2se']:.0%} | "
            f"{m['a4_max_gap']:.3f} | "
            f"{m['approval_max_gap_pp']:.2f} | {m['qualitative_met']} of {m['qualitative_total']} | "
            f"{'yes' if m['accepted'] else '**no**'} | {'; '.join(m['reasons']) or '-'} |"
        )
    return [*lines, ""]


def write_identification(out: Path) -> dict[str, object]:
    """``identification.json``, ``identification.md`` and ``identification.png`` in ``out``."""
    table = identification_table()
    (out / "identification.json").write_text(json.dumps(table, indent=1) + "\n")
    (out / "identification.md").write_text("\n".join(markdown(table)) + "\n")
    fig = plot_identification(table)
    fig.savefig(out / "identification.png", dpi=100)
    plt.close(fig)
    return table
