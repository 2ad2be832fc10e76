"""Scenarios (TOML validation), `scsim run` outputs, manifest, reproducibility, plots."""

import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, call

from experiments.plots import band, plot_categories, plot_subgroups, plot_trajectories
from experiments.scenario import SCENARIO_DIR, ScenarioError, load_scenario, shipped_scenarios
from experiments.simulation import Simulation
from experiments.store import TRAJECTORY_COLUMNS, read_trajectory
from sim.metrics import METRIC_KEYS

SHIPPED = ("baseline", "punitive_shift", "benefit_expansion", "transparency", "media_campaign")
EXPERIMENTS = ("xu2022_repression", "xu2022_social_order")  # survey experiments in silico (tests/test_treatments.py)


def test_shipped_scenarios_are_the_documented_ones():
    assert set(shipped_scenarios()) == set(SHIPPED) | set(EXPERIMENTS)
    for name in EXPERIMENTS:
        scenario = load_scenario(name)
        assert scenario.name == name and len(scenario.treatments) == 1 and not scenario.changes


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name):
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.params().levers.pilot_coverage is None  # the population's own 2018 coverage
    if name != "baseline":
        assert scenario.schedule() and scenario.schedule()[0][0] == 12


def test_punitive_shift_levers():
    ((month, levers),) = load_scenario("punitive_shift").schedule()
    base = load_scenario("baseline").params().levers
    assert month == 12 and levers["blacklist_rate"] > base.blacklist_rate and levers["sanction_breadth"] == 3
    assert isinstance(levers["sanction_breadth"], int) and isinstance(levers["delisting_months"], int)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('name = "x"\nfoo = 1\n', ["foo", "unknown key", "levers"]),
        ('name = "x"\n[levers]\nblacklist_rate = 3\n', ["levers.blacklist_rate", "between 0 and 1", "3"]),
        ('name = "x"\n[levers]\nblacklist_rate = true\n', ["levers.blacklist_rate", "a number"]),
        ('name = "x"\n[levers]\nblacklist_rate = "0.02"\n', ["levers.blacklist_rate", "'0.02'"]),
        ('name = "x"\n[levers]\nblacklist_rate = 0.25\n', ["levers.blacklist_rate: at t = 0", "0.05", "[[changes]]"]),
        ('name = "x"\n[levers]\nsanction_breadth = 2.5\n', ["levers.sanction_breadth", "an integer", "2.5"]),
        ('name = "x"\n[levers]\npilot_coverage = 0.6\n', ["levers.pilot_coverage: at t = 0 cannot be set"]),
        ('name = "x"\n[levers]\nmedia_framing = "lots"\n', ["levers.media_framing", "between -1 and 1"]),
        ('name = "x"\n[levers]\nblacklist = 0.1\n', ["levers.blacklist", "unknown key", "blacklist_rate"]),
        ('name = "x"\n[[changes]]\nmonth = 0\nblacklist_rate = 0.1\n', ["changes.0.month", "between 1 and 600"]),
        ('name = "x"\n[[changes]]\nmonth = 5\n', ["changes.0", "at least one lever"]),
        ('name = "x"\n[[changes]]\nmonth = 5\nsanction_breadth = 9\n', ["changes.0.sanction_breadth", "1 and 3"]),
        ('name = "x"\n[[changes]]\nmonth = 5\nsanction_breadth = 2.5\n', ["changes.0.sanction_breadth", "integer"]),
        ('name = "x"\n[channels]\nfairness = "maybe"\n', ["channels.fairness", "true or false"]),
        ('name = "x"\n[channels]\nnoise = true\n', ["channels.noise", "unknown key", "fairness"]),
        ('name = "x"\n[dynamics]\nrecall_months = 0\n', ["dynamics.recall_months", "between 1 and 60"]),
        ('name = "x"\n[dynamics]\nrecall_months = 12.0\n', ["dynamics.recall_months", "an integer"]),
        ('name = "x"\n[scores]\ndefault_rate = 0.5\n', ["scores.default_rate", "between 0 and 0.05"]),
        ('name = "x"\nlevers = 3\n', ["levers:", "dictionary"]),
        ("description = 'no name'\n", ["name", "required"]),
        ("name = \n", ["not valid TOML"]),
        ("name = 'x'\na = " + "[" * 3000 + "]" * 3000 + "\n", ["nested too deeply"]),
    ],
)
def test_invalid_scenarios_are_rejected_with_one_line(tmp_path, capsys, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert_one_line_error(call(capsys, "run", str(path), "--out", str(tmp_path / "out"), "--n", "100"), *fragments)
    assert not (tmp_path / "out").exists()


def test_unknown_scenario_name(tmp_path, capsys):
    assert_one_line_error(call(capsys, "run", "nonsense", "--out", str(tmp_path / "o")), "nonsense", "baseline")


def test_change_after_the_horizon_is_refused_before_running(tmp_path, capsys):
    result = call(capsys, "run", "punitive_shift", "--out", str(tmp_path / "o"), "--n", "100", "--months", "6")
    assert_one_line_error(result, "changes.0.month: 12 is after the horizon of 6 months")


def test_run_outputs_manifest_and_reproducibility(tmp_path, capsys):
    args = ["--n", "1500", "--months", "13", "--replications", "2"]
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((first, "5"), (second, "5"), (other, "6")):
        scenario = str(SCENARIO_DIR / "punitive_shift.toml")
        result = call(capsys, "run", scenario, "--out", str(out), "--seed", seed, *args)
        assert result.returncode == 0, result.stderr
    assert (first / "trajectory.parquet").read_bytes() == (second / "trajectory.parquet").read_bytes()
    assert (first / "trajectory.parquet").read_bytes() != (other / "trajectory.parquet").read_bytes()
    frame = read_trajectory(first / "trajectory.parquet")
    assert tuple(frame.columns) == TRAJECTORY_COLUMNS
    assert set(frame["replicate"]) == {0, 1} and set(frame["month"]) == set(range(14))
    assert len(frame) == 2 * 14 * len(METRIC_KEYS)
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["scenario"] == "punitive_shift" and manifest["seed"] == 5 and manifest["n"] == 1500
    assert manifest["replicate_seeds"] == [{"entropy": 5, "spawn_key": [0]}, {"entropy": 5, "spawn_key": [1]}]
    assert manifest["parameters"]["changes"][0]["blacklist_rate"] == pytest.approx(0.08)
    assert manifest["parameters"]["levers_at_t0"]["blacklist_rate"] == pytest.approx(0.02)
    assert manifest["package_version"] and "commit" in manifest["git"]
    assert (first / "trajectory.png").stat().st_size > 1000


def test_stored_results_round_trip(tmp_path):
    results = Simulation.from_scenario("baseline", n=800, seed=2).run(months=3, replications=2)
    results.save(tmp_path)
    stored = read_trajectory(tmp_path / "trajectory.parquet")
    pd.testing.assert_frame_equal(stored, results.frame[list(TRAJECTORY_COLUMNS)])
    assert stored["value"].dtype == np.float64 and stored["value"].isna().any()  # empty groups stay NaN


def test_replicates_do_not_depend_on_their_number():
    one = Simulation.from_scenario("baseline", n=2000, seed=3).run(months=2, replications=1).frame
    two = Simulation.from_scenario("baseline", n=2000, seed=3).run(months=2, replications=2).frame
    pd.testing.assert_frame_equal(one, two[two["replicate"] == 0].reset_index(drop=True))


@pytest.fixture(scope="module")
def transparency_results():
    return Simulation.from_scenario("transparency", n=2000, seed=1).run(months=13, replications=3)


def test_published_algorithms_raise_perceived_fairness(transparency_results):
    fairness = transparency_results.series("mean_fairness")
    assert (fairness.loc[13] > fairness.loc[11]).all()


def test_trajectory_plot_shows_the_results(transparency_results):
    frame = transparency_results.frame
    fig = transparency_results.plot()
    line = fig.axes[0].get_lines()[0]
    expected = transparency_results.series("share_approve").mean(axis=1)
    np.testing.assert_allclose(line.get_ydata(), 100 * expected.to_numpy())
    np.testing.assert_array_equal(line.get_xdata(), expected.index.to_numpy())
    fairness = plot_trajectories(frame, "mean_fairness").axes[0].get_lines()[0]
    np.testing.assert_allclose(fairness.get_ydata(), transparency_results.series("mean_fairness").mean(axis=1))
    rows = band(frame, "share_approve", "all")
    per_month = transparency_results.series("share_approve")
    np.testing.assert_allclose(rows["low"], per_month.quantile(0.025, axis=1))


def test_category_plot_stacks_the_five_shares(transparency_results):
    fig = plot_categories(transparency_results.frame)
    stacks = fig.axes[0].collections
    assert len(stacks) == 5
    top = stacks[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(100.0)
    mean_5 = transparency_results.series("share_5").mean(axis=1)
    lower_4 = sum(transparency_results.series(f"share_{k}").mean(axis=1) for k in range(1, 5))
    np.testing.assert_allclose(100 * (lower_4 + mean_5), 100.0)


def test_subgroup_plot_has_one_panel_per_value(transparency_results):
    fig = plot_subgroups(transparency_results.frame, "urban")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["urban=0", "urban=1"]
    rural = fig.axes[0].get_lines()[0].get_ydata()
    expected = transparency_results.series("share_approve", "urban=0").mean(axis=1)
    np.testing.assert_allclose(rural, 100 * expected.to_numpy())
    with pytest.raises(ValueError, match="attribute"):
        plot_subgroups(transparency_results.frame, "height")
