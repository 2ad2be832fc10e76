"""Results store: tidy Parquet plus a JSON manifest (parameters, seeds, version, git revision)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TRAJECTORY_COLUMNS = ("scenario", "replicate", "month", "group", "metric", "value")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def git_revision(root: Path = PACKAGE_ROOT) -> dict[str, object]:
    """Commit and dirty flag of the checkout the package runs from, if it runs from one.

    Only a ``.git`` directly in ``root`` counts: an installed package inside some unrelated repository
    (a virtualenv in a project, say) must not record that repository. The status query takes no optional
    locks, so it neither rewrites ``.git/index`` nor leaves ``.git/index.lock`` behind in a checkout
    someone is working in.

    Args:
        root: The directory that would hold ``.git`` (the package's source root by default).

    Returns:
        ``{"commit": sha, "dirty": bool}``, or ``{"commit": "unknown", "dirty": None}`` outside a checkout.
    """
    unknown: dict[str, object] = {"commit": "unknown", "dirty": None}
    if not (root / ".git").exists():
        return unknown
    # GIT_DIR and friends from a calling hook or shell would point git at another repository.
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"

    def git(*args: str) -> str:
        command = ["git", "--no-optional-locks", *args]
        return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=True, timeout=10).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return unknown
    return {"commit": commit, "dirty": bool(status.strip())}


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
        # shipped, ensemble or member:K; and the member each replicate ran with (null: shipped).
        "calibration": str(results.calibration),
        "calibration_members": list(results.members),
        "parameters": {
            "levers_at_t0": params.levers.model_dump(),
            "dynamics": params.dynamics.model_dump(),
            "channels": params.channels.model_dump(),
            "scores": params.scores.model_dump(),
            "changes": [{"month": m, **c} for m, c in results.scenario.schedule()],
            "treatments": [t.model_dump() for t in results.scenario.treatments],
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
    atomic_write_all([(path, write)])


def atomic_write_all(writes: list[tuple[Path, Callable[[Path], None]]]) -> None:
    """Replace several files together: each is written and flushed beside its target before any is renamed.

    An error or Ctrl-C while writing leaves every target as it was; the renames
    then run back to back with Ctrl-C ignored, so a pair fitted together (the
    generator and the joint model) is never left half replaced by an interrupt.
    """
    from experiments.outputs import sigint_ignored

    staged: list[tuple[str, Path]] = []
    try:
        for path, write in writes:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            staged.append((tmp, path))
            write(Path(tmp))
            os.chmod(tmp, 0o666 & ~_umask())
            # Flushed before the rename, so a machine crash cannot leave an empty file under the final name.
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        with sigint_ignored():
            for tmp, path in staged:
                os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.remove(tmp)


def write_results(results, out: Path) -> None:
    """Write ``trajectory.parquet``, ``manifest.json`` and ``trajectory.png`` into ``out``.

    A scenario with treatments also writes ``treatments.parquet`` (treated and control means by
    replicate, treatment, subgroup and month) and ``treatments.json`` (``experiments.treatment_effects``).
    """
    # Imported here, not at the top: the command line imports this module at start-up.
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    frame = results.frame[list(TRAJECTORY_COLUMNS)]
    atomic_write(out / "trajectory.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
    text = json.dumps(manifest(results), indent=1, default=float) + "\n"
    atomic_write(out / "manifest.json", lambda tmp: tmp.write_text(text))
    fig = results.plot()
    atomic_write(out / "trajectory.png", lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    if results.treatments is not None:
        from experiments.treatment_effects import summarise

        treatments = results.treatments
        atomic_write(out / "treatments.parquet", lambda tmp: treatments.to_parquet(tmp, index=False))
        summary = json.dumps(summarise(treatments), indent=1, allow_nan=False) + "\n"
        atomic_write(out / "treatments.json", lambda tmp: tmp.write_text(summary))


def read_trajectory(path: Path) -> pd.DataFrame:
    """Read a stored trajectory back."""
    import pandas as pd

    return pd.read_parquet(path)
