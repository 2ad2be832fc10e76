"""``scsim analyze``: sensitivity analysis and scenario discovery on a finished sweep.

Reads ``DIR/manifest.json`` and ``DIR/results.parquet`` and writes
``DIR/analysis.json`` and figures into ``DIR/analysis/`` (each file
atomically). The value of a design point is the mean over its replicates of
one outcome at one month (default: every outcome of the sweep, at its
horizon). By design:

* ``sobol``: first-order and total indices (SALib) with 95% bootstrap intervals;
* ``morris``: μ*, its 95% bootstrap interval, and σ of the elementary effects;
* ``grid``: the mean outcome over two factors (or one), averaging any others;
* ``lhs``: partial dependence, binned means of the outcome against each factor;
* every design: scenario discovery with PRIM (ema-workbench), the factor
  ranges where the outcome lies beyond a threshold (by default 0 for a paired
  effect; ``--threshold`` for levels, otherwise skipped).

Values are reported in percent for shares (percentage points for a paired
effect) and as stored otherwise; ``--threshold`` is in the same unit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import analysis_methods as methods
from experiments.outputs import DirectoryLock
from experiments.store import atomic_write, git_revision, package_version
from experiments.sweep_store import MANIFEST, RESULTS
from sim.errors import UserError

ANALYSIS_FILE = "analysis.json"
FIGURE_DIR = "analysis"
MORRIS_LEVELS = 4
TOLERANCE = 1e-9  # in stored units: closer to the threshold than this counts as on it (float noise of a difference)


class AnalysisError(UserError):
    """A sweep directory that cannot be analysed, or an analysis option that does not fit it (one line)."""


def outcome_info(key: str, manifest: dict) -> dict[str, object]:
    """Label, unit and scale (reported = stored × scale) of one outcome key such as ``all|share_approve``."""
    from experiments.plots import LABELS

    group, _, metric = key.partition("|")
    paired = bool(manifest.get("paired_effect"))
    share = metric.startswith("share")
    unit = ("pp" if paired else "%") if share else ("points (1–5)" if metric == "mean_approval" else "")
    label = LABELS.get(metric, metric) + ("" if group == "all" else f", {group}")
    if paired:
        file = manifest["sweep"]["file"]
        label = f"paired effect {file['effect']['shift']} − {file['scenario']} on {label}"
    return {"key": key, "label": label, "unit": unit, "scale": 100.0 if share else 1.0}


def rerun_command(manifest: dict, shown: str) -> str:
    file = manifest.get("sweep", {}).get("file", {})
    source = Path(str(manifest.get("source", "")))
    name = source.stem if source.parent.name == "sweeps" and source.parent.parent.name == "experiments" else source
    return (f"scsim sweep {name} --out {shown} --n {file.get('n')} --months {file.get('months')} "
            f"--replications {file.get('replications')}")  # fmt: skip


def read_manifest(root: Path, shown: str) -> dict:
    path = root / MANIFEST
    if not path.is_file():
        raise AnalysisError(f"DIR: {shown} holds no sweep (no {MANIFEST}); give the --out directory of scsim sweep")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise AnalysisError(f"DIR: {shown}/{MANIFEST} cannot be read ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "scsim-sweep":
        raise AnalysisError(f"DIR: {shown}/{MANIFEST} is not a sweep's manifest (written by another scsim command?)")
    return manifest


def select_outcomes(manifest: dict, names: list[str] | None) -> list[str]:
    allowed = list(manifest["outcomes"])
    if not names:
        return allowed
    chosen = []
    for name in names:
        key = name if "|" in name else f"all|{name}"
        if key not in allowed:
            shown = ", ".join(k.removeprefix("all|") for k in allowed)
            raise AnalysisError(f"--outcome: {name!r} is not an outcome of this sweep; allowed: {shown}")
        if key not in chosen:
            chosen.append(key)
    return chosen


def read_results(root: Path, shown: str, manifest: dict, outcomes: list[str], month: int) -> pd.DataFrame:
    path = root / RESULTS
    unfinished = f"re-run the same command to finish it: {rerun_command(manifest, shown)}"
    if not path.is_file():
        raise AnalysisError(f"DIR: the sweep in {shown} has not finished (no {RESULTS}); {unfinished}")
    try:
        frame = pd.read_parquet(path, filters=[("month", "==", month)])
    except Exception as err:  # pyarrow raises several kinds for a damaged file
        raise AnalysisError(f"DIR: {shown}/{RESULTS} cannot be read ({type(err).__name__}); {unfinished}") from None
    if frame["run"].nunique() != manifest["runs"]:
        raise AnalysisError(f"DIR: {shown}/{RESULTS} holds {frame['run'].nunique():,} of {manifest['runs']:,} runs "
                            f"at month {month}; {unfinished}")  # fmt: skip
    return frame[frame["outcome"].isin(outcomes)]


def factor_frame(manifest: dict) -> pd.DataFrame:
    """The factor values of every design point, in point order (integers stay integers, for PRIM)."""
    names = [factor["name"] for factor in manifest["factors"]]
    x = pd.DataFrame(manifest["design"]["values"], columns=names)
    for factor in manifest["factors"]:
        x[factor["name"]] = x[factor["name"]].astype("int64" if factor["type"] == "int" else "float64")
    return x


def run_status(frame: pd.DataFrame) -> dict[str, object]:
    runs = frame.drop_duplicates("run")
    failed = runs[runs["status"] != "ok"]
    reasons = failed["status"].value_counts()
    return {
        "runs": len(runs),
        "not_ok": len(failed),
        "points_affected": int(failed["point"].nunique()),
        "reasons": [{"status": str(status), "runs": int(count)} for status, count in reasons.items()],
    }


def point_values(frame: pd.DataFrame, key: str, points: int, scale: float) -> tuple[pd.Series, int]:
    """Mean over each point's replicates (NaN replicates left out; NaN if none has a value) and the NaN count."""
    rows = frame[frame["outcome"] == key]
    values = rows.groupby("point")["value"].mean().reindex(range(points)) * scale
    return values, int(rows["value"].isna().sum())


def analyze(directory: str, outcomes: list[str] | None = None, month: int | None = None,
            threshold: float | None = None, factors: list[str] | None = None, side: str | None = None,
            out_dir: str | None = None) -> dict:  # fmt: skip
    """Analyse a finished sweep, write ``analysis.json`` and the figures; returns what it wrote to the JSON."""
    root = Path(directory)
    if not root.is_dir():
        raise AnalysisError(f"DIR: {directory} is not a directory; give the --out directory of scsim sweep")
    target = Path(out_dir) if out_dir else root
    field = "--out-dir" if out_dir else "DIR"
    if target.exists() and not target.is_dir():
        raise AnalysisError(f"{field}: {target} exists and is not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AnalysisError(f"{field}: cannot create {target}: {err.strerror or err}") from None
    lock = DirectoryLock.acquire(target.resolve(), str(target), field)
    try:
        manifest = read_manifest(root, directory)
        result, figures = compute(root, directory, manifest, outcomes, month, threshold, factors, side)
        try:
            write(target, result, figures)
        except OSError as err:
            raise AnalysisError(f"{field}: cannot write into {target}: {err.strerror or err}") from None
    finally:
        lock.release()
    return result


def check_options(manifest: dict, month: int | None, threshold: float | None, factors: list[str] | None) -> int:
    horizon = int(manifest["sweep"]["file"]["months"])
    month = horizon if month is None else month
    if not 0 <= month <= horizon:
        raise AnalysisError(f"--month: must be in 0..{horizon} (the sweep's horizon), got {month}")
    if threshold is not None and not math.isfinite(threshold):
        raise AnalysisError(f"--threshold: must be a finite number, got {threshold}")
    names = [factor["name"] for factor in manifest["factors"]]
    if factors:
        kind = manifest["design"]["kind"]
        if kind != "grid":
            raise AnalysisError(f"--factors: applies to a grid sweep; this sweep's design is {kind}")
        if len(names) < 2:
            raise AnalysisError(f"--factors: the grid has one factor ({names[0]}); it is analysed along it")
        for name in factors:
            if name not in names:
                raise AnalysisError(f"--factors: {name!r} is not a factor of this sweep; allowed: {', '.join(names)}")
        if len(set(factors)) != len(factors):
            raise AnalysisError(f"--factors: give two different factors, got {' '.join(factors)}")
    return month


def compute(root: Path, shown: str, manifest: dict, names: list[str] | None, month: int | None,
            threshold: float | None, factors: list[str] | None, side: str | None) -> tuple[dict, dict]:  # fmt: skip
    from experiments import analysis_plots as plots

    keys = select_outcomes(manifest, names)
    month = check_options(manifest, month, threshold, factors)
    frame = read_results(root, shown, manifest, keys, month)
    design = manifest["design"]
    kind, points, paired = design["kind"], int(design["points"]), bool(manifest.get("paired_effect"))
    file = manifest["sweep"]["file"]
    status = run_status(frame)
    x = factor_frame(manifest)
    if threshold is None and paired:
        threshold, source = 0.0, "default for a paired effect (where the effect changes sign)"
    else:
        source = "--threshold" if threshold is not None else None
    result = {
        "kind": "scsim-sweep-analysis",
        "sweep_name": manifest.get("sweep_name"),
        "directory": str(root.resolve()),
        "design": kind,
        "points": points,
        "replications": int(file["replications"]),
        "month": month,
        "horizon": int(file["months"]),
        "paired_effect": paired,
        "effect": {"shift": file["effect"]["shift"], "baseline": file["scenario"]} if paired else None,
        "threshold": {"value": threshold, "source": source, "side": side or ("default" if source else None)},
        "runs": status,
        "factors": manifest["factors"],
        "settings": {"bootstrap_seed": methods.BOOTSTRAP_SEED, "num_resamples": methods.NUM_RESAMPLES,
                     "conf_level": methods.CONF_LEVEL, "prim_density_threshold": methods.PRIM_DENSITY,
                     "prim_mass_min": methods.PRIM_MASS_MIN,
                     "prim_quasi_p_max": methods.PRIM_QP, "prim_max_boxes": methods.PRIM_MAX_BOXES},
        "outcomes": {},
    }  # fmt: skip
    figures: dict[str, object] = {}
    for key in keys:
        info = outcome_info(key, manifest)
        values, nan_runs = point_values(frame, key, points, info["scale"])
        missing = values.isna().to_numpy()
        if kind in ("sobol", "morris") and missing.any():
            raise AnalysisError(refusal(kind, key, int(missing.sum()), points, status, month))
        entry = {**info, "points_with_value": int((~missing).sum()), "points_dropped": int(missing.sum()),
                 "replicate_values_missing": nan_runs}  # fmt: skip
        y, xs = values[~missing], x[~missing]
        entry["summary"] = {stat: methods.number(getattr(y, stat)()) if len(y) else None
                            for stat in ("mean", "min", "max", "std")}  # fmt: skip
        title = f"{info['label']}, month {month}" + (f", in {info['unit']}" if info["unit"] else "")
        slug = "".join(c if c.isalnum() or c == "_" else "_" for c in key.removeprefix("all|"))
        if kind == "sobol":
            entry["sobol"] = methods.sobol_indices(design["problem"], y.to_numpy())
            if entry["sobol"]["defined"]:
                figures[f"sobol_{slug}.png"] = (plots.plot_sobol, entry["sobol"], title)
        elif kind == "morris":
            levels = int(file.get("levels") or MORRIS_LEVELS)
            entry["morris"] = methods.morris_indices(
                design["problem"], np.asarray(design["units"]), y.to_numpy(), levels
            )
            kinds = {f["name"]: f["kind"] for f in manifest["factors"]}
            figures[f"morris_scatter_{slug}.png"] = (plots.plot_morris_scatter, entry["morris"], title, info, kinds)
            figures[f"morris_ranking_{slug}.png"] = (plots.plot_morris_ranking, entry["morris"], title, info, kinds)
        elif kind == "grid":
            pair = factors or list(x.columns[:2])
            table = methods.grid_table(xs, y, pair[0], pair[1] if len(pair) > 1 else None)
            entry["grid"] = table
            name = f"grid_{slug}.png" if len(pair) > 1 else f"grid_line_{slug}.png"
            figures[name] = (plots.plot_grid, table, title, info, paired)
        else:
            entry["partial_dependence"] = methods.partial_dependence(xs, y)
            figures[f"pd_{slug}.png"] = (plots.plot_partial_dependence, entry["partial_dependence"], xs, y, title, info)
        if threshold is None:
            entry["discovery"] = {"status": "no_threshold"}
        else:
            tolerance = TOLERANCE * info["scale"]
            entry["discovery"] = {
                "threshold": threshold,
                **methods.discover(xs, y.to_numpy(), threshold, side, tolerance),
            }
        result["outcomes"][key] = entry
    result["figures"] = [f"{FIGURE_DIR}/{name}" for name in figures]
    from experiments.analysis_summary import summary_lines

    result["summary"] = summary_lines(result)
    result["package_version"], result["git"] = package_version(), git_revision()
    return result, figures


def refusal(kind: str, key: str, missing: int, points: int, status: dict, month: int) -> str:
    """The one-line refusal of a Sobol or Morris analysis with points that have no value."""
    if status["not_ok"]:
        first = status["reasons"][0]["status"]
        first = first if len(first) <= 160 else first[:157] + "..."
        why = f"{status['not_ok']:,} runs could not start, e.g. {first!r}"
        fix = "narrow the factor ranges in the sweep file to values that can start and re-run the sweep"
    else:
        why = f"the outcome is NaN at month {month} (a group with nobody in it?)"
        fix = "choose another --outcome or --month"
    return (f"{kind}: {missing:,} of {points:,} design points have no value of {key.removeprefix('all|')} "
            f"and the {kind} analysis needs every point ({why}); {fix}")  # fmt: skip


def write(target: Path, result: dict, figures: dict) -> None:
    """Figures first, then ``analysis.json``; figures an earlier analysis listed and this one did not are removed."""
    import matplotlib.pyplot as plt

    folder = target / FIGURE_DIR
    folder.mkdir(exist_ok=True)
    for name, (plot, *args) in figures.items():
        fig = plot(*args)
        try:
            atomic_write(folder / name, lambda tmp, fig=fig: fig.savefig(tmp, dpi=110, format="png"))
        finally:
            plt.close(fig)
    path = target / ANALYSIS_FILE
    try:
        old = json.loads(path.read_text()).get("figures", []) if path.is_file() else []
    except (OSError, ValueError, AttributeError):
        old = []
    text = json.dumps(result, indent=1, allow_nan=False) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))
    for name in old if isinstance(old, list) else ():
        stale = target / str(name)
        if str(name) not in result["figures"] and stale.parent == folder and stale.suffix == ".png" and stale.is_file():
            stale.unlink()
