"""Scenarios (TOML validation), `scsim run` outputs, manifest, reproducibility, plots."""

import json

import pandas as pd
import pytest
from cli_helpers import assert_one_line_error as one_line_error
from cli_helpers import run_cli
from matplotlib.figure import Figure

from experiments.plots import plot_categories, plot_subgroups, plot_trajectories
from experiments.scenario import SCENARIO_DIR, ScenarioError, load_scenario
from experiments.simulation import Simulation
from experiments.store import TRAJECTORY_COLUMNS, read_trajectory

SHIPPED = ("baseline", "punitive_shift", "benefit_expansion", "transparency")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name):
    scenario = load_scenario(name)
    assert scenario.name == name
    params = scenario.params()
    assert params.levers.pilot_coverage == pytest.approx(0.43)
    if name != "baseline":
        assert scenario.schedule() and scenario.schedule()[0][0] == 12


def test_punitive_shift_levers():
    scenario = load_scenario("punitive_shift")
    ((month, levers),) = scenario.schedule()
    base = load_scenario("baseline").params().levers
    assert month == 12 and levers["blacklist_rate"] > base.blacklist_rate and levers["sanction_breadth"] == 3


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('name = "x"\nfoo = 1\n', ["foo", "unknown key", "levers"]),
        ('name = "x"\n[levers]\nblacklist_rate = 3\n', ["levers.blacklist_rate", "between 0 and 1", "3"]),
        ('name = "x"\n[levers]\npilot_coverage = 0.2\n', ["levers.pilot_coverage", "between 0.43 and 1.0"]),
        ('name = "x"\n[levers]\nmedia_framing = "lots"\n', ["levers.media_framing", "between -1 and 1"]),
        ('name = "x"\n[levers]\nblacklist = 0.1\n', ["levers.blacklist", "unknown key", "blacklist_rate"]),
        ('name = "x"\n[[changes]]\nmonth = 0\nblacklist_rate = 0.1\n', ["changes.0.month", "between 1 and 600"]),
        ('name = "x"\n[[changes]]\nmonth = 5\n', ["changes.0", "at least one lever"]),
        (
            'name = "x"\n[[changes]]\nmonth = 5\nsanction_breadth = 9\n',
            ["changes.0.sanction_breadth", "between 1 and 3"],
        ),
        ('name = "x"\n[channels]\nfairness = "maybe"\n', ["channels.fairness", "true or false"]),
        ('name = "x"\n[channels]\nnoise = true\n', ["channels.noise", "unknown key", "fairness"]),
        ('name = "x"\n[dynamics]\nrecall_months = 0\n', ["dynamics.recall_months", "between 1 and 60"]),
        ("description = 'no name'\n", ["name", "required"]),
        ("name = \n", ["not valid TOML"]),
    ],
)
def test_invalid_scenarios_are_rejected_with_one_line(tmp_path, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    one_line_error(run_cli("run", str(path), "--out", str(tmp_path / "out"), "--n", "100"), *fragments)


def test_unknown_scenario_name(tmp_path):
    one_line_error(run_cli("run", "nonsense", "--out", str(tmp_path / "o")), "nonsense", "baseline")


def test_run_outputs_manifest_and_reproducibility(tmp_path):
    args = ["--n", "3000", "--months", "4", "--replications", "2"]
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((first, "5"), (second, "5"), (other, "6")):
        result = run_cli("run", str(SCENARIO_DIR / "punitive_shift.toml"), "--out", str(out), "--seed", seed, *args)
        assert result.returncode == 0, result.stderr
    assert (first / "trajectory.parquet").read_bytes() == (second / "trajectory.parquet").read_bytes()
    assert (first / "trajectory.parquet").read_bytes() != (other / "trajectory.parquet").read_bytes()
    frame = read_trajectory(first / "trajectory.parquet")
    assert tuple(frame.columns) == TRAJECTORY_COLUMNS
    assert set(frame["replicate"]) == {0, 1} and set(frame["month"]) == set(range(5))
    required = {"share_1", "share_2", "share_3", "share_4", "share_5", "share_approve", "mean_approval",
                "share_advantages", "share_disadvantages", "share_blacklisted"}  # fmt: skip
    assert required <= set(frame["metric"])
    assert {"all", "urban=0", "urban=1", "blacklisted=0"} <= set(frame["group"])
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["scenario"] == "punitive_shift" and manifest["seed"] == 5 and manifest["n"] == 3000
    assert manifest["replicate_seeds"] == [{"entropy": 5, "spawn_key": [0]}, {"entropy": 5, "spawn_key": [1]}]
    assert manifest["parameters"]["changes"][0]["blacklist_rate"] == pytest.approx(0.08)
    assert manifest["parameters"]["levers_at_t0"]["blacklist_rate"] == pytest.approx(0.02)
    assert manifest["package_version"] and "commit" in manifest["git"]
    assert (first / "trajectory.png").stat().st_size > 1000


def test_replicates_do_not_depend_on_their_number():
    one = Simulation.from_scenario("baseline", n=2000, seed=3).run(months=2, replications=1).frame
    two = Simulation.from_scenario("baseline", n=2000, seed=3).run(months=2, replications=2).frame
    pd.testing.assert_frame_equal(one, two[two["replicate"] == 0].reset_index(drop=True))


def test_fluent_api_and_plots():
    results = Simulation.from_scenario("transparency", n=2000, seed=1).run(months=13, replications=2)
    assert isinstance(results.plot(), Figure)
    assert isinstance(plot_categories(results.frame), Figure)
    assert isinstance(plot_subgroups(results.frame, "urban"), Figure)
    assert isinstance(plot_trajectories(results.frame, "mean_fairness"), Figure)
    fairness = results.series("mean_fairness")
    assert (fairness.loc[13] > fairness.loc[11]).all()  # published algorithms raise perceived fairness
    with pytest.raises(ValueError, match="attribute"):
        plot_subgroups(results.frame, "height")
