"""The `scsim` command line: outputs, one-line errors for bad input, bugs reported as bugs."""

import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, call, run_cli

import calibration.sample
from calibration.items import SCHEMA_COLUMNS
from calibration.paper import DATA_DIR
from experiments import resources


def test_population_writes_schema_and_is_reproducible(tmp_path, capsys):
    first, second, other = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    assert call(capsys, "population", "--n", "2000", "--seed", "4", "--out", str(first)).returncode == 0
    assert call(capsys, "population", "--n", "2000", "--seed", "4", "--out", str(second)).returncode == 0
    assert call(capsys, "population", "--n", "2000", "--seed", "5", "--out", str(other)).returncode == 0
    frame = pd.read_parquet(first)
    assert tuple(frame.columns) == SCHEMA_COLUMNS and len(frame) == 2000
    assert str(frame["approval"].dtype) == "Int64"
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_unknown_model(tmp_path, capsys):
    result = call(capsys, "population", "--n", "10", "--out", str(tmp_path / "x.parquet"), "--model", "model8")
    assert_one_line_error(result, "model", "model1")


@pytest.mark.parametrize("n", ["0", "-3", "ten"])
def test_bad_n(tmp_path, capsys, n):
    result = call(capsys, "population", "--n", n, "--out", str(tmp_path / "x.parquet"))
    assert_one_line_error(result, "--n", ">= 1")


def test_failed_run_keeps_existing_output(tmp_path, capsys):
    target = tmp_path / "keep.parquet"
    assert call(capsys, "population", "--n", "50", "--out", str(target)).returncode == 0
    before = target.read_bytes()
    assert call(capsys, "population", "--n", "50", "--out", str(target), "--model", "nope").returncode == 2
    assert target.read_bytes() == before


def _table4_variant(tmp_path, edit):
    frame = edit(pd.read_csv(DATA_DIR / "table4_ordered_logit.csv"))
    path = tmp_path / "table4.csv"
    frame.to_csv(path, index=False)
    return path


def _population_with(tmp_path, capsys, coefficients):
    out = str(tmp_path / "x.parquet")
    return call(capsys, "population", "--n", "10", "--out", out, "--model", "model2", "--coefficients", coefficients)


def test_non_increasing_cuts(tmp_path, capsys):
    def swap(frame):
        rows = (frame["model"] == 3) & frame["term"].isin(["cut2", "cut3"])
        frame.loc[rows, "coef"] = frame.loc[rows, "coef"].to_numpy()[::-1]
        return frame

    result = _population_with(tmp_path, capsys, str(_table4_variant(tmp_path, swap)))
    assert_one_line_error(result, "model3", "strictly increasing")


def test_missing_term(tmp_path, capsys):
    path = _table4_variant(tmp_path, lambda f: f[~((f["model"] == 6) & (f["term"] == "advantages"))])
    assert_one_line_error(_population_with(tmp_path, capsys, str(path)), "model 6", "advantages")


def test_missing_coefficient_file(tmp_path, capsys):
    assert_one_line_error(_population_with(tmp_path, capsys, str(tmp_path / "nope.csv")), "nope.csv", "not found")


def test_calibrate_report_small(tmp_path, capsys):
    out = tmp_path / "calib"
    result = call(capsys, "calibrate", "--report", str(out), "--n", "6000", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "within 1 SE" in result.stdout
    for name in ("calibration.json", "table4_refits.csv", "forest.png", "marginals.png"):
        assert (out / name).exists()


def test_calibrate_needs_a_mode(capsys):
    assert_one_line_error(call(capsys, "calibrate"), "--report", "--refit")


@pytest.mark.parametrize(
    "command",
    [
        ["run", "baseline", "--n", "1000000000"],
        ["forecast", "--n", "1000000000"],
        ["report", "--n", "1000000000"],
        ["population", "--n", "1000000000"],
        ["calibrate", "--report", "{out}", "--n", "1000000000"],
    ],
)
def test_runs_too_large_for_the_machine_are_refused_before_allocating(tmp_path, capsys, command):
    out = str(tmp_path / "out.parquet" if command[0] == "population" else tmp_path / "out")
    args = [part.replace("{out}", out) for part in command]
    if "--report" not in args:
        args += ["--out", out]
    line = assert_one_line_error(call(capsys, *args), "--n", "GiB", "available")
    assert "1,000,000,000" in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.parquet").exists()


def test_memory_estimate_is_checked_against_what_is_available(monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 2 * 2**30)
    resources.check_memory(100_000, "run")
    with pytest.raises(resources.ResourceError, match=r"--n: 5,000,000 citizens need about .* 2.0 GiB"):
        resources.check_memory(5_000_000, "run")
    with pytest.raises(resources.ResourceError, match="with 3 processes"):
        resources.check_memory(1_200_000, "run", processes=3)


def test_the_guard_refuses_a_billion_in_a_separate_process_quickly(tmp_path):
    """The acceptance check, as a user runs it: refused in well under 10 s, nothing allocated or written."""
    result = run_cli("run", "baseline", "--out", str(tmp_path / "o"), "--n", "1000000000")
    assert_one_line_error(result, "--n", "available")
    assert not (tmp_path / "o").exists()


def test_a_bug_is_reported_as_a_bug_not_as_bad_input(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("singular matrix")  # a ValueError, but not a UserError: an internal failure

    monkeypatch.setattr(calibration.sample, "generate_sample", broken)
    result = call(capsys, "population", "--n", "5", "--out", str(tmp_path / "x.parquet"))
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "singular matrix" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("scsim: internal error: this is a bug")
    assert not (tmp_path / "x.parquet").exists()
