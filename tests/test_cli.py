"""The `scsim` command line: outputs and one-line errors for bad input."""

import os

import pandas as pd
import pytest
from cli_helpers import assert_one_line_error
from cli_helpers import run_cli as run

from calibration.items import SCHEMA_COLUMNS
from calibration.paper import DATA_DIR


def test_population_writes_schema_and_is_reproducible(tmp_path):
    first, second, other = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    assert run("population", "--n", "2000", "--seed", "4", "--out", str(first)).returncode == 0
    assert run("population", "--n", "2000", "--seed", "4", "--out", str(second)).returncode == 0
    assert run("population", "--n", "2000", "--seed", "5", "--out", str(other)).returncode == 0
    frame = pd.read_parquet(first)
    assert tuple(frame.columns) == SCHEMA_COLUMNS and len(frame) == 2000
    assert str(frame["approval"].dtype) == "Int64"
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_unknown_model(tmp_path):
    result = run("population", "--n", "10", "--out", str(tmp_path / "x.parquet"), "--model", "model8")
    assert_one_line_error(result, "model", "model1")


@pytest.mark.parametrize("n", ["0", "-3", "ten"])
def test_bad_n(tmp_path, n):
    result = run("population", "--n", n, "--out", str(tmp_path / "x.parquet"))
    assert_one_line_error(result, "--n", ">= 1")


def test_unwritable_output(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permission bits
            target = tmp_path / "missing_dir" / "x.parquet"
        else:
            target = locked / "x.parquet"
        result = run("population", "--n", "10", "--out", str(target))
        assert_one_line_error(result, "--out")
    finally:
        locked.chmod(0o700)


def test_failed_run_keeps_existing_output(tmp_path):
    target = tmp_path / "keep.parquet"
    assert run("population", "--n", "50", "--out", str(target)).returncode == 0
    before = target.read_bytes()
    result = run("population", "--n", "50", "--out", str(target), "--model", "nope")
    assert result.returncode != 0
    assert target.read_bytes() == before


def _table4_variant(tmp_path, edit):
    frame = pd.read_csv(DATA_DIR / "table4_ordered_logit.csv")
    frame = edit(frame)
    path = tmp_path / "table4.csv"
    frame.to_csv(path, index=False)
    return path


def test_non_increasing_cuts(tmp_path):
    def swap(frame):
        rows = (frame["model"] == 3) & frame["term"].isin(["cut2", "cut3"])
        frame.loc[rows, "coef"] = frame.loc[rows, "coef"].to_numpy()[::-1]
        return frame

    path = _table4_variant(tmp_path, swap)
    result = run(
        "population",
        "--n",
        "10",
        "--out",
        str(tmp_path / "x.parquet"),
        "--model",
        "model2",
        "--coefficients",
        str(path),
    )
    assert_one_line_error(result, "model3", "strictly increasing")


def test_missing_term(tmp_path):
    path = _table4_variant(tmp_path, lambda f: f[~((f["model"] == 6) & (f["term"] == "advantages"))])
    result = run(
        "population",
        "--n",
        "10",
        "--out",
        str(tmp_path / "x.parquet"),
        "--model",
        "model2",
        "--coefficients",
        str(path),
    )
    assert_one_line_error(result, "model 6", "advantages")


def test_missing_coefficient_file(tmp_path):
    result = run(
        "population",
        "--n",
        "10",
        "--out",
        str(tmp_path / "x.parquet"),
        "--model",
        "model2",
        "--coefficients",
        str(tmp_path / "nope.csv"),
    )
    assert_one_line_error(result, "nope.csv", "not found")


def test_calibrate_report_small(tmp_path):
    out = tmp_path / "calib"
    result = run("calibrate", "--report", str(out), "--n", "6000", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "within 1 SE" in result.stdout
    for name in ("calibration.json", "table4_refits.csv", "forest.png", "marginals.png"):
        assert (out / name).exists()


def test_calibrate_needs_a_mode():
    result = run("calibrate")
    assert_one_line_error(result, "--report", "--refit")
