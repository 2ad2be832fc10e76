"""The text summary of ``scsim analyze``, generated from the computed numbers (nothing here is a fixed claim)."""

from __future__ import annotations

TOP = 3


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "undefined"
    text = f"{value:.3g}"
    if unit == "%":
        return text + "%"
    return f"{text} {unit}" if unit and unit != "points (1–5)" else text


def short(key: str) -> str:
    return key.removeprefix("all|")


def summary_lines(result: dict) -> list[str]:
    """One header line, one line on failed runs, then per outcome its analysis and scenario discovery."""
    effect = result["effect"]
    paired = f"; paired effect {effect['shift']} − {effect['baseline']}" if effect else ""
    lines = [
        f"{result['sweep_name']}: {result['design']} design, {result['points']:,} points × "
        f"{result['replications']} replications, month {result['month']} of {result['horizon']}{paired}"
    ]
    runs = result["runs"]
    if runs["not_ok"]:
        lines.append(f"{runs['not_ok']:,} of {runs['runs']:,} runs could not start ({runs['points_affected']:,} "
                     f"points); they are left out. Most common reason: {runs['reasons'][0]['status']}")  # fmt: skip
    else:
        lines.append(f"all {runs['runs']:,} runs started")
    for key, entry in result["outcomes"].items():
        unit = entry["unit"]
        head = f"{short(key)}: "
        if entry["points_dropped"]:
            lines.append(f"{head}{entry['points_dropped']:,} of {result['points']:,} points have no value; dropped")
        lines.append(head + design_line(entry, unit))
        lines.extend(head + line for line in discovery_lines(entry, unit, key))
    return lines


def design_line(entry: dict, unit: str) -> str:
    if "sobol" in entry:
        sobol = entry["sobol"]
        if not sobol["defined"]:
            return f"Sobol indices undefined: the outcome is {fmt(sobol['constant_value'], unit)} at every point"
        parts = [f"{name} ST {fmt(sobol['factors'][name]['ST'])} ± {fmt(sobol['factors'][name]['ST_conf'])}, "
                 f"S1 {fmt(sobol['factors'][name]['S1'])} ± {fmt(sobol['factors'][name]['S1_conf'])}"
                 for name in sobol["ranking_by_ST"][:TOP]]  # fmt: skip
        return "largest total Sobol indices: " + "; ".join(parts)
    if "morris" in entry:
        morris = entry["morris"]
        factors = morris["factors"]
        parts = [
            f"{name} μ* {fmt(factors[name]['mu_star'], unit)} ± {fmt(factors[name]['mu_star_conf'], unit)}, "
            f"σ {fmt(factors[name]['sigma'], unit)}"
            for name in morris["ranking_by_mu_star"][:TOP]
        ]
        return "largest Morris μ* (per factor range): " + "; ".join(parts)
    if "grid" in entry:
        return grid_line(entry["grid"], unit)
    pd = entry["partial_dependence"]
    parts = [
        f"{name} {fmt(pd['factors'][name]['range_of_binned_means'], unit)}" for name in pd["ranking_by_range"][:TOP]
    ]
    return "largest range of binned means (partial dependence): " + "; ".join(parts)


def grid_line(grid: dict, unit: str) -> str:
    names = grid["factors"]
    cells = []
    if len(names) == 1:
        cells = [((level,), mean) for level, mean in zip(grid["levels"][names[0]], grid["mean"], strict=True)]
    else:
        for i, a in enumerate(grid["levels"][names[0]]):
            for j, b in enumerate(grid["levels"][names[1]]):
                cells.append(((a, b), grid["mean"][i][j]))
    cells = [cell for cell in cells if cell[1] is not None]
    averaged = ", ".join(grid["averaged_over"]) if grid["averaged_over"] else "nothing: no other factors"
    if not cells:
        return f"grid over {' × '.join(names)}: no cell has a value"
    low, high = min(cells, key=lambda c: c[1]), max(cells, key=lambda c: c[1])
    if low[1] == high[1]:
        return f"grid over {' × '.join(names)} (averaged over {averaged}): {fmt(low[1], unit)} in every cell"

    def at(cell):
        return ", ".join(f"{name} = {value:g}" for name, value in zip(names, cell[0], strict=True))

    return (f"grid over {' × '.join(names)} (averaged over {averaged}): from {fmt(low[1], unit)} at {at(low)} "
            f"to {fmt(high[1], unit)} at {at(high)}")  # fmt: skip


def discovery_lines(entry: dict, unit: str, key: str) -> list[str]:
    found = entry["discovery"]
    if found["status"] == "no_threshold":
        return ["scenario discovery skipped: the outcome is a level, not a paired effect, and no --threshold was "
                f"given (in {unit or 'the stored unit'})"]  # fmt: skip
    sign = "≥" if found["side"] == "above" else "≤"
    what = f"{short(key)} {sign} {fmt(found['threshold'], unit)}"
    counts = found["counts"]
    share = found["share_of_points"]
    percent = fmt(100 * share if share is not None else None)
    where = (f"{what} at {found['cases']:,} of {found['points']:,} points ({percent}%; "
             f"{counts['above']:,} above, {counts['below']:,} below, {counts['at']:,} at the threshold)")  # fmt: skip
    status = found["status"]
    if status == "no_points":
        return ["scenario discovery: no point has a value"]
    if status in ("none_of_interest", "all_of_interest"):
        return [f"scenario discovery: {where}: no region to find"]
    if status == "no_box":
        return [f"scenario discovery: {where}: PRIM found no box with density ≥ {found['density_threshold']:g} "
                f"and significant restrictions (quasi-p < {found['quasi_p_max']:g})"]  # fmt: skip
    lines = [f"scenario discovery: {where}"]
    for number, box in enumerate(found["boxes"], start=1):
        ranges = ", ".join(f"{name} in [{low:.3g}, {high:.3g}]" for name, (low, high) in box["limits"].items())
        lines.append(f"  box {number}: {ranges} (coverage {box['coverage']:.2f}, density {box['density']:.2f}, "
                     f"{box['points']:,} points)")  # fmt: skip
    return lines
