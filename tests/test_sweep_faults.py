"""Acceptance tests of sweeps under faults: the sweep process killed at random points and resumed, a real Dask
cluster (scheduler and workers as separate processes), and a Dask worker killed mid-sweep.

Every process a test starts runs in its own session and is killed by process group when the test ends, pass
or fail; the tests then check that none of them (nor any of their children) is left.
"""

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from process_helpers import descendants, gone, wait_until

from experiments.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCSIM = [sys.executable, "-m", "experiments.cli"]
DASK = str(Path(sys.executable).with_name("dask"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc"),
]

# 24 points × 2 replications = 48 runs, a few seconds of runs on 2 workers after about 2 s of start-up:
# long enough that kills at a random number of stored runs land mid-sweep.
KILL_SWEEP = """\
name = "killed"
design = "grid"
months = 36
n = 2000
replications = 2
seed = 5
outcomes = ["share_approve", "share_blacklisted", "urban=1|mean_approval"]

[levers]
blacklist_rate = { min = 0.0, max = 0.2, levels = 6 }
benefit_generosity = { min = 0.5, max = 2.0, levels = 4 }
"""
KILL_RUNS, KILL_MONTHS, KILL_OUTCOMES = 48, 36, 3

# 16 × 15 = 240 tiny runs (about 35 ms each), in 8 batches on 2 Dask workers.
DASK_SWEEP = """\
name = "on_dask"
design = "grid"
months = 3
n = 300
replications = 1
seed = 9
outcomes = ["share_approve", "mean_approval"]

[levers]
blacklist_rate = { min = 0.0, max = 0.2, levels = 16 }
benefit_generosity = { min = 0.5, max = 2.0, levels = 15 }
"""
DASK_RUNS, DASK_MONTHS, DASK_OUTCOMES = 240, 3, 2


# --- processes ---------------------------------------------------------------------------------------------


def in_group(pgid: int) -> set[int]:
    """Live processes of a process group (a test's processes all start a session and group of their own)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                    pids.add(int(entry))
    return pids


class Processes:
    """Processes started by a test, each in a session of its own; ``stop`` kills every group and checks."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []
        self.seen: set[int] = set()

    def start(self, command: list[str], log: Path, **kwargs) -> subprocess.Popen:
        with log.open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        self.started.append(process)
        return process

    def note(self, process: subprocess.Popen) -> set[int]:
        """Remember the process and its descendants (to check later that none survives)."""
        pids = {process.pid, *descendants(process.pid)}
        self.seen |= pids
        return pids

    def stop(self) -> list[int]:
        for process in self.started:
            if process.poll() is None:
                self.note(process)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        wait_until(lambda: all(gone(pid) for pid in self.seen), timeout=10, step=0.05)
        groups = set().union(*(in_group(p.pid) for p in self.started)) if self.started else set()
        return sorted({pid for pid in self.seen if not gone(pid)} | groups)


def run_to_end(processes: Processes, command: list[str], log: Path, timeout: float = 180) -> tuple[int, str]:
    """Run a command to its end (killed by the fixture if the test fails first); its exit status and output."""
    process = processes.start(command, log, cwd=ROOT)
    code = process.wait(timeout=timeout)
    return code, log.read_text()


@pytest.fixture
def processes():
    tracker = Processes()
    try:
        yield tracker
    finally:
        survivors = tracker.stop()
    assert survivors == [], f"processes outlived the test: {survivors}"


# --- results -----------------------------------------------------------------------------------------------


def check_complete(path: Path, runs: int, months: int, outcomes: int) -> pd.DataFrame:
    """Every run index exactly once per month × outcome, and nothing else."""
    frame = pd.read_parquet(path)
    assert len(frame) == runs * (months + 1) * outcomes
    counts = frame.groupby(["month", "outcome"])["run"].agg(["count", "nunique", "min", "max"])
    assert len(counts) == (months + 1) * outcomes
    assert (counts["count"] == runs).all() and (counts["nunique"] == runs).all(), counts
    assert (counts["min"] == 0).all() and (counts["max"] == runs - 1).all(), counts
    assert (frame["status"] == "ok").all() and frame["value"].notna().all()
    return frame


def temporaries(out: Path) -> list[str]:
    """Files a killed writer may leave (atomic_write's ``.NAME.XXXX.tmp``), anywhere under ``out``."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith("."))


def run_files(out: Path) -> list[Path]:
    runs = out / "runs"
    return sorted(p for p in runs.iterdir() if p.name.startswith("run-")) if runs.is_dir() else []


# --- SIGKILL of the sweep process ----------------------------------------------------------------------------


def test_sweep_killed_at_random_points_resumes_to_the_uninterrupted_results(tmp_path, processes):
    sweep = tmp_path / "killed.toml"
    sweep.write_text(KILL_SWEEP)
    reference, out = tmp_path / "reference", tmp_path / "out"

    def command(target: Path) -> list[str]:
        return [*SCSIM, "sweep", str(sweep), "--out", str(target), "--backend", "processes", "--workers", "2"]

    # The uninterrupted reference, watched: when its first run is stored (the start-up before it is mostly
    # imports, the manifest and the worker pool) and when it ends.
    start = time.monotonic()
    reference_run = processes.start(command(reference), tmp_path / "reference.log", cwd=ROOT)
    first_run = None
    while reference_run.poll() is None:
        if first_run is None and run_files(reference):
            first_run = time.monotonic() - start
        time.sleep(0.005)
    duration = time.monotonic() - start
    assert reference_run.returncode == 0, (tmp_path / "reference.log").read_text()
    expected = (reference / "results.parquet").read_bytes()
    check_complete(reference / "results.parquet", KILL_RUNS, KILL_MONTHS, KILL_OUTCOMES)

    seed = random.randrange(2**32)
    rng = random.Random(seed)
    about = f"(random seed {seed}; uninterrupted: first run stored at {first_run or 0:.2f} s, done at {duration:.2f} s)"
    # Two kills at random times before the first run is stored (start-up, manifest, pool), then each when a
    # random number of runs is stored, the last once all are (the consolidation), with a random delay on top.
    plan = [("time", rng.uniform(0, first_run or duration / 2)) for _ in range(2)]
    # Runs are stored a batch (6 runs) at a time, so targets in the last batches would only land at the end.
    plan += [("runs", k) for k in sorted(rng.sample(range(1, KILL_RUNS - 12), 3))] + [("runs", KILL_RUNS)]
    stored: dict[str, bytes] = {}
    killed_mid_sweep = 0
    for kind, at in plan:
        process = processes.start(command(out), tmp_path / "killed.log", cwd=ROOT)
        if kind == "time":
            deadline = time.monotonic() + at
            # Before the first run is stored, as planned: under load the start-up of this process can be
            # faster than the reference's was, and a late kill would find the sweep finished.
            while time.monotonic() < deadline and process.poll() is None and not run_files(out):
                processes.note(process)
                time.sleep(0.02)
        else:
            while process.poll() is None and len(run_files(out)) < at:
                processes.note(process)
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.15))
        workers = processes.note(process) - {process.pid}
        print(f"kill at {kind} {at:.2f}: {len(run_files(out))} runs stored, {len(workers)} workers")
        process.kill()  # SIGKILL of the sweep process alone: its workers must end with it
        process.wait()
        assert wait_until(lambda w=workers: all(gone(pid) for pid in w), timeout=10), f"workers outlived it {about}"
        files = run_files(out)
        killed_mid_sweep += 0 < len(files) < KILL_RUNS
        # Every stored run is complete, and none stored before is lost or changed.
        for path in files:
            frame = pd.read_parquet(path)
            assert len(frame) == (KILL_MONTHS + 1) * KILL_OUTCOMES, f"{path.name} {about}"
            assert set(frame["run"]) == {int(path.stem.split("-")[1])}, about
        now = {path.name: path.read_bytes() for path in files}
        assert all(now.get(name) == data for name, data in stored.items()), f"a stored run was lost {about}"
        stored = now
    assert killed_mid_sweep >= 2, f"only {killed_mid_sweep} kills landed mid-sweep {about}"

    code, text = run_to_end(processes, command(out), tmp_path / "finished.log")
    assert code == 0, text
    assert (out / "results.parquet").read_bytes() == expected, f"resumed results differ {about}"
    check_complete(out / "results.parquet", KILL_RUNS, KILL_MONTHS, KILL_OUTCOMES)
    assert len(run_files(out)) == KILL_RUNS
    assert temporaries(out) == [], about
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "results.parquet", "runs"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # the lock file is gone too


# --- a real Dask cluster -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory) -> bytes:
    """The Dask sweep's results.parquet, run serially in this process."""
    directory = tmp_path_factory.mktemp("serial")
    sweep = directory / "on_dask.toml"
    sweep.write_text(DASK_SWEEP)
    assert main(["sweep", str(sweep), "--out", str(directory / "out"), "--backend", "serial"]) == 0
    check_complete(directory / "out" / "results.parquet", DASK_RUNS, DASK_MONTHS, DASK_OUTCOMES)
    return (directory / "out" / "results.parquet").read_bytes()


def start_cluster(tmp_path: Path, processes: Processes, workers: int = 2) -> tuple[str, list[subprocess.Popen]]:
    """A ``dask scheduler`` and ``workers`` × ``dask worker --nworkers 1 --nthreads 1`` on 127.0.0.1."""
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The timeouts are a safety net only: the fixture kills the processes.
    scheduler = processes.start(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file), "--idle-timeout", "600s"],
        tmp_path / "scheduler.log", cwd=ROOT, env=env,
    )  # fmt: skip

    def address() -> str | None:
        with contextlib.suppress(OSError, ValueError):
            return json.loads(scheduler_file.read_text())["address"]
        return None

    assert wait_until(lambda: address() is not None or scheduler.poll() is not None, timeout=60, step=0.05)
    assert scheduler.poll() is None, (tmp_path / "scheduler.log").read_text()
    where = address()
    assert where.startswith("tcp://127.0.0.1:")
    started = []
    for i in range(workers):
        command = [DASK, "worker", where, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
                   "--no-dashboard", "--name", f"worker-{i}", "--death-timeout", "60s",
                   "--local-directory", str(tmp_path / f"dask-{i}")]  # fmt: skip
        started.append(processes.start(command, tmp_path / f"worker-{i}.log", cwd=ROOT, env=env))
    from distributed import Client

    with Client(where, timeout="30s") as client:
        client.wait_for_workers(workers, timeout=60)
    for process in [scheduler, *started]:
        processes.note(process)
    return where, started


def cpu_seconds(process: subprocess.Popen) -> float:
    """CPU time used so far by a process and its descendants (a dask worker's nanny and its worker process)."""
    total = 0.0
    for pid in {process.pid, *descendants(process.pid)}:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def test_sweep_on_a_real_dask_cluster_equals_the_serial_run(tmp_path, processes, serial_reference):
    address, workers = start_cluster(tmp_path, processes)
    sweep, out = tmp_path / "on_dask.toml", tmp_path / "out"
    sweep.write_text(DASK_SWEEP)
    before = [cpu_seconds(worker) for worker in workers]
    command = [*SCSIM, "sweep", str(sweep), "--out", str(out), "--backend", "dask", "--scheduler", address]
    code, text = run_to_end(processes, command, tmp_path / "sweep.log")
    assert code == 0, text
    assert f"ran {DASK_RUNS} runs" in text
    assert (out / "results.parquet").read_bytes() == serial_reference
    check_complete(out / "results.parquet", DASK_RUNS, DASK_MONTHS, DASK_OUTCOMES)
    # The runs went to the cluster's two workers (about 8 s of CPU in all), not to processes of the sweep's own.
    used = [cpu_seconds(worker) - start for worker, start in zip(workers, before, strict=True)]
    assert all(seconds > 1.0 for seconds in used), used
    assert all(worker.poll() is None for worker in workers)
    assert temporaries(out) == []


def test_a_dask_worker_killed_mid_sweep_changes_nothing(tmp_path, processes, serial_reference):
    address, workers = start_cluster(tmp_path, processes)
    sweep, out = tmp_path / "on_dask.toml", tmp_path / "out"
    sweep.write_text(DASK_SWEEP)
    log = tmp_path / "sweep.log"
    process = processes.start(
        [*SCSIM, "sweep", str(sweep), "--out", str(out), "--backend", "dask", "--scheduler", address],
        log, cwd=ROOT,
    )  # fmt: skip
    from distributed import Client

    with Client(address, timeout="30s") as client:
        names = {info["name"]: where for where, info in client.scheduler_info()["workers"].items()}
        victim_address = names["worker-0"]
        # Once the first batch is stored, kill worker-0 (its nanny and its worker process) while it computes one.
        assert wait_until(lambda: len(run_files(out)) > 0 or process.poll() is not None, timeout=120, step=0.01)
        assert wait_until(lambda: len(client.processing([victim_address])[victim_address]) > 0, timeout=10)
        victim = workers[0]
        pids = processes.note(victim)
        stored_at_kill = len(run_files(out))
        os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    assert wait_until(lambda: all(gone(pid) for pid in pids), timeout=10)
    assert 0 < stored_at_kill < DASK_RUNS // 2, f"the kill did not land mid-sweep ({stored_at_kill} runs stored)"
    assert process.wait(timeout=180) == 0, log.read_text()
    assert workers[1].poll() is None
    assert (out / "results.parquet").read_bytes() == serial_reference
    check_complete(out / "results.parquet", DASK_RUNS, DASK_MONTHS, DASK_OUTCOMES)
    assert temporaries(out) == []
