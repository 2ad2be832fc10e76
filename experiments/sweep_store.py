"""The results store of a sweep: one Parquet file per run, a manifest, and a consolidated table.

    DIR/manifest.json         the sweep, its design, the seed tree, version and git revision
    DIR/runs/run-000012.parquet   one finished run (written atomically)
    DIR/results.parquet       every run × month × outcome, with the factor values as columns
                              (and ``member``, each run's ensemble member, unless the shipped calibration ran)

Runs are written as they finish, each atomically (a temporary file renamed
into place), so a killed sweep leaves only complete run files. Running the
same sweep into the same directory again resumes: finished runs are skipped
and temporary files are removed, never read. A different sweep (other file,
scenario, design, code version) is refused, and so is a second process
writing the directory at the same time.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.outputs import OutputError, locked_directory
from experiments.store import atomic_write, git_revision, package_version
from experiments.sweep import Sweep
from experiments.sweep_design import Design

RUN_FILE = re.compile(r"run-(\d{6,})\.parquet")
MANIFEST = "manifest.json"
RESULTS = "results.parquet"
# What ``atomic_write`` leaves beside the manifest or the results when it is killed before its rename.
STALE_TEMPORARY = re.compile(rf"\.(?:{re.escape(MANIFEST)}|{re.escape(RESULTS)})\.[A-Za-z0-9_]+\.tmp")


def fingerprint(sweep: Sweep, design: Design) -> str:
    """A hash of everything that decides the runs' results."""
    data = {
        "sweep": sweep.fingerprint_data(),
        "values": design.values,
        "version": package_version(),
        "commit": git_revision().get("commit"),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class SweepStore:
    """A sweep's directory, locked for as long as the store is open."""

    def __init__(self, out: str, sweep: Sweep, design: Design, field: str = "--out") -> None:
        self.root, self.lock = locked_directory(out, field)
        self.field = field
        try:
            self.runs = self.root / "runs"
            self.key = fingerprint(sweep, design)
            self._claim(sweep, design, out)
            self.runs.mkdir(exist_ok=True)
            self._remove_partial_files()
            self._done = self._finished_runs()
        except BaseException:
            self.lock.release()
            raise

    def _claim(self, sweep: Sweep, design: Design, shown: str) -> None:
        manifest = self.root / MANIFEST
        if manifest.exists():
            try:
                stored = json.loads(manifest.read_text())
            except (OSError, ValueError):
                stored = {}
            if stored.get("fingerprint") != self.key:
                other = stored.get("sweep_name", "another sweep or version")
                raise OutputError(
                    f"{self.field}: {shown} holds the results of {other} (other settings or code version); "
                    "resume only the same sweep there, or choose another directory"
                )
            self._remove_stale_temporaries()
            return
        # A sweep killed while writing its manifest leaves only the manifest's temporary file: still ours.
        if any(not STALE_TEMPORARY.fullmatch(entry.name) for entry in self.root.iterdir()):
            raise OutputError(f"{self.field}: {shown} is not empty and holds no sweep; choose another directory")
        self._remove_stale_temporaries()
        text = json.dumps(manifest_data(sweep, design, self.key), indent=1, default=_json) + "\n"
        atomic_write(manifest, lambda tmp: tmp.write_text(text))

    def _remove_stale_temporaries(self) -> None:
        """Temporary manifests and results left by a killed sweep (the lock is held: no live writer owns them)."""
        for entry in self.root.iterdir():
            if STALE_TEMPORARY.fullmatch(entry.name) and entry.is_file():
                entry.unlink()

    def _remove_partial_files(self) -> None:
        for entry in self.runs.iterdir():
            if not RUN_FILE.fullmatch(entry.name):
                entry.unlink()

    def _finished_runs(self) -> set[int]:
        return {int(m.group(1)) for entry in self.runs.iterdir() if (m := RUN_FILE.fullmatch(entry.name))}

    def done(self) -> set[int]:
        """Indices of the runs already stored."""
        return self._done

    def write_run(self, result) -> None:
        """Store one finished run (atomically)."""
        months, outcomes = result.values.shape
        frame = pd.DataFrame(
            {
                "run": np.full(months * outcomes, result.run, dtype=np.int32),
                "month": np.repeat(np.arange(months, dtype=np.int16), outcomes),
                "outcome": np.tile(np.arange(outcomes, dtype=np.int16), months),
                "value": result.values.reshape(-1),
                "status": result.status,
            }
        )
        if result.member is not None:
            # Only runs of an ensemble member carry the column: shipped sweeps keep their schema.
            frame["member"] = np.int32(result.member)
        path = self.runs / f"run-{result.run:06d}.parquet"
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
        self._done.add(result.run)

    def consolidate(self, sweep: Sweep, design: Design) -> Path:
        """Write ``results.parquet``: every run × month × outcome with point, replicate and factor values."""
        files = sorted(self.runs.glob("run-*.parquet"))
        frame = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
        replications = sweep.file.replications
        frame["point"] = (frame["run"] // replications).astype(np.int32)
        frame["replicate"] = (frame["run"] % replications).astype(np.int32)
        frame["outcome"] = pd.Categorical.from_codes(frame["outcome"], categories=sweep.outcomes)
        factors = pd.DataFrame(design.values)
        for column in factors:
            frame[column] = factors[column].to_numpy()[frame["point"].to_numpy()]
        member = ["member"] if "member" in frame.columns else []
        order = ["run", "point", "replicate", "month", "outcome", "value", "status", *member, *factors.columns]
        frame = frame[order].sort_values(["run", "month", "outcome"], kind="stable").reset_index(drop=True)
        frame["outcome"] = frame["outcome"].astype(str)
        path = self.root / RESULTS
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
        return path

    def close(self) -> None:
        self.lock.release()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def manifest_data(sweep: Sweep, design: Design, key: str) -> dict[str, object]:
    """The manifest: the sweep as resolved, its design, the seed tree, version and git revision."""
    replications = sweep.file.replications
    scheme = "replicate" if sweep.file.seeds == "common" else "run"
    return {
        "kind": "scsim-sweep",
        "sweep_name": sweep.name,
        "fingerprint": key,
        "sweep": sweep.fingerprint_data(),
        "source": sweep.source,
        "factors": [factor.describe() for factor in sweep.factors],
        "outcomes": list(sweep.outcomes),
        "paired_effect": sweep.shift is not None,
        "change_month": sweep.change_month,
        "design": {
            "kind": design.kind,
            "problem": design.problem,
            "units": design.units.tolist(),
            "values": design.values,
            "points": design.points,
        },
        "runs": design.points * replications,
        "calibration": {
            "choice": str(sweep.calibration),
            "member_factor": sweep.member_factor is not None,
            "run_member": "the member column of results.parquet" if uses_members(sweep) else None,
        },
        "seed_tree": {
            "root": sweep.file.seed,
            "run_index": "point × replications + replicate",
            "run_seed": f"SeedSequence({sweep.file.seed}, spawn_key=({scheme},))",
            "common_random_numbers": sweep.file.seeds == "common",
        },
        "package_version": package_version(),
        "git": git_revision(),
    }


def uses_members(sweep: Sweep) -> bool:
    """Whether the runs use ensemble members (drawn or swept), so that results record each run's member."""
    return sweep.calibration.kind != "shipped" or sweep.member_factor is not None


def _json(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def read_manifest(directory: Path) -> dict[str, object]:
    return json.loads((Path(directory) / MANIFEST).read_text())
