"""Results store: tidy Parquet plus a JSON manifest (parameters, seeds, version, git revision)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

TRAJECTORY_COLUMNS = ("scenario", "replicate", "month", "group", "metric", "value")


def git_revision() -> dict[str, object]:
    """Commit and dirty flag of the working tree the package runs from, if any."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def package_version() -> str:
    try:
        return version("scsim")
    except PackageNotFoundError:
        return "unknown"


def manifest(results) -> dict[str, object]:
    """Everything needed to reproduce a run."""
    params = results.scenario.params()
    return {
        "scenario": results.scenario.name,
        "description": results.scenario.description,
        "n": results.n,
        "months": results.months,
        "replications": results.replications,
        "seed": results.seed,
        "replicate_seeds": [{"entropy": results.seed, "spawn_key": [r]} for r in range(results.replications)],
        "approval_parameter_draws": results.draw_parameters,
        "parameters": {
            "levers_at_t0": asdict(params.levers),
            "dynamics": asdict(params.dynamics),
            "channels": asdict(params.channels),
            "scores": asdict(params.scores),
            "changes": [{"month": m, **c} for m, c in results.scenario.schedule()],
        },
        "package_version": package_version(),
        "git": git_revision(),
        **results.extra,
    }


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary file beside ``path`` and rename it into place (nothing half-written)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_results(results, out: Path) -> None:
    """Write ``trajectory.parquet``, ``manifest.json`` and ``trajectory.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    frame = results.frame[list(TRAJECTORY_COLUMNS)]
    atomic_write(out / "trajectory.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
    text = json.dumps(manifest(results), indent=1, default=float) + "\n"
    atomic_write(out / "manifest.json", lambda tmp: tmp.write_text(text))
    fig = results.plot()
    atomic_write(out / "trajectory.png", lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def read_trajectory(path: Path) -> pd.DataFrame:
    """Read a stored trajectory back."""
    return pd.read_parquet(path)
