"""The computations of ``scsim analyze``: Sobol and Morris indices (SALib), grid tables, partial dependence, PRIM.

Every function takes the point values of one outcome (the mean over a point's
replicates, in the unit the analysis reports) and returns plain numbers
(dicts, lists, floats; ``None`` where a number is undefined) for
``analysis.json``. No function here writes a file or draws a figure.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings

import numpy as np
import pandas as pd

BOOTSTRAP_SEED = 2019  # SALib treats a seed of 0 as "no seed", so the bootstrap uses a fixed non-zero one
NUM_RESAMPLES = 100
CONF_LEVEL = 0.95
PRIM_DENSITY = 0.8  # the density a PRIM box must reach (ema-workbench's threshold)
PRIM_MASS_MIN = 0.05
PRIM_MAX_BOXES = 3
PRIM_QP = 0.05  # a restriction whose quasi-p value (Bryant & Lempert 2010) is not below this is dropped
PD_BINS = 10


def number(value: object) -> float | None:
    """A float for JSON, ``None`` for NaN or infinity."""
    value = float(value)
    return value if math.isfinite(value) else None


def sobol_indices(problem: dict, y: np.ndarray) -> dict[str, object]:
    """First-order and total Sobol indices with their 95% bootstrap half-widths, per factor."""
    from SALib.analyze import sobol

    if np.ptp(y) == 0:
        return {"defined": False, "reason": "constant", "constant_value": number(y[0])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        si = sobol.analyze(problem, np.asarray(y, dtype=float), calc_second_order=False,
                           num_resamples=NUM_RESAMPLES, conf_level=CONF_LEVEL, seed=BOOTSTRAP_SEED)  # fmt: skip
    factors = {
        name: {key: number(si[key][j]) for key in ("S1", "S1_conf", "ST", "ST_conf")}
        for j, name in enumerate(problem["names"])
    }
    ranking = sorted(factors, key=lambda name: -(factors[name]["ST"] or 0.0))
    return {"defined": True, "factors": factors, "ranking_by_ST": ranking}


def morris_indices(problem: dict, units: np.ndarray, y: np.ndarray, levels: int) -> dict[str, object]:
    """μ*, its 95% bootstrap half-width, μ and σ of the elementary effects, per factor (unit per factor range)."""
    from SALib.analyze import morris

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        si = morris.analyze(problem, X=np.asarray(units, dtype=float), Y=np.asarray(y, dtype=float),
                            num_resamples=NUM_RESAMPLES, conf_level=CONF_LEVEL, num_levels=levels,
                            seed=BOOTSTRAP_SEED)  # fmt: skip
    factors = {
        name: {key: number(si[key][j]) for key in ("mu_star", "mu_star_conf", "mu", "sigma")}
        for j, name in enumerate(problem["names"])
    }
    ranking = sorted(factors, key=lambda name: -(factors[name]["mu_star"] or 0.0))
    return {"defined": True, "factors": factors, "ranking_by_mu_star": ranking}


def grid_table(x: pd.DataFrame, y: pd.Series, rows: str, columns: str | None) -> dict[str, object]:
    """The mean outcome per level of one factor, or per pair of levels of two, averaging every other factor."""
    data = x.assign(_y=y.to_numpy())
    averaged = [name for name in x.columns if name not in (rows, columns)]
    if columns is None:
        means = data.groupby(rows)["_y"].agg(["mean", "count"])
        return {
            "factors": [rows],
            "averaged_over": averaged,
            "levels": {rows: [number(v) for v in means.index]},
            "mean": [number(v) for v in means["mean"]],
            "points": [int(v) for v in means["count"]],
        }
    table = data.pivot_table(index=rows, columns=columns, values="_y", aggfunc="mean", dropna=False)
    counts = data.pivot_table(index=rows, columns=columns, values="_y", aggfunc="count", dropna=False)
    return {
        "factors": [rows, columns],
        "averaged_over": averaged,
        "levels": {rows: [number(v) for v in table.index], columns: [number(v) for v in table.columns]},
        "mean": [[number(v) for v in row] for row in table.to_numpy()],  # rows: first factor's levels
        "points": [[int(v) for v in row] for row in counts.fillna(0).to_numpy()],
    }


def partial_dependence(x: pd.DataFrame, y: pd.Series) -> dict[str, object]:
    """Binned means of the outcome against each factor (the other factors vary over the sample).

    A factor with at most ``PD_BINS`` distinct values has a bin per value; any other, ``PD_BINS`` bins of
    (about) equal counts.
    """
    out = {}
    outcome = y.to_numpy(dtype=float)
    for name in x.columns:
        values = x[name].to_numpy(dtype=float)
        distinct = np.unique(values)
        if len(distinct) <= PD_BINS:
            codes, bounds = np.searchsorted(distinct, values), [(v, v) for v in distinct]
        else:
            edges = np.unique(np.quantile(values, np.linspace(0, 1, PD_BINS + 1)))
            codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
            bounds = list(itertools.pairwise(edges))
        rows = []
        for code, (low, high) in enumerate(bounds):
            inside = codes == code
            if inside.any():
                rows.append({"low": number(low), "high": number(high), "x_mean": number(values[inside].mean()),
                             "mean": number(outcome[inside].mean()), "n": int(inside.sum())})  # fmt: skip
        means = [row["mean"] for row in rows if row["mean"] is not None]
        out[name] = {"bins": rows, "range_of_binned_means": number(max(means) - min(means)) if means else None}
    ranking = sorted(out, key=lambda name: -(out[name]["range_of_binned_means"] or 0.0))
    return {"factors": out, "ranking_by_range": ranking}


def _prim_class():
    """ema-workbench's Prim, imported without its import-time warnings (ipyparallel) or log output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis.prim import Prim
    logging.getLogger("EMA").setLevel(logging.WARNING)
    return Prim


def cases_of_interest(y: np.ndarray, threshold: float, side: str | None, tolerance: float) -> dict[str, object]:
    """The cases of interest: at or above the threshold (``side="above"``), or at or below it.

    By default, the side away from where most points lie strictly: with most effects negative, the cases of
    interest are the effects at or above 0 (where a shift fails to lower the outcome). Values within
    ``tolerance`` of the threshold count as on it.
    """
    above, below = y > threshold + tolerance, y < threshold - tolerance
    if side is None:
        side = "below" if above.sum() > below.sum() else "above"
    chosen = ~below if side == "above" else ~above
    return {
        "side": side,
        "mask": chosen,
        "counts": {"above": int(above.sum()), "below": int(below.sum()), "at": int(len(y) - above.sum() - below.sum())},
    }


def prim_boxes(x: pd.DataFrame, interest: np.ndarray) -> dict[str, object]:
    """PRIM boxes around the cases of interest, each as factor ranges with coverage, density and mass.

    On each box's peeling trajectory, the box kept is the one with the highest harmonic mean of coverage and
    density among those that restrict at least one factor and reach ``PRIM_DENSITY``; then every restriction
    whose quasi-p value is not below ``PRIM_QP`` is dropped, the least significant first (coverage and density
    are those of the final box). Boxes are sought until none is left that restricts a factor and still reaches
    the density, or ``PRIM_MAX_BOXES`` are found.
    """
    prim_cls = _prim_class()
    x = x.reset_index(drop=True)
    boxes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prim = prim_cls(x, interest.astype(int), threshold=PRIM_DENSITY, mass_min=PRIM_MASS_MIN)
        for _ in range(PRIM_MAX_BOXES):
            box = prim.find_box()
            if box is None:
                break
            trajectory = box.peeling_trajectory.reset_index(drop=True)
            eligible = trajectory[(trajectory["res_dim"] > 0) & (trajectory["density"] >= PRIM_DENSITY)]
            if eligible.empty:
                break
            f1 = 2 * eligible["coverage"] * eligible["density"] / (eligible["coverage"] + eligible["density"])
            chosen = int(f1.idxmax())
            box.select(chosen)
            current, dropped = _drop_weak_restrictions(box, chosen)
            if current is None or box.peeling_trajectory["density"].iloc[current] < PRIM_DENSITY:
                break
            described = _describe_box(box.box_lims[current], prim.box_init, box.peeling_trajectory.iloc[current])
            boxes.append(described | {"quasi_p": _quasi_p(box.qp[current]), "dropped_restrictions": dropped})
    return {"density_threshold": PRIM_DENSITY, "mass_min": PRIM_MASS_MIN, "quasi_p_max": PRIM_QP, "boxes": boxes}


def _quasi_p(qp: dict) -> dict[str, float | None]:
    """The smaller quasi-p value of each restricted factor (-1 marks an unrestricted side in ema-workbench)."""
    return {name: number(min((p for p in values if p >= 0), default=math.nan)) for name, values in qp.items()}


def _drop_weak_restrictions(box, index: int) -> tuple[int | None, list[str]]:
    """Drop the least significant restriction while any has a quasi-p value of at least ``PRIM_QP``.

    Returns the trajectory index of the final box (None if no restriction survives) and the dropped factors.
    """
    dropped = []
    while True:
        qp = {name: p for name, p in _quasi_p(box.qp[index]).items() if p is not None}
        if not qp:
            return None, dropped
        weakest = max(qp, key=qp.get)
        if qp[weakest] < PRIM_QP:
            return index, dropped
        box.drop_restriction(weakest, i=index)
        dropped.append(weakest)
        index = len(box.box_lims) - 1


def _describe_box(limits: pd.DataFrame, initial: pd.DataFrame, stats: pd.Series) -> dict[str, object]:
    ranges = {}
    for name in limits.columns:
        low, high = limits[name].iloc[0], limits[name].iloc[1]
        if low != initial[name].iloc[0] or high != initial[name].iloc[1]:
            ranges[name] = [number(low), number(high)]
    return {
        "limits": ranges,
        "coverage": number(stats["coverage"]),
        "density": number(stats["density"]),
        "mass": number(stats["mass"]),
        "points": int(stats["n"]),
        "cases": int(stats["k"]),
    }


def discover(x: pd.DataFrame, y: np.ndarray, threshold: float, side: str | None, tolerance: float) -> dict:
    """Scenario discovery: PRIM boxes where the outcome lies beyond the threshold, or why there are none."""
    chosen = cases_of_interest(y, threshold, side, tolerance)
    interest = chosen.pop("mask")
    result = {**chosen, "points": len(y), "cases": int(interest.sum()),
              "share_of_points": number(interest.mean()) if len(y) else None}  # fmt: skip
    if len(y) == 0:
        return result | {"status": "no_points", "boxes": []}
    if not interest.any() or interest.all():
        return result | {"status": "none_of_interest" if not interest.any() else "all_of_interest", "boxes": []}
    found = prim_boxes(x, interest)
    return result | {"status": "boxes" if found["boxes"] else "no_box", **found}
