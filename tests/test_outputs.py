"""Outputs are replaced whole or not at all: checks, lock, staging, swap, kills, Ctrl-C, worker pools."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_helpers import descendants as children
from process_helpers import gone, wait_until

import experiments.outputs as outputs
from experiments.cli import INTERRUPTED, main
from experiments.outputs import MARKER, output_directory
from experiments.store import atomic_write_all, git_revision
from sim.errors import UserError

SCSIM = [sys.executable, "-m", "experiments.cli"]
SMALL_RUN = ["--n", "300", "--months", "3", "--replications", "1"]


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry of a directory by name: a file's bytes (the marker included), None for anything else."""
    return {path.name: path.read_bytes() if path.is_file() else None for path in sorted(directory.iterdir())}


def leftovers(out: Path) -> list[str]:
    """Staging, old-set and lock files of ``out`` beside it."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def fake_set(out: Path, text: str = "old") -> dict[str, bytes | None]:
    """A small output set as scsim marks it (cheaper than a run where the content does not matter)."""
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"text": text}))
    (out / MARKER).write_text(json.dumps({"scsim_output": "run", "files": ["manifest.json"]}))
    return snapshot(out)


def one_error_line(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def no_work(monkeypatch):
    """Make every command's expensive part fail the test if it is reached."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the expensive part ran before --out was checked")

    import calibration.joint_report
    import calibration.report
    import experiments.forecast
    import experiments.simulation

    monkeypatch.setattr(experiments.simulation.Simulation, "run", forbidden)
    monkeypatch.setattr(experiments.forecast, "run_forecast", forbidden)
    monkeypatch.setattr(calibration.report, "write_report", forbidden)
    monkeypatch.setattr(calibration.joint_report, "write_joint_report", forbidden)


# --- checks on entry -------------------------------------------------------------------------------------


def _bad_outs(tmp_path: Path) -> dict[str, str]:
    regular = tmp_path / "file.txt"
    regular.write_text("x")
    return {"empty": "", "proc": "/proc/scsim-x", "file": str(regular), "under_file": str(regular / "out")}


@pytest.mark.parametrize("kind", ["empty", "proc", "file", "under_file"])
@pytest.mark.parametrize(
    "command",
    [["run", "baseline", *SMALL_RUN], ["forecast"], ["report"], ["calibrate"]],
    ids=["run", "forecast", "report", "calibrate"],
)
def test_bad_out_fails_fast_with_one_line(tmp_path, capsys, no_work, kind, command):
    out = _bad_outs(tmp_path)[kind]
    field = "--report" if command[0] == "calibrate" else "--out"
    start = time.monotonic()
    assert main([*command, field, out]) == 2
    assert time.monotonic() - start < 2
    one_error_line(capsys, field)


def test_population_out_must_not_be_empty_or_unwritable(capsys):
    for out in ("", "/proc/scsim-x.parquet"):
        assert main(["population", "--n", "10", "--out", out]) == 2
        one_error_line(capsys, "--out")


def test_foreign_directory_is_refused_and_untouched(tmp_path, capsys, no_work):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("do not lose me")
    (mine / "data").mkdir()
    before = snapshot(mine)
    assert main(["run", "baseline", "--out", str(mine), *SMALL_RUN]) == 2
    one_error_line(capsys, "--out", "did not write")
    assert snapshot(mine) == before and before["data"] is None
    assert leftovers(mine) == []


def test_scsim_set_with_a_user_file_is_refused(tmp_path, capsys, no_work):
    out = tmp_path / "out"
    fake_set(out)
    (out / "my_notes.md").write_text("mine")
    before = snapshot(out)
    assert main(["run", "baseline", "--out", str(out), *SMALL_RUN]) == 2
    one_error_line(capsys, "--out", "my_notes.md")
    assert snapshot(out) == before


def test_legacy_and_empty_directories_are_replaced(tmp_path):
    legacy, empty = tmp_path / "legacy", tmp_path / "empty"
    legacy.mkdir()
    (legacy / "manifest.json").write_text("{}")
    (legacy / "trajectory.png").write_bytes(b"png")
    empty.mkdir()
    for out in (legacy, empty):
        with output_directory(str(out)) as staging:
            (staging / "forecast.json").write_text("new")
        assert snapshot(out).keys() == {"forecast.json", MARKER}
        assert leftovers(out) == []


# --- lock, staging, swap --------------------------------------------------------------------------------


def test_lock_refuses_a_second_writer(tmp_path, capsys, no_work):
    out = tmp_path / "out"
    before = fake_set(out)
    with output_directory(str(out)):
        assert main(["run", "baseline", "--out", str(out), *SMALL_RUN]) == 2
        one_error_line(capsys, "--out", "another scsim process", f"pid {os.getpid()}")
        assert snapshot(out) == before
    with output_directory(str(out)) as staging:  # released, and its lock file removed
        (staging / "manifest.json").write_text("new")
    assert leftovers(out) == []


def test_stale_staging_directories_are_removed(tmp_path):
    out = tmp_path / "out"
    fake_set(out)
    for name in (f".{out.name}.scsim-new-0123abcd", f".{out.name}.scsim-old-89abcdef"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "trajectory.parquet").write_text("half written")
    (tmp_path / ".out-other.scsim-new-0123abcd").mkdir()  # another directory's: not ours to remove
    with output_directory(str(out)) as staging:
        assert leftovers(out) == [f".{out.name}.lock", staging.name]
        (staging / "manifest.json").write_text("new")
    assert leftovers(out) == []
    assert (tmp_path / ".out-other.scsim-new-0123abcd").is_dir()


def test_old_set_is_restored_after_a_kill_between_the_fallback_renames(tmp_path):
    out = tmp_path / "out"
    before = fake_set(out)
    out.rename(tmp_path / f".{out.name}.scsim-old-0123abcd")  # as if killed between the two renames
    with pytest.raises(RuntimeError), output_directory(str(out)):
        raise RuntimeError("this run fails")
    assert snapshot(out) == before and leftovers(out) == []


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_swap_replaces_the_whole_set(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(outputs, "_renameat2", lambda *args: None)
    out = tmp_path / "deeper" / "out"
    for files in ({"a.json": "1", "b.json": "2"}, {"b.json": "3"}, {"c.json": "4"}):
        with output_directory(str(out)) as staging:
            assert staging.parent == out.parent and snapshot(staging) == {}
            for name, text in files.items():
                (staging / name).write_text(text)
        expected = {name: text.encode() for name, text in files.items()}
        assert {k: v for k, v in snapshot(out).items() if k != MARKER} == expected
        assert json.loads((out / MARKER).read_text())["files"] == sorted(files)
        assert leftovers(out) == []


def test_a_symlinked_out_stays_a_link(tmp_path):
    real, link = tmp_path / "real" / "out", tmp_path / "link"
    fake_set(real)
    link.symlink_to(real)
    with output_directory(str(link)) as staging:
        assert staging.parent == real.parent
        (staging / "manifest.json").write_text("new")
    assert link.is_symlink() and (real / "manifest.json").read_text() == "new"


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_inside_leaves_out_untouched(tmp_path, error):
    out = tmp_path / "out"
    before = fake_set(out)
    with pytest.raises(error), output_directory(str(out)) as staging:
        (staging / "manifest.json").write_text("half of a new set")
        raise error()
    assert snapshot(out) == before and leftovers(out) == []
    missing = tmp_path / "new" / "parents" / "out"
    with pytest.raises(error), output_directory(str(missing)):
        raise error()
    assert not (tmp_path / "new").exists()  # the parents it created are gone again


def test_failed_run_keeps_the_existing_set(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "baseline", "--out", str(out), "--seed", "4", *SMALL_RUN]) == 0
    before = snapshot(out)
    assert {"trajectory.parquet", "manifest.json", "trajectory.png", MARKER} == before.keys()
    assert f"wrote {out}/trajectory.parquet" in capsys.readouterr().out  # the final path, not the staging one
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[levers]\nblacklist_rate = 7\n')
    assert main(["run", str(bad), "--out", str(out), *SMALL_RUN]) == 2
    one_error_line(capsys, "blacklist_rate")
    assert snapshot(out) == before and leftovers(out) == []


def test_ctrl_c_in_process_keeps_the_set_even_when_python_wraps_it(tmp_path, capsys, monkeypatch):
    import experiments.simulation

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    def wrapped(*args, **kwargs):
        try:
            interrupted()
        except KeyboardInterrupt as err:  # what Python does to Ctrl-C that lands in a class body
            raise RuntimeError("Error calling __set_name__") from err

    out = tmp_path / "out"
    before = fake_set(out)
    for interrupt in (interrupted, wrapped):
        monkeypatch.setattr(experiments.simulation.Simulation, "run", interrupt)
        assert main(["run", "baseline", "--out", str(out), *SMALL_RUN]) == 130
        assert one_error_line(capsys) == f"scsim: {INTERRUPTED}"
        assert snapshot(out) == before and leftovers(out) == []


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_files_replaced_together_stay_as_they_were_when_one_write_fails(tmp_path, failure):
    first, second = tmp_path / "population_v2.json", tmp_path / "joint_v1.json"
    first.write_text("old generator")
    second.write_text("old joint")

    def fails(path):
        Path(path).write_text("half")
        raise failure

    with pytest.raises(type(failure)):
        atomic_write_all([(first, lambda p: Path(p).write_text("new generator")), (second, fails)])
    assert (first.read_text(), second.read_text()) == ("old generator", "old joint")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joint_v1.json", "population_v2.json"]
    atomic_write_all(
        [(first, lambda p: Path(p).write_text("new generator")), (second, lambda p: Path(p).write_text("new joint"))]
    )
    assert (first.read_text(), second.read_text()) == ("new generator", "new joint")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joint_v1.json", "population_v2.json"]


def test_output_directory_rejects_an_empty_path():
    with pytest.raises(UserError, match="--out"), output_directory(""):
        pass


# --- git revision ---------------------------------------------------------------------------------------


def test_git_revision_leaves_the_index_alone(tmp_path):
    def git(*args, cwd=tmp_path):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        command = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args]
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    tracked = tmp_path / "tracked.txt"
    tracked.write_text("one")
    git("add", "tracked.txt")
    git("commit", "-q", "-m", "one")
    index = tmp_path / ".git" / "index"

    def index_state():
        return index.read_bytes(), index.stat().st_mtime_ns

    # Stale stat data, same content: a plain `git status` refreshes the index and rewrites it.
    stamp = time.time() + 5
    os.utime(tracked, (stamp, stamp))
    before = index_state()
    assert git_revision(tmp_path) == {"commit": git("rev-parse", "HEAD").strip(), "dirty": False}
    assert index_state() == before and not (tmp_path / ".git" / "index.lock").exists()
    git("status", "--porcelain")
    assert index_state() != before  # so the check above would have seen a rewrite

    tracked.write_text("two")
    before = index_state()
    assert git_revision(tmp_path)["dirty"] is True
    assert index_state() == before and not (tmp_path / ".git" / "index.lock").exists()

    inside = tmp_path / "installed" / "package_root"
    inside.mkdir(parents=True)
    assert git_revision(inside) == {"commit": "unknown", "dirty": None}  # not the enclosing repository's


# --- signals (subprocesses) -----------------------------------------------------------------------------


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")


def test_sigkill_at_random_points_leaves_the_old_or_the_new_set(tmp_path):
    out = tmp_path / "runs" / "out"

    def command(seed: int) -> list[str]:
        return [*SCSIM, "run", "baseline", "--out", str(out), "--seed", str(seed), *SMALL_RUN]

    start = time.monotonic()
    subprocess.run(command(1), capture_output=True, check=True)
    duration = time.monotonic() - start
    old = snapshot(out)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    # Kills anywhere in a run, and more in its last 30% (writing and swapping) and just after. Most of a run
    # is Python importing its modules; the output directory is entered about halfway through.
    delays = [rng.uniform(0, duration) for _ in range(6)] + [rng.uniform(0.7, 1.05) * duration for _ in range(4)]
    states = []
    for delay in delays:
        process = subprocess.Popen(command(2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.kill()
        process.wait()
        state = snapshot(out)
        states.append((delay, state))
        if state != old:  # the new set arrived: put the old one back for the next kill
            shutil.rmtree(out)
            out.mkdir()
            for name, data in old.items():
                (out / name).write_bytes(data)
    # The seed-2 reference: a run that completes (and must clear what the killed runs left).
    subprocess.run(command(2), capture_output=True, check=True)
    new = snapshot(out)
    assert new != old and new.keys() == old.keys()
    for delay, state in states:
        assert state in (old, new), f"a mix after a kill at {delay:.3f}s of {duration:.3f}s (random seed {seed})"
    assert leftovers(out) == [], f"random seed {seed}"


def stderr_lines(text: str, bar: str) -> list[str]:
    """Lines of stderr other than progress-bar updates (tqdm redraws with carriage returns)."""
    return [line for line in text.replace("\r", "\n").splitlines() if line.strip() and not line.startswith(bar)]


@pytest.fixture
def sigint_as_in_a_terminal():
    """Children start with SIGINT at its default and unblocked, as a shell gives them.

    A child inherits an ignored SIGINT and the signal mask from this process; a library that left either
    behind in the test process would make the child deaf to Ctrl-C, which is not what these tests are about.
    """
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, handler)


@pytest.mark.usefixtures("sigint_as_in_a_terminal")
def test_ctrl_c_during_a_run_prints_one_line_and_keeps_out(tmp_path):
    out = tmp_path / "out"
    before = fake_set(out)
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            # Long enough (about 20 s) that the signal cannot arrive after the run has finished on a fast machine.
            [*SCSIM, "run", "baseline", "--out", str(out), "--n", "20000", "--months", "240", "--replications", "4"],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
        try:
            assert wait_until(lambda: "baseline:" in errors.read_text(), timeout=20), errors.read_text()
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 130, errors.read_text()
        finally:
            process.kill()
    text = errors.read_text()
    assert "Traceback" not in text
    assert stderr_lines(text, "baseline:") == [f"scsim: {INTERRUPTED}"], text
    assert snapshot(out) == before and leftovers(out) == []


def start_forecast(out: Path, stderr) -> tuple[subprocess.Popen, set[int]]:
    """A forecast in its own process group, once its worker processes run (about 30 s of runs remain)."""
    process = subprocess.Popen(
        [*SCSIM, "forecast", "--out", str(out), "--n", "3000", "--months", "13", "--replications", "40",
         "--calibration", "shipped", "--prior-draws", "0", "--morris-trajectories", "0"],
        stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
    )  # fmt: skip

    def workers() -> set[int]:
        return {pid for pid in children(process.pid) if b"resource_tracker" not in _cmdline(pid)}

    assert wait_until(lambda: len(workers()) >= 2, timeout=30, step=0.05)
    time.sleep(0.5)  # let them take their first calls
    return process, children(process.pid)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


forecast_with_workers = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="forecast uses workers with 2+ CPUs")


@needs_proc
@forecast_with_workers
def test_workers_end_when_the_forecast_is_killed(tmp_path):
    process, workers = start_forecast(tmp_path / "out", subprocess.DEVNULL)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert wait_until(lambda: all(gone(pid) for pid in workers), timeout=5), [p for p in workers if not gone(p)]


@needs_proc
@forecast_with_workers
@pytest.mark.usefixtures("sigint_as_in_a_terminal")
def test_ctrl_c_during_a_forecast_stops_it_and_its_workers(tmp_path):
    out = tmp_path / "out"
    before = fake_set(out)
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        process, workers = start_forecast(out, stderr)
        try:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            assert process.wait(timeout=10) == 130, errors.read_text()
        finally:
            process.kill()
    assert wait_until(lambda: all(gone(pid) for pid in workers), timeout=5)
    text = errors.read_text()
    assert "Traceback" not in text and "Error" not in text, text
    assert stderr_lines(text, "forecast:") == [f"scsim: {INTERRUPTED}"], text
    assert snapshot(out) == before and leftovers(out) == []
