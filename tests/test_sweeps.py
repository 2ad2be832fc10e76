"""Sweeps: bad files refused with one line before any run, backends agree byte for byte, resuming, designs,
paired effects, and what results.parquet and the manifest hold."""

import itertools
import json
import os
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, call

import experiments.sweep_run
from experiments.cli import main
from experiments.outputs import DirectoryLock
from experiments.sweep import load_sweep
from experiments.sweep_design import build_design
from sim.params import PolicyLevers

ROOT = Path(__file__).resolve().parents[1]

# A tiny grid: blacklist_rate (2 levels) × benefit_generosity (3 levels) = 6 points × 2 replications = 12 runs.
TINY = """\
name = "tiny"
design = "grid"
months = 4
n = 300
replications = 2
seed = 3
outcomes = ["share_approve", "urban=0|share_approve"]

[levers]
blacklist_rate = { min = 0.0, max = 0.1, levels = 2 }
benefit_generosity = { min = 0.5, max = 2.0, levels = 3 }
"""
TINY_RUNS, TINY_MONTHS, TINY_OUTCOMES = 12, 4, 2


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def sweep_cli(capsys, sweep: Path, out: Path, *extra: str, backend: str = "serial"):
    return call(capsys, "sweep", str(sweep), "--out", str(out), "--backend", backend, *extra)


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry under ``directory`` by relative path: a file's bytes, None for a directory."""
    return {
        str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None) for p in sorted(directory.rglob("*"))
    }


@pytest.fixture
def no_runs(monkeypatch):
    """Fail the test if a sweep reaches its runs."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(experiments.sweep_run, "execute", forbidden)
    monkeypatch.setattr(experiments.sweep_run, "replicate_metrics", forbidden)


# --- bad sweep files: one line, before any run --------------------------------------------------------------

HEAD = 'name = "bad"\ndesign = "grid"\nmonths = 4\nn = 300\n'
LEVER = "[levers]\nblacklist_rate = { min = 0.0, max = 0.1, levels = 2 }\n"

BAD_FILES = {
    "unknown lever": (HEAD + "[levers]\nnonsense = { min = 0.0, max = 1.0 }\n", ["levers.nonsense", "unknown lever"]),
    "unknown dynamics": (
        HEAD + '[uncertainties]\n"dynamics.nonsense" = { min = 0.0, max = 1.0 }\n',
        ['uncertainties."dynamics.nonsense"', "unknown uncertainty", "recall_months"],
    ),
    "unknown group": (
        HEAD + '[uncertainties]\n"foo.bar" = { min = 0.0, max = 1.0 }\n',
        ['uncertainties."foo.bar"', "dynamics.<name>"],
    ),
    "uncertainty without group": (
        HEAD + "[uncertainties]\nrecall_months = { min = 6, max = 12 }\n",
        ['uncertainties."recall_months"'],
    ),
    "lever as uncertainty": (
        HEAD + '[uncertainties]\n"levers.blacklist_rate" = { min = 0.0, max = 0.1 }\n',
        ['uncertainties."levers.blacklist_rate"'],
    ),
    "empty range": (HEAD + "[levers]\nblacklist_rate = { min = 0.1, max = 0.1 }\n", ["blacklist_rate", "empty range"]),
    "min above max": (HEAD + "[levers]\nblacklist_rate = { min = 0.2, max = 0.1 }\n", ["blacklist_rate", "min 0.2"]),
    "outside schema": (
        HEAD + "[levers]\nblacklist_rate = { min = 0.0, max = 2.0 }\n",
        ["levers.blacklist_rate", "between 0 and 1", "2.0"],
    ),
    "value outside schema": (
        HEAD + '[uncertainties]\n"dynamics.recall_months" = { values = [6, 1000] }\n',
        ['uncertainties."dynamics.recall_months"', "1000"],
    ),
    "non-integer value": (
        HEAD + "[levers]\nsanction_breadth = { values = [1.5] }\n",
        ["levers.sanction_breadth", "an integer", "1.5"],
    ),
    "integer written as float": (
        HEAD + "[levers]\nsanction_breadth = { values = [1.0, 2.0] }\n",
        ["levers.sanction_breadth", "an integer"],
    ),
    "non-integer bound": (
        HEAD + "[levers]\ndelisting_months = { min = 12.5, max = 36 }\n",
        ["levers.delisting_months", "an integer", "12.5"],
    ),
    "boolean for a number": (HEAD + "[levers]\nblacklist_rate = { values = [true] }\n", ["levers.blacklist_rate"]),
    "repeated values": (HEAD + "[levers]\nsanction_breadth = { values = [1, 1] }\n", ["sanction_breadth", "repeated"]),
    "empty values": (HEAD + "[levers]\nsanction_breadth = { values = [] }\n", ["sanction_breadth", "empty"]),
    "values and range": (
        HEAD + "[levers]\nsanction_breadth = { values = [1, 2], min = 1.0, max = 3.0 }\n",
        ["sanction_breadth", "not both"],
    ),
    "sobol not a power of 2": (
        'name = "bad"\ndesign = "sobol"\nsamples = 6\nmonths = 4\nn = 300\n' + LEVER.replace(", levels = 2", ""),
        ["samples", "power of 2", "6"],
    ),
    "design without samples": (
        'name = "bad"\ndesign = "lhs"\nmonths = 4\n' + LEVER.replace(", levels = 2", ""),
        ["samples"],
    ),
    "grid with samples": (HEAD + "samples = 8\n" + LEVER, ["samples", "grid"]),
    "morris odd levels": (
        'name = "bad"\ndesign = "morris"\nsamples = 4\nlevels = 3\nmonths = 4\n' + LEVER.replace(", levels = 2", ""),
        ["levels", "even", "3"],
    ),
    "lhs with per-factor levels": ('name = "bad"\ndesign = "lhs"\nsamples = 4\nmonths = 4\n' + LEVER, ["levels"]),
    "zero replications": (HEAD + "replications = 0\n" + LEVER, ["replications: must be an integer >= 1, got 0"]),
    "negative replications": (HEAD + "replications = -2\n" + LEVER, ["replications", ">= 1", "-2"]),
    "float replications": (HEAD + "replications = 2.0\n" + LEVER, ["replications", "an integer", "2.0"]),
    "zero n": ('name = "bad"\ndesign = "grid"\nn = 0\n' + LEVER, ["n: must be an integer >= 1, got 0"]),
    "negative seed": (HEAD + "seed = -1\n" + LEVER, ["seed: must be an integer >= 0, got -1"]),
    "zero samples": ('name = "bad"\ndesign = "lhs"\nsamples = 0\n' + LEVER.replace(", levels = 2", ""), ["samples"]),
    "unknown outcome": (HEAD + 'outcomes = ["share_approve", "happiness"]\n' + LEVER, ["outcomes.1", "happiness"]),
    "unknown outcome group": (HEAD + 'outcomes = ["martians=1|share_approve"]\n' + LEVER, ["outcomes.0"]),
    "no outcomes": (HEAD + "outcomes = []\n" + LEVER, ["outcomes"]),
    "no factors": (HEAD, ["at least one factor"]),
    "unknown design": ('name = "bad"\ndesign = "factorial"\nmonths = 4\n' + LEVER, ["design", "factorial"]),
    "missing design": ('name = "bad"\nmonths = 4\n' + LEVER, ["design", "missing"]),
    "unknown scenario": (HEAD + 'scenario = "utopia"\n' + LEVER, ["scenario", "utopia"]),
    "unknown shift": (HEAD + LEVER + '[effect]\nshift = "utopia"\n', ["effect.shift", "utopia"]),
    "shift after the horizon": (
        'name = "bad"\ndesign = "grid"\nmonths = 6\n' + LEVER + '[effect]\nshift = "punitive_shift"\n',
        ["12", "horizon of 6 months"],
    ),
    "change month after the horizon": (HEAD + "change_month = 5\n" + LEVER, ["change_month", "5", "horizon"]),
    "unknown key": (HEAD + "repetitions = 3\n" + LEVER, ["repetitions", "unknown key"]),
    "unknown factor key": (
        HEAD + "[levers]\nblacklist_rate = { min = 0.0, max = 0.1, step = 0.01 }\n",
        ["levers.blacklist_rate.step", "unknown key; allowed: min, max, levels, values"],
    ),
    "unknown effect key": (
        HEAD + LEVER + '[effect]\nshift = "baseline"\narms = 2\n',
        ["effect.arms", "allowed: shift"],
    ),
    "unknown section": (HEAD + LEVER + "[channels]\nawareness = false\n", ["channels", "unknown key"]),
    "bad name": ('name = "a b"\ndesign = "grid"\n' + LEVER, ["name"]),
    "string for number": (HEAD + '[levers]\nblacklist_rate = { min = "0", max = 0.1 }\n', ["blacklist_rate"]),
    "invalid toml": (HEAD + "[levers\nblacklist_rate = 1\n", ["not valid TOML"]),
    "not utf-8": (None, ["not valid TOML"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_sweep_file_is_refused_with_one_line_before_any_run(tmp_path, capsys, no_runs, case):
    text, fragments = BAD_FILES[case]
    path = tmp_path / "bad.toml"
    if text is None:
        path.write_bytes(b'name = "\xff\xfe"\n')
    else:
        path.write_text(text)
    out = tmp_path / "out"
    start = time.monotonic()
    result = sweep_cli(capsys, path, out)
    assert time.monotonic() - start < 10
    line = assert_one_line_error(result, *fragments)
    assert "None" not in line and "see the documentation" not in line, line
    assert not out.exists(), sorted(p.name for p in out.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # no lock or staging beside it either


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--months", "6"], ["12", "horizon of 6 months"]),  # the override puts the shift after the horizon
        (["--months", "601"], ["--months", "600", "601"]),  # the file's own limit holds for an override too
        (["--replications", "0"], ["--replications"]),
        (["--n", "-5"], ["--n"]),
        (["--backend", "threads"], ["--backend"]),
        (["--workers", "0"], ["--workers"]),
    ],
)
def test_bad_overrides_are_refused_with_one_line(tmp_path, capsys, no_runs, extra, fragments):
    sweep = write(tmp_path, TINY.replace("months = 4", "months = 14") + '[effect]\nshift = "punitive_shift"\n')
    out = tmp_path / "out"
    assert_one_line_error(sweep_cli(capsys, sweep, out, *extra), *fragments)
    assert not out.exists()


def test_a_scheduler_without_the_dask_backend_is_refused_before_the_directory_is_made(tmp_path, capsys, no_runs):
    out = tmp_path / "out"
    result = sweep_cli(capsys, write(tmp_path, TINY), out, "--scheduler", "tcp://127.0.0.1:1", backend="processes")
    assert_one_line_error(result, "--scheduler", "dask")
    assert not out.exists()


def test_missing_sweep_file_names_the_shipped_ones(tmp_path, capsys, no_runs):
    result = call(capsys, "sweep", "no_such_sweep", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "no_such_sweep", "sanction_x_benefit", "levers_sobol", "assumptions_morris")
    assert not (tmp_path / "out").exists()


def test_a_lever_the_shift_overrides_later_is_refused(tmp_path, capsys, no_runs):
    text = TINY.replace("months = 4", "months = 14\nchange_month = 2") + '[effect]\nshift = "punitive_shift"\n'
    result = sweep_cli(capsys, write(tmp_path, text), tmp_path / "out")
    assert_one_line_error(result, "change_month", "month 12", "override")


@pytest.mark.parametrize("name", ["sanction_x_benefit", "levers_sobol", "assumptions_morris"])
def test_shipped_sweeps_are_valid(name):
    sweep = load_sweep(name)
    design = build_design(sweep)
    assert design.points > 1 and sweep.name == name


# --- backends --------------------------------------------------------------------------------------------


def test_serial_processes_and_dask_give_byte_identical_results(tmp_path, capsys):
    sweep = write(tmp_path, TINY)
    results = {}
    for backend in ("serial", "processes", "dask"):
        out = tmp_path / backend
        result = sweep_cli(capsys, sweep, out, "--workers", "2", backend=backend)
        assert result.returncode == 0, result.stderr
        assert f"ran {TINY_RUNS} runs" in result.stdout
        results[backend] = (out / "results.parquet").read_bytes()
    assert results["processes"] == results["serial"]
    assert results["dask"] == results["serial"]
    frame = pd.read_parquet(tmp_path / "serial" / "results.parquet")
    assert frame["value"].notna().all() and (frame["status"] == "ok").all()
    # Not a degenerate comparison: the levers move the outcome, and replicates differ.
    last = frame[(frame["month"] == TINY_MONTHS) & (frame["outcome"] == "all|share_approve")]
    assert last.groupby("point")["value"].mean().nunique() > 1
    assert last.groupby("replicate")["value"].mean().nunique() == 2


# --- resuming ------------------------------------------------------------------------------------------------


def run_files(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((out / "runs").iterdir())}


def test_rerun_of_a_finished_sweep_runs_nothing_and_rewrites_the_same_results(tmp_path, capsys, monkeypatch):
    sweep, out = write(tmp_path, TINY), tmp_path / "out"
    assert sweep_cli(capsys, sweep, out).returncode == 0
    results, manifest, files = (
        (out / "results.parquet").read_bytes(),
        (out / "manifest.json").read_bytes(),
        run_files(out),
    )
    assert len(files) == TINY_RUNS
    (out / "results.parquet").unlink()  # so the re-run must write it again
    monkeypatch.setattr(experiments.sweep_run, "execute", lambda batch: pytest.fail("a finished run ran again"))
    for backend in ("serial", "processes"):
        again = sweep_cli(capsys, sweep, out, backend=backend)
        assert again.returncode == 0, again.stderr
        assert f"({TINY_RUNS} already done)" in again.stdout and "ran 0 runs" in again.stdout
        assert (out / "results.parquet").read_bytes() == results
        assert (out / "manifest.json").read_bytes() == manifest
        assert run_files(out) == files  # not rewritten


def test_resume_runs_only_the_missing_runs_and_never_reads_temporary_files(tmp_path, capsys):
    sweep, out = write(tmp_path, TINY), tmp_path / "out"
    assert sweep_cli(capsys, sweep, out).returncode == 0
    results = (out / "results.parquet").read_bytes()
    runs = out / "runs"
    for run in (0, 5, 11):
        (runs / f"run-{run:06d}.parquet").unlink()
    # What a killed sweep may leave: atomic_write's temporaries, holding garbage that would break any reader.
    (runs / ".run-000005.parquet.k2j4h5g6.tmp").write_bytes(b"half a parquet file")
    (runs / ".run-000007.parquet.abcdefgh.tmp").write_bytes(b"")
    (out / ".results.parquet.0a1b2c3d.tmp").write_bytes(b"half a results file")
    (out / "results.parquet").write_bytes(b"stale")
    result = sweep_cli(capsys, sweep, out)
    assert result.returncode == 0, result.stderr
    assert f"({TINY_RUNS - 3} already done)" in result.stdout and "ran 3 runs" in result.stdout
    assert (out / "results.parquet").read_bytes() == results
    assert sorted(p.name for p in runs.iterdir()) == [f"run-{i:06d}.parquet" for i in range(TINY_RUNS)]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "results.parquet", "runs"]


def test_a_sweep_killed_while_writing_its_manifest_can_be_rerun(tmp_path, capsys):
    sweep, out = write(tmp_path, TINY), tmp_path / "out"
    out.mkdir()
    (out / ".manifest.json.x7y8z9w0.tmp").write_text('{"half": ')  # killed before atomic_write's rename
    result = sweep_cli(capsys, sweep, out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "results.parquet", "runs"]


@pytest.mark.parametrize(
    ("change", "extra"),
    [
        (None, ["--months", "3"]),
        (None, ["--n", "301"]),
        (None, ["--replications", "1"]),
        (("seed = 3", "seed = 4"), []),
        (("levels = 3", "levels = 4"), []),
        (('design = "grid"', 'design = "grid"\nseeds = "independent"'), []),
        (("[levers]", 'scenario = "SCENARIO"\n[levers]'), []),
    ],
    ids=["months", "n", "replications", "seed", "levels", "seeds", "scenario"],
)
def test_a_different_sweep_in_the_same_directory_is_refused(tmp_path, capsys, change, extra, monkeypatch):
    sweep, out = write(tmp_path, TINY), tmp_path / "out"
    assert sweep_cli(capsys, sweep, out).returncode == 0
    before = snapshot(out)
    monkeypatch.setattr(experiments.sweep_run, "execute", lambda batch: pytest.fail("a run started"))
    # A baseline with one other assumption: the scenario's content, not only its name, decides the runs.
    scenario = write(tmp_path, 'name = "baseline"\n[dynamics]\nrecall_months = 6\n', "scenario.toml")
    other = write(tmp_path, TINY.replace(*change).replace("SCENARIO", str(scenario)), "other.toml") if change else sweep
    assert_one_line_error(sweep_cli(capsys, other, out, *extra), "--out", "tiny", "holds the results")
    assert snapshot(out) == before


def test_a_foreign_directory_is_refused_and_untouched(tmp_path, capsys, no_runs):
    sweep, out = write(tmp_path, TINY), tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "runs").mkdir()
    before = snapshot(out)
    assert_one_line_error(sweep_cli(capsys, sweep, out), "--out", "not empty", "holds no sweep")
    assert snapshot(out) == before
    regular = tmp_path / "file.txt"
    regular.write_text("x")
    assert_one_line_error(sweep_cli(capsys, sweep, regular), "--out", "not a directory")
    assert_one_line_error(sweep_cli(capsys, sweep, tmp_path / ""), "--out")  # tmp_path itself: not empty


def test_a_second_writer_is_refused(tmp_path, capsys, no_runs):
    sweep, out = write(tmp_path, TINY), tmp_path / "out"
    out.mkdir()
    lock = DirectoryLock.acquire(out.resolve(), str(out), "--out")
    try:
        result = sweep_cli(capsys, sweep, out)
        assert_one_line_error(result, "--out", "another scsim process", f"pid {os.getpid()}")
        assert snapshot(out) == {}
    finally:
        lock.release()


def test_a_running_sweep_holds_the_lock(tmp_path, capsys, monkeypatch):
    """While one sweep writes its runs, a second one on the same directory is refused (a real, running writer)."""
    sweep, out = write(tmp_path, TINY), tmp_path / "out"
    seen = []
    original = experiments.sweep_run.execute

    def execute_and_try_a_second_writer(batch):
        if not seen:
            inner = call(capsys, "sweep", str(sweep), "--out", str(out), "--backend", "serial")
            seen.append(inner)
        return original(batch)

    monkeypatch.setattr(experiments.sweep_run, "execute", execute_and_try_a_second_writer)
    assert main(["sweep", str(sweep), "--out", str(out), "--backend", "serial"]) == 0
    assert_one_line_error(seen[0], "--out", "being written by another scsim process")
    assert len(pd.read_parquet(out / "results.parquet")["run"].unique()) == TINY_RUNS


# --- designs -------------------------------------------------------------------------------------------------

DESIGN_FACTORS = """
[levers]
blacklist_rate = { min = 0.0, max = 0.2 }
sanction_breadth = { min = 1, max = 3 }
delisting_months = { values = [12, 24, 60] }
media_framing = { values = [-0.5, 0.25] }

[uncertainties]
"dynamics.recall_months" = { min = 6, max = 24 }
"scores.persistence" = { min = 0.8, max = 0.95 }
"""


def design_of(tmp_path: Path, text: str, name: str = "design.toml"):
    return build_design(load_sweep(write(tmp_path, text, name)))


def test_grid_is_the_cartesian_product_of_the_documented_levels(tmp_path):
    text = """
name = "grid"
design = "grid"
[levers]
blacklist_rate = { min = 0.0, max = 0.2 }
benefit_generosity = { min = 0.5, max = 2.0, levels = 3 }
sanction_breadth = { min = 1, max = 3 }
delisting_months = { min = 12, max = 60, levels = 3 }
media_framing = { values = [0.5, -1.0] }
[uncertainties]
"dynamics.network_degree" = { values = [4, 16] }
"""
    design = design_of(tmp_path, text)
    levels = {
        "blacklist_rate": [0.0, 0.05, 0.1, 0.15, 0.2],  # DEFAULT_GRID_LEVELS = 5 evenly spaced levels
        "benefit_generosity": [0.5, 1.25, 2.0],
        "sanction_breadth": [1, 2, 3],  # an integer factor without levels: every integer in range
        "delisting_months": [12, 36, 60],
        "media_framing": [0.5, -1.0],  # listed values, in the order given
        "dynamics.network_degree": [4, 16],
    }
    expected = [dict(zip(levels, combo, strict=True)) for combo in itertools.product(*levels.values())]
    assert design.kind == "grid" and design.points == 5 * 3 * 3 * 3 * 2 * 2
    assert len(design.values) == len(expected)
    for got, want in zip(design.values, expected, strict=True):
        assert list(got) == list(want)
        for key in want:
            assert got[key] == pytest.approx(want[key], abs=1e-12), key
            assert type(got[key]) is type(want[key]), key  # integers stay integers
    assert design.units.shape == (design.points, 6) and ((design.units >= 0) & (design.units <= 1)).all()


@pytest.mark.parametrize(
    ("design", "size"), [("lhs", "samples = 40"), ("sobol", "samples = 16"), ("morris", "samples = 6")]
)
def test_sampled_designs_respect_types_and_ranges_and_are_reproducible(tmp_path, design, size):
    text = f'name = "d"\ndesign = "{design}"\n{size}\nseed = 11\n' + DESIGN_FACTORS
    first = design_of(tmp_path, text, "a.toml")
    again = design_of(tmp_path, text, "b.toml")
    other = design_of(tmp_path, text.replace("seed = 11", "seed = 12"), "c.toml")
    factors = 6
    points = {"lhs": 40, "sobol": 16 * (factors + 2), "morris": 6 * (factors + 1)}[design]
    assert first.points == points and first.units.shape == (points, factors)
    assert np.array_equal(first.units, again.units) and first.values == again.values
    assert not np.array_equal(first.units, other.units) and first.values != other.values
    allowed = {
        "sanction_breadth": {1, 2, 3},
        "delisting_months": {12, 24, 60},
        "media_framing": {-0.5, 0.25},
        "dynamics.recall_months": set(range(6, 25)),
    }
    for values in first.values:
        assert 0.0 <= values["blacklist_rate"] <= 0.2 and type(values["blacklist_rate"]) is float
        assert 0.8 <= values["scores.persistence"] <= 0.95
        for key, choices in allowed.items():
            assert values[key] in choices, (key, values[key])
        for key in ("sanction_breadth", "delisting_months", "dynamics.recall_months"):
            assert type(values[key]) is int, (key, values[key])
    # Every choice of a discrete factor is reachable (the sampler is not stuck on one end).
    for key in ("sanction_breadth", "media_framing"):
        assert {v[key] for v in first.values} == allowed[key], key


def test_paired_effect_of_the_baseline_on_itself_is_exactly_zero(tmp_path, capsys):
    """Both arms share citizens, draws and uncertainties: a shift that changes nothing has an effect of 0."""
    defaults = PolicyLevers()
    text = f"""
name = "null_effect"
design = "grid"
months = 4
n = 300
replications = 2
change_month = 2
outcomes = ["share_approve", "mean_approval", "share_blacklisted", "urban=1|share_advantages"]
[effect]
shift = "baseline"
[levers]
blacklist_rate = {{ values = [{defaults.blacklist_rate!r}] }}
sanction_breadth = {{ values = [{defaults.sanction_breadth}] }}
[uncertainties]
"dynamics.recall_months" = {{ values = [6, 24] }}
"scores.persistence" = {{ min = 0.8, max = 0.95, levels = 2 }}
"""
    out = tmp_path / "out"
    assert sweep_cli(capsys, write(tmp_path, text), out).returncode == 0
    frame = pd.read_parquet(out / "results.parquet")
    assert len(frame) == 4 * 2 * 5 * 4 and (frame["status"] == "ok").all()
    assert (frame["value"] == 0.0).all(), frame[frame["value"] != 0]


def test_paired_effect_is_zero_before_the_shift_and_not_after(tmp_path, capsys):
    """The levers equal to the shift's own values: the arms are identical to the draw until the shift's month."""
    text = """
name = "paired"
design = "grid"
months = 14
n = 2000
replications = 2
outcomes = ["share_approve", "share_blacklisted"]
[effect]
shift = "punitive_shift"
[levers]
blacklist_rate = { values = [0.08, 0.2] }
"""
    out = tmp_path / "out"
    assert sweep_cli(capsys, write(tmp_path, text), out).returncode == 0
    frame = pd.read_parquet(out / "results.parquet")
    before, after = frame[frame["month"] < 12], frame[frame["month"] >= 12]
    assert (before["value"] == 0.0).all(), before[before["value"] != 0]
    blacklisted = after[after["outcome"] == "all|share_blacklisted"]
    assert (blacklisted["value"] > 0).all()  # the shift (fourfold blacklisting or more) does something
    # The swept lever, not the shift's own value, holds in the shifted arm: more blacklisting at 0.2.
    last = blacklisted[blacklisted["month"] == 14].set_index(["replicate", "blacklist_rate"])["value"]
    for replicate in (0, 1):
        assert last[(replicate, 0.2)] > last[(replicate, 0.08)]


# --- results.parquet and manifest -------------------------------------------------------------------------


def test_results_hold_one_row_per_run_month_and_outcome_with_the_factors(tmp_path, capsys):
    sweep, out = write(tmp_path, TINY), tmp_path / "out"
    assert sweep_cli(capsys, sweep, out).returncode == 0
    frame = pd.read_parquet(out / "results.parquet")
    factors = ["blacklist_rate", "benefit_generosity"]
    assert list(frame.columns) == ["run", "point", "replicate", "month", "outcome", "value", "status", *factors]
    assert len(frame) == TINY_RUNS * (TINY_MONTHS + 1) * TINY_OUTCOMES
    assert not frame.duplicated(["run", "month", "outcome"]).any()
    assert set(frame["run"]) == set(range(TINY_RUNS)) and set(frame["month"]) == set(range(TINY_MONTHS + 1))
    assert set(frame["outcome"]) == {"all|share_approve", "urban=0|share_approve"}
    assert (frame["point"] * 2 + frame["replicate"] == frame["run"]).all()
    design = build_design(load_sweep(sweep))
    for point, rows in frame.groupby("point"):
        for factor in factors:
            assert (rows[factor] == design.values[point][factor]).all()
    assert frame["value"].between(0, 1).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "scsim-sweep" and manifest["sweep_name"] == "tiny"
    assert manifest["runs"] == TINY_RUNS and manifest["outcomes"] == ["all|share_approve", "urban=0|share_approve"]
    assert manifest["design"]["kind"] == "grid" and manifest["design"]["points"] == 6
    assert manifest["design"]["values"] == design.values
    assert np.allclose(manifest["design"]["units"], design.units)
    assert manifest["design"]["problem"]["names"] == factors
    assert [f["name"] for f in manifest["factors"]] == factors
    assert manifest["sweep"]["file"]["seed"] == 3 and manifest["sweep"]["file"]["n"] == 300
    assert manifest["seed_tree"]["root"] == 3 and manifest["seed_tree"]["common_random_numbers"] is True
    assert "spawn_key" in manifest["seed_tree"]["run_seed"]
    assert manifest["package_version"] == version("scsim")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert manifest["git"]["commit"] == head.stdout.strip()
    assert isinstance(manifest["git"]["dirty"], bool | None)


def test_common_random_numbers_pair_the_points(tmp_path, capsys):
    """With common seeds, replicate r of every point shares its citizens: month 0 is the same for every point;
    with independent seeds it is not."""
    results = {}
    for seeds in ("common", "independent"):
        text = TINY.replace('design = "grid"', f'design = "grid"\nseeds = "{seeds}"')
        out = tmp_path / seeds
        assert sweep_cli(capsys, write(tmp_path, text, f"{seeds}.toml"), out).returncode == 0
        frame = pd.read_parquet(out / "results.parquet")
        start = frame[(frame["month"] == 0) & (frame["outcome"] == "all|share_approve")]
        results[seeds] = start.groupby("replicate")["value"].nunique()
    assert (results["common"] == 1).all()
    assert (results["independent"] > 1).all()
