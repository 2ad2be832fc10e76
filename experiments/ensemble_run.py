"""Build a calibration ensemble (``scsim calibrate --ensemble K --out DIR``): resumable, on any sweep backend.

Each member is fitted and checked by a worker (``calibration.ensemble``,
``calibration.ensemble_checks``) and written by this process, atomically: its
files go to a hidden staging directory that is renamed to ``member_KK`` only
when complete. A killed run therefore leaves whole members or nothing, and the
next run with the same settings skips every member already written. Members
depend only on (root seed, index, settings), so the finished ensemble is the
same whether it ran at once or in pieces, serially or on a cluster.

``DIR/ensemble.json`` holds the settings (a run with other settings is refused),
``DIR/manifest.json`` every member finished so far, accepted or not, and
``DIR/log.jsonl`` one line per member stored (the test of resumption reads it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from calibration.ensemble import GAP_SCALE, STRUCTURES, MemberSpec, fit_member, member_specs
from calibration.ensemble_checks import ACCEPTANCE_RULE, RTOL, check_member
from calibration.ensemble_files import FIT_FILE, MANIFEST_FILE, member_dir
from calibration.joint import JointParams
from calibration.parameter_files import JOINT_FILE, POPULATION_FILE, params_path
from calibration.population import GeneratorParams
from experiments.backends import make_backend
from experiments.outputs import OutputError, locked_directory
from experiments.store import atomic_write

SHIPPED = "cross_loaded"  # the structure of the single shipped calibration
SETTINGS_FILE = "ensemble.json"
LOG_FILE = "log.jsonl"
TIMING_FILE = "timing.json"
STAGING_PREFIX = ".staging-member_"


@dataclass(frozen=True)
class EnsembleSettings:
    """Everything a member depends on besides its index (a resumed run must match)."""

    root_seed: int = 20180405
    n: int = 40_000
    iterations: int = 16
    reference_n: int = 1_000_000
    check_n: int = 200_000
    refit_n: int = 50_000
    rtol: float = RTOL
    gap_scale: float = GAP_SCALE
    start: str = ""  # sha256 of the warm start's two parameter files

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def start_fingerprint() -> str:
    """sha256 of the warm start (the loaded generator and joint files)."""
    digest = hashlib.sha256()
    for name in (POPULATION_FILE, JOINT_FILE):
        digest.update(params_path(name).read_bytes())
    return digest.hexdigest()


def build_member(task: tuple[MemberSpec, EnsembleSettings, str]) -> dict[str, object]:
    """Fit and check one member (runs in a worker); returns the contents of its files."""
    spec, settings, start_dir = task
    started = time.perf_counter()
    generator = GeneratorParams.load(Path(start_dir) / POPULATION_FILE)
    joint = JointParams.load(Path(start_dir) / JOINT_FILE)
    fit = fit_member(
        spec, generator, joint, settings.n, settings.iterations, settings.reference_n,
        rtol=settings.rtol, gap_scale=settings.gap_scale,
    )  # fmt: skip
    checks = check_member(fit.generator, fit.joint, fit.record, settings.check_n, settings.refit_n)
    runtime = fit.record.pop("runtime_seconds")
    fit.generator.meta.pop("runtime_seconds", None)
    fit.joint.meta.pop("runtime_seconds", None)
    return {
        "index": spec.index,
        "generator": fit.generator,
        "joint": fit.joint,
        "fit": {**fit.record, "checks": checks, "accepted": checks["accepted"], "reasons": checks["reasons"]},
        "timing": {"fit_seconds": runtime, "total_seconds": round(time.perf_counter() - started, 1)},
    }


class EnsembleStore:
    """The ensemble's directory, locked while open."""

    def __init__(self, out: str, settings: EnsembleSettings, field: str = "--out") -> None:
        self.root, self.lock = locked_directory(out, field)
        try:
            self._claim(settings, out, field)
            for entry in self.root.iterdir():
                if entry.name.startswith(STAGING_PREFIX):  # left by a killed run; the lock says no one owns it
                    shutil.rmtree(entry, ignore_errors=True)
        except BaseException:
            self.lock.release()
            raise

    def _claim(self, settings: EnsembleSettings, shown: str, field: str) -> None:
        path = self.root / SETTINGS_FILE
        wanted = {"version": "ensemble_v1", **settings.as_dict()}
        if path.exists():
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError):
                stored = None
            if stored != wanted:
                raise OutputError(
                    f"{field}: {shown} holds an ensemble built with other settings (seed, N, iterations, "
                    "check sizes or warm start); resume only with the same ones, or choose another directory"
                )
            return
        if any(not e.name.startswith((".", STAGING_PREFIX)) for e in self.root.iterdir()):
            raise OutputError(f"{field}: {shown} is not empty and holds no ensemble; choose another directory")
        text = json.dumps(wanted, indent=1) + "\n"
        atomic_write(path, lambda tmp: tmp.write_text(text))

    def done(self) -> set[int]:
        return {
            int(entry.name.split("_")[1])
            for entry in self.root.glob("member_*")
            if entry.is_dir() and (entry / FIT_FILE).exists()
        }

    def write_member(self, result: dict[str, object]) -> None:
        """Store one member: staged, then renamed into place in one step."""
        index = int(result["index"])
        staging = self.root / f"{STAGING_PREFIX}{index:02d}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        result["generator"].save(staging / POPULATION_FILE)
        result["joint"].save(staging / JOINT_FILE)
        (staging / TIMING_FILE).write_text(json.dumps(result["timing"], indent=1) + "\n")
        # fit.json last: a member directory is complete exactly when it has one.
        (staging / FIT_FILE).write_text(json.dumps(result["fit"], indent=1, default=float) + "\n")
        for entry in staging.iterdir():
            with open(entry, "rb") as handle:
                os.fsync(handle.fileno())
        os.rename(staging, member_dir(index, self.root))
        with open(self.root / LOG_FILE, "a") as log:
            log.write(json.dumps({"event": "stored", "member": index, "pid": os.getpid()}) + "\n")

    def write_manifest(self, k: int, settings: EnsembleSettings) -> dict[str, object]:
        members = []
        for index in sorted(self.done()):
            fit = json.loads((member_dir(index, self.root) / FIT_FILE).read_text())
            checks = fit["checks"]
            members.append({
                "index": index, "accepted": fit["accepted"], "reasons": fit["reasons"],
                "structure": fit["spec"]["structure"], "point_targets": fit["spec"]["point_targets"],
                "seed": fit["spec"]["seed"], "cost": fit["cost"], "initial_cost": fit["initial_cost"],
                "converged": fit["converged"], "iterations": fit["iterations"],
                "n_free_parameters": fit["n_free_parameters"], "n_free_generator": fit["n_free_generator"],
                "n_free_joint": fit["n_free_joint"], "n_residuals": fit["n_residuals"],
                "n_table4_targets": fit["n_table4_targets"],
                "within_1se": checks["refits"]["within_1se"], "within_2se": checks["refits"]["within_2se"],
                "unit_se": checks["refits"]["unit_se"],
                "within_1se_own_targets": checks["refits_against_own_targets"]["within_1se"],
                "a4_max_gap": checks["a4_max_gap"], "approval_max_gap_pp": checks["approval_max_gap_pp"],
                "qualitative_met": checks["qualitative_met"], "qualitative_total": checks["qualitative_total"],
            })  # fmt: skip
        manifest = {
            "version": "ensemble_v1",
            "settings": settings.as_dict(),
            "k": k,
            "complete": len(members) >= k,
            "structures": STRUCTURES,
            "acceptance_rule": ACCEPTANCE_RULE,
            "members": members,
        }
        text = json.dumps(manifest, indent=1, default=float) + "\n"
        atomic_write(self.root / MANIFEST_FILE, lambda tmp: tmp.write_text(text))
        return manifest

    def close(self) -> None:
        self.lock.release()


def open_store(out: str, settings: EnsembleSettings | None) -> tuple[EnsembleSettings, EnsembleStore]:
    """The settings completed with the warm start's fingerprint, and the store in ``out`` opened with them."""
    settings = EnsembleSettings(**{**(settings or EnsembleSettings()).as_dict(), "start": start_fingerprint()})
    return settings, EnsembleStore(out, settings)


def run_ensemble(
    k: int,
    out: str,
    settings: EnsembleSettings | None = None,
    backend: str = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Build (or finish) the first ``k`` members of the ensemble in ``out``; returns the manifest."""
    settings, store = open_store(out, settings)
    try:
        specs = member_specs(k, settings.root_seed)
        todo = [spec for spec in specs if spec.index not in store.done()]
        if todo:
            runner = make_backend(backend, workers, scheduler)
            try:
                # Point-target members first: each bootstrap member starts from the one of its structure.
                # Then the shipped structure's members before the others, so that a build stopped early
                # has most members of the structure the single calibration uses. Members depend only on
                # (root seed, index), so the order changes when a member is ready, never what it is.
                bootstrap = sorted(
                    (s for s in todo if not s.point_targets), key=lambda s: (s.structure != SHIPPED, s.index)
                )
                phases = [[s for s in todo if s.point_targets], bootstrap]
                for phase in phases:
                    tasks = [(spec, settings, str(start_directory(spec, specs, store.root))) for spec in phase]
                    _run_phase(runner, tasks, store, k, settings, progress)
            finally:
                runner.close()
        return store.write_manifest(k, settings)
    finally:
        store.close()


def start_directory(spec: MemberSpec, specs: list[MemberSpec], root: Path) -> Path:
    """Where a member's warm start is read: the loaded calibration, or its structure's point-target member.

    The loaded calibration has the shipped structure; for a bootstrap member the
    nearest solution of its own structure is the point-target member's.
    """
    if spec.point_targets:
        return params_path(POPULATION_FILE).parent
    base = next(s for s in specs if s.point_targets and s.structure == spec.structure)
    return member_dir(base.index, root)


def _run_phase(runner, tasks: list, store: EnsembleStore, k: int, settings: EnsembleSettings, progress: bool) -> None:
    for _, result in runner.run(build_member, tasks):
        store.write_member(result)
        manifest = store.write_manifest(k, settings)
        if progress:
            fit = result["fit"]
            verdict = "accepted" if fit["accepted"] else "rejected: " + "; ".join(fit["reasons"])
            print(
                f"member {result['index']:2d} ({fit['spec']['structure']}): cost {fit['cost']:.1f}, "
                f"{verdict} [{len(manifest['members'])}/{k}]",
                flush=True,
            )


def recheck_member(task: tuple[str, int, EnsembleSettings]) -> dict[str, object]:
    """The acceptance checks of a stored member, run again under the current rule (its fit is kept)."""
    root, index, settings = task
    directory = member_dir(index, Path(root))
    fit = json.loads((directory / FIT_FILE).read_text())
    generator = GeneratorParams.load(directory / POPULATION_FILE)
    joint = JointParams.load(directory / JOINT_FILE)
    checks = check_member(generator, joint, fit, settings.check_n, settings.refit_n)
    return {
        "index": index,
        "fit": {**fit, "checks": checks, "accepted": checks["accepted"], "reasons": checks["reasons"]},
    }


def recheck_ensemble(
    k: int,
    out: str,
    settings: EnsembleSettings | None = None,
    backend: str = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
) -> dict[str, object]:
    """Re-run the acceptance checks of every stored member (after the rule changed); fits are not recomputed."""
    settings, store = open_store(out, settings)
    try:
        runner = make_backend(backend, workers, scheduler)
        try:
            tasks = [(str(store.root), index, settings) for index in sorted(store.done())]
            for _, result in runner.run(recheck_member, tasks):
                text = json.dumps(result["fit"], indent=1, default=float) + "\n"
                atomic_write(member_dir(result["index"], store.root) / FIT_FILE, lambda tmp, t=text: tmp.write_text(t))
                with open(store.root / LOG_FILE, "a") as log:
                    log.write(json.dumps({"event": "rechecked", "member": result["index"], "pid": os.getpid()}) + "\n")
        finally:
            runner.close()
        return store.write_manifest(k, settings)
    finally:
        store.close()
