"""The calibration ensemble in forecasts and sweeps: the three-way variance split, reproducibility with the
seed and across backends, and the ``calibration_member`` sweep factor (fixture ensemble of
``tests/ensemble_fixture.py``: members 0 and 1 accepted, 2 rejected)."""

import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, call
from ensemble_fixture import ACCEPTED

from experiments.backends import SerialBackend, make_backend
from experiments.forecast import ArmRunner, run_forecast
from experiments.forecast_summary import summary_markdown
from experiments.forecast_variance import variance_split
from experiments.scenario import load_scenario
from experiments.simulation import replicate_member, replicate_seeds
from experiments.sweep import load_sweep
from experiments.sweep_design import build_design

FORECAST = ["--n", "2000", "--months", "24", "--replications", "5", "--decomposition-replications", "1",
            "--prior-draws", "0", "--morris-trajectories", "0"]  # fmt: skip


# --- the variance split ---------------------------------------------------------------------------------------


def test_variance_split_arithmetic_clipping_and_shares():
    choice = load_choice("ensemble")
    drawn, member_point, fixed = np.array([0.0, 2.0, 4.0]), np.array([1.0, 3.0, 5.0]), np.array([0.0, 1.0, 2.0])
    split = variance_split(choice, drawn * 2, member_point, fixed)  # V(A) = 16, V(B) = 4, V(C) = 1
    components = split["components"]
    assert [components[k]["variance"] for k in ("chance", "coefficients", "calibrations")] == [1.0, 12.0, 3.0]
    assert sum(c["share"] for c in components.values()) == pytest.approx(1.0)
    assert components["coefficients"]["share"] == pytest.approx(12 / 16)
    # V(A) < V(B): the coefficient component's estimate is negative, reported as 0 and flagged.
    clipped = variance_split(choice, drawn / 4, member_point, fixed)["components"]["coefficients"]
    assert clipped["variance"] == 0.0 and clipped["clipped"] and clipped["estimate"] == pytest.approx(0.25 - 4.0)
    # One calibration: no arm B, and the between-calibrations component is 0 by construction.
    single = variance_split(load_choice("member:1"), drawn, None, fixed)
    assert single["components"]["calibrations"] == {"variance": 0.0, "estimate": 0.0, "clipped": False,
                                                    "by_construction": True, "share": 0.0}  # fmt: skip
    assert "B" not in single["arms"] and "member 1" in single["method"]
    assert variance_split(choice, drawn[:1], member_point[:1], fixed[:1])["components"]["chance"]["variance"] is None


def load_choice(text):
    from calibration.ensemble_files import parse_calibration

    return parse_calibration(text)


def _forecast(tmp_path, capsys, name, *extra):
    out = tmp_path / name
    outcome = call(capsys, "forecast", "--out", str(out), *FORECAST, "--seed", "1", *extra)
    assert outcome.returncode == 0, outcome.stderr
    return out, json.loads((out / "forecast.json").read_text())


def test_ensemble_forecast_splits_three_ways_and_is_reproducible(tmp_path, capsys, ensemble_params):
    out, result = _forecast(tmp_path, capsys, "first", "--backend", "serial")  # the default calibration: ensemble
    again, _ = _forecast(tmp_path, capsys, "again", "--backend", "processes", "--workers", "2")
    assert (out / "forecast.json").read_text() == (again / "forecast.json").read_text()
    assert (out / "forecast.md").read_text() == (again / "forecast.md").read_text()

    record = result["calibration"]
    assert record["choice"] == "ensemble" and record["accepted_members"] == ACCEPTED
    assert record["members"] == [replicate_member("ensemble", s) for s in replicate_seeds(1, 5)]
    assert set(record["members"]) == set(ACCEPTED)  # both members drawn in these five replicates
    assert record["fixed_arms"] == "shipped"

    split = result["uncertainty"]
    assert split["calibration"] == "ensemble" and "V(B) - V(C)" in split["method"]
    assert set(split["arms"]) == {"A", "B", "C"}
    assert split["arms"]["A"]["per_replicate"] == result["per_replicate"]
    variances = {arm: np.var(split["arms"][arm]["per_replicate"], ddof=1) for arm in "ABC"}
    components = split["components"]
    assert set(components) == {"chance", "coefficients", "calibrations"}
    assert components["chance"]["variance"] == pytest.approx(variances["C"])
    assert components["coefficients"]["estimate"] == pytest.approx(variances["A"] - variances["B"])
    assert components["calibrations"]["estimate"] == pytest.approx(variances["B"] - variances["C"])
    for value in components.values():
        assert value["variance"] >= 0 and value["variance"] == max(value["estimate"], 0.0)
        assert value["clipped"] == (value["estimate"] < 0)
    assert sum(value["share"] for value in components.values()) == pytest.approx(1.0)
    # Arm B differs from arm C: members at their point estimates are not the shipped calibration.
    assert split["arms"]["B"]["per_replicate"] != split["arms"]["C"]["per_replicate"]

    text = (out / "forecast.md").read_text()
    share = f"between calibrations {100 * components['calibrations']['share']:.0f}%"
    assert share in text and "2 accepted members" in text


def test_shipped_and_member_forecasts_say_the_between_component_is_zero(tmp_path, capsys, ensemble_params):
    _, shipped = _forecast(tmp_path, capsys, "shipped", "--backend", "serial", "--calibration", "shipped")
    _, member = _forecast(tmp_path, capsys, "member", "--backend", "serial", "--calibration", "member:1")
    for result, fixed in ((shipped, "shipped"), (member, "member:1")):
        split = result["uncertainty"]
        assert "B" not in split["arms"] and split["components"]["calibrations"]["by_construction"]
        assert result["calibration"]["fixed_arms"] == fixed
        assert "zero by construction" in summary_markdown(result)
    assert shipped["calibration"]["members"] is None and member["calibration"]["members"] == [1] * 5
    assert member["per_replicate"] != shipped["per_replicate"]


def test_shipped_forecast_keeps_its_effects(ensemble_params):
    """The new arms do not touch the headline effects: shipped with and without the ensemble present agree."""
    baseline, shift = load_scenario("baseline"), load_scenario("punitive_shift")
    result, _ = run_forecast(baseline, shift, n=1200, months=13, replications=3, seed=6, decomposition_replications=0)
    via_member_0, _ = run_forecast(baseline, shift, n=1200, months=13, replications=3, seed=6,
                                   decomposition_replications=0, calibration="member:0")  # fmt: skip
    assert via_member_0["per_replicate"] == result["per_replicate"]
    assert via_member_0["uncertainty"]["components"] == result["uncertainty"]["components"]


def test_ensemble_arms_are_identical_serial_or_processes(ensemble_params):
    baseline = load_scenario("baseline")
    arms = {"drawn": (baseline, True, None), "shipped": (baseline, False, ("all|share_approve",), "shipped")}
    serial = ArmRunner(900, 3, 4, 2, SerialBackend(), False, "ensemble").run(arms, 4)
    backend = make_backend("processes", 2)
    try:
        parallel = ArmRunner(900, 3, 4, 2, backend, False, "ensemble").run(arms, 4)
    finally:
        backend.close()
    for name in arms:
        np.testing.assert_array_equal(serial[name], parallel[name])


# --- sweeps ---------------------------------------------------------------------------------------------------

MEMBER_SWEEP = """\
name = "members"
design = "{design}"
{samples}months = 3
n = 500
replications = 2
seed = 1
outcomes = ["share_approve"]

[levers]
blacklist_rate = {{ min = 0.0, max = 0.1{levels} }}

[uncertainties]
calibration_member = {member}
"""


def member_sweep(tmp_path, member="{ values = [0, 1] }", design="grid", samples="", levels=", levels = 2"):
    path = tmp_path / "members.toml"
    path.write_text(MEMBER_SWEEP.format(design=design, samples=samples, member=member, levels=levels))
    return path


def test_member_factor_runs_every_member_and_records_it(tmp_path, capsys, ensemble_params):
    out = tmp_path / "out"
    outcome = call(capsys, "sweep", str(member_sweep(tmp_path)), "--out", str(out), "--backend", "serial")
    assert outcome.returncode == 0, outcome.stderr
    frame = pd.read_parquet(out / "results.parquet")
    assert sorted(frame["calibration_member"].unique()) == [0, 1]
    assert (frame["member"] == frame["calibration_member"]).all() and (frame["status"] == "ok").all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sweep"]["calibration"]["accepted_members"] == ACCEPTED
    assert {"name": "calibration_member", "kind": "uncertainty", "type": "int", "values": [0, 1]} in manifest["factors"]
    # Member 0 is the shipped pair: its points equal the same lever values run with the shipped calibration.
    month = frame[frame["month"] == 3]
    by_member = {m: month[month["calibration_member"] == m].sort_values(["blacklist_rate", "replicate"])
                 for m in (0, 1)}  # fmt: skip
    assert not np.array_equal(by_member[0]["value"].to_numpy(), by_member[1]["value"].to_numpy())
    shipped_file = tmp_path / "shipped.toml"
    text = MEMBER_SWEEP.format(design="grid", samples="", member="", levels=", levels = 2")
    shipped_file.write_text(text.split("[uncertainties]")[0])
    shipped_out = tmp_path / "shipped"
    assert call(capsys, "sweep", str(shipped_file), "--out", str(shipped_out), "--backend", "serial").returncode == 0
    shipped = pd.read_parquet(shipped_out / "results.parquet")
    assert "member" not in shipped.columns  # a shipped sweep keeps its schema
    shipped = shipped[shipped["month"] == 3].sort_values(["blacklist_rate", "replicate"])
    np.testing.assert_array_equal(shipped["value"].to_numpy(), by_member[0]["value"].to_numpy())


@pytest.mark.parametrize("design", ["lhs", "sobol", "morris"])
def test_sampled_designs_map_onto_the_accepted_members(tmp_path, ensemble_params, design):
    samples = "samples = 8\n" if design != "morris" else "samples = 4\n"
    sweep = load_sweep(member_sweep(tmp_path, "{ min = 0, max = 2 }", design, samples, levels=""))
    values = [point["calibration_member"] for point in build_design(sweep).values]
    assert set(values) == set(ACCEPTED)  # member 2 (rejected) in the range is never run


def test_ensemble_sweep_without_the_factor_draws_members_per_replicate(tmp_path, capsys, ensemble_params):
    path = tmp_path / "plain.toml"
    text = MEMBER_SWEEP.format(design="grid", samples="", member="", levels=", levels = 2")
    path.write_text(text.split("[uncertainties]")[0].replace("replications = 2", "replications = 4"))
    out = tmp_path / "out"
    outcome = call(capsys, "sweep", str(path), "--out", str(out), "--backend", "serial", "--calibration", "ensemble")
    assert outcome.returncode == 0, outcome.stderr
    frame = pd.read_parquet(out / "results.parquet")
    by_replicate = frame.groupby("replicate")["member"].unique()
    # Common seeds: replicate r has one member at every point, the one its seed draws.
    seeds = replicate_seeds(1, 4)
    assert [list(v) for v in by_replicate] == [[replicate_member("ensemble", s)] for s in seeds]
    assert set(frame["member"]) == set(ACCEPTED)


@pytest.mark.parametrize(
    ("member", "fragments"),
    [
        ("{ values = [0, 2] }", ["uncertainties.calibration_member", "accepted member indices (0, 1)", "got 2"]),
        ("{ values = [1.5] }", ["uncertainties.calibration_member", "got 1.5"]),
        ("{ values = [true] }", ["uncertainties.calibration_member", "got True"]),
        ("{ min = 2, max = 9 }", ["uncertainties.calibration_member", "no accepted member between 2 and 9"]),
        ("{ min = 0, max = 1, levels = 2 }", ["uncertainties.calibration_member.levels"]),
    ],
)
def test_bad_member_factor_is_one_line(tmp_path, capsys, ensemble_params, member, fragments):
    outcome = call(capsys, "sweep", str(member_sweep(tmp_path, member)), "--out", str(tmp_path / "o"))
    assert_one_line_error(outcome, *fragments)
    assert not (tmp_path / "o").exists()


def test_member_factor_needs_an_ensemble_and_no_fixed_member(tmp_path, capsys, ensemble_params, monkeypatch):
    path = member_sweep(tmp_path)
    outcome = call(capsys, "sweep", str(path), "--out", str(tmp_path / "o"), "--calibration", "member:1")
    assert_one_line_error(outcome, "--calibration", "member:1", "calibration_member")
    monkeypatch.setenv("SCSIM_PARAMS_DIR", str(tmp_path))  # no ensemble there (nor parameter files: not read first)
    outcome = call(capsys, "sweep", str(path), "--out", str(tmp_path / "o"))
    assert_one_line_error(outcome, "uncertainties.calibration_member", "needs a calibration ensemble")
