"""``--calibration shipped|ensemble|member:K``: parsing and one-line errors, what a member changes in the
engine, the ensemble's per-replicate member draw, and shipped runs unchanged bit for bit.

The ensemble is the fixture of ``tests/ensemble_fixture.py``: member 0 copies the shipped pair, member 1
has other joint-model coefficients, member 2 is rejected.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, call
from ensemble_fixture import ACCEPTED, MEMBER_1_COEFFICIENTS, write_fixture_ensemble

from calibration.citizens import build_population, engine_approval_model
from calibration.ensemble_files import CalibrationChoice, parse_calibration
from calibration.members import draw_member
from calibration.population import GeneratorParams
from experiments.scenario import load_scenario
from experiments.simulation import (
    Simulation,
    cached_population,
    replicate_calibration,
    replicate_member,
    replicate_metrics,
    replicate_population,
    replicate_seeds,
)
from sim.errors import UserError
from sim.metrics import METRIC_KEYS
from sim.model import SCSEngine

APPROVE = METRIC_KEYS.index("all|share_approve")
SMALL_RUN = ["--n", "600", "--months", "2", "--replications", "2"]


# --- parsing and one-line errors ---------------------------------------------------------------------------


def test_parse_calibration():
    assert parse_calibration("shipped") == CalibrationChoice("shipped")
    assert parse_calibration("ensemble") == CalibrationChoice("ensemble")
    assert parse_calibration(" member:7 ") == CalibrationChoice("member", 7)
    assert str(parse_calibration("member:3")) == "member:3"
    for bad in ("", "members:1", "member:", "member:-1", "member:x", "Ensemble", "member:1:2"):
        with pytest.raises(UserError, match="--calibration: must be shipped, ensemble or member:K"):
            parse_calibration(bad)


def _commands(tmp_path):
    return {
        "population": ["population", "--n", "50", "--out", str(tmp_path / "p.parquet")],
        "run": ["run", "baseline", "--out", str(tmp_path / "run"), *SMALL_RUN],
        "forecast": ["forecast", "--out", str(tmp_path / "fc"), "--n", "600", "--months", "13", "--replications", "2",
                     "--prior-draws", "0", "--morris-trajectories", "0"],
        "sweep": ["sweep", "sanction_x_benefit", "--out", str(tmp_path / "sw"), "--backend", "serial"],
    }


@pytest.mark.parametrize("command", ["population", "run", "forecast", "sweep"])
@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ("bogus", ["--calibration", "must be shipped, ensemble or member:K", "'bogus'"]),
        ("member:2", ["--calibration", "member:2 is not an accepted member", "accepted: 0, 1"]),
        ("member:99", ["--calibration", "member:99 is not an accepted member", "accepted: 0, 1"]),
    ],
    ids=["bad-value", "rejected-member", "missing-member"],
)
def test_bad_calibration_is_one_line_before_any_output(tmp_path, capsys, ensemble_params, command, value, fragments):
    args = _commands(tmp_path)[command]
    outcome = call(capsys, *args, "--calibration", value)
    assert_one_line_error(outcome, *fragments)
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["run", "forecast", "sweep"])
def test_ensemble_without_an_ensemble_says_so(tmp_path, capsys, monkeypatch, command):
    bare = tmp_path / "bare_params"
    write_fixture_ensemble(bare)
    shutil.rmtree(bare / "ensemble")
    monkeypatch.setenv("SCSIM_PARAMS_DIR", str(bare))
    args = _commands(tmp_path)[command]
    # The forecast's default is ensemble: no flag needed to get there.
    extra = [] if command == "forecast" else ["--calibration", "ensemble"]
    outcome = call(capsys, *args, *extra)
    assert_one_line_error(outcome, "--calibration", "manifest.json does not exist", "--calibration shipped")


def test_population_refuses_the_ensemble(tmp_path, capsys, ensemble_params):
    outcome = call(capsys, *_commands(tmp_path)["population"], "--calibration", "ensemble")
    assert_one_line_error(outcome, "--calibration", "shipped or member:K")


# --- what a member changes -----------------------------------------------------------------------------------


def _old_replicate_metrics(scenario, n, months, seed, draw):
    """``replicate_metrics`` as it was before calibrations: three seed children, shipped files."""
    population_ss, model_ss, parameter_ss = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key).spawn(3)
    approval = engine_approval_model(rng=np.random.default_rng(parameter_ss) if draw else None)
    model = SCSEngine(build_population(n, population_ss), approval, scenario.params(), scenario.schedule(),
                      seed=model_ss)  # fmt: skip
    for _ in range(months):
        model.step()
    return model.metric_history()


@pytest.mark.parametrize("draw", [False, True])
def test_shipped_runs_are_bit_identical_to_the_code_before_calibrations(draw):
    scenario = load_scenario("punitive_shift")
    seed = replicate_seeds(9, 2)[1]
    new = replicate_metrics(scenario, 1200, 13, seed, draw_parameters=draw)
    np.testing.assert_array_equal(new, _old_replicate_metrics(scenario, 1200, 13, seed, draw))
    np.testing.assert_array_equal(new, replicate_metrics(scenario, 1200, 13, seed, draw, calibration="shipped"))


@pytest.mark.parametrize("draw", [False, True])
def test_member_0_equals_shipped_and_member_1_changes_approval(ensemble_params, draw):
    scenario = load_scenario("baseline")
    seed = replicate_seeds(3, 1)[0]
    shipped = replicate_metrics(scenario, 1500, 3, seed, draw)
    np.testing.assert_array_equal(replicate_metrics(scenario, 1500, 3, seed, draw, calibration="member:0"), shipped)
    other = replicate_metrics(scenario, 1500, 3, seed, draw, calibration="member:1")
    assert other[0, APPROVE] != shipped[0, APPROVE] and other[:, APPROVE].mean() != shipped[:, APPROVE].mean()
    joint = replicate_calibration("member:1", seed).joint
    model = engine_approval_model(joint)
    assert {name: model.coefficients[name] for name in MEMBER_1_COEFFICIENTS} == MEMBER_1_COEFFICIENTS
    if draw:
        # Coefficients are drawn around member 1's own point estimate, from its own covariance.
        drawn = engine_approval_model(joint, np.random.default_rng(0))
        assert abs(drawn.coefficients["male"] - 0.44) < 0.2 and drawn.coefficients["male"] != 0.44


def test_a_member_generator_changes_the_citizens_and_the_cache_keys_on_it(tmp_path, monkeypatch):
    root = write_fixture_ensemble(tmp_path / "params")
    path = root / "ensemble" / "member_01" / "population_v2.json"
    data = json.loads(path.read_text())
    data["factor_correlation"] += 0.2
    path.write_text(json.dumps(data))
    monkeypatch.setenv("SCSIM_PARAMS_DIR", str(root))
    seed = replicate_seeds(4, 1)[0]
    # build_population passes its generator on to the sample.
    direct = build_population(2000, 5, GeneratorParams.load(path))
    assert not np.array_equal(direct.covariates["education"], build_population(2000, 5).covariates["education"])
    shipped = cached_population(2000, seed)
    member = cached_population(2000, seed, "member:1")
    assert member is not shipped
    assert not np.array_equal(member.covariates["education"], shipped.covariates["education"])
    assert cached_population(2000, seed) is not member  # the cache never hands one generator's citizens to another
    np.testing.assert_array_equal(cached_population(2000, seed).covariates["age"], shipped.covariates["age"])
    for name, values in replicate_population(2000, seed, "member:1").covariates.items():
        np.testing.assert_array_equal(values, member.covariates[name], err_msg=name)


def test_population_command_uses_the_member(tmp_path, capsys, ensemble_params):
    frames = {}
    for choice in ("shipped", "member:0", "member:1"):
        out = tmp_path / f"{choice.replace(':', '_')}.parquet"
        outcome = call(capsys, "population", "--n", "3000", "--seed", "2", "--out", str(out), "--calibration", choice)
        assert outcome.returncode == 0, outcome.stderr
        frames[choice] = pd.read_parquet(out)
    pd.testing.assert_frame_equal(frames["member:0"], frames["shipped"])
    covariates = [c for c in frames["shipped"].columns if c != "approval"]
    pd.testing.assert_frame_equal(frames["member:1"][covariates], frames["shipped"][covariates])  # same generator
    assert (frames["member:1"]["approval"] != frames["shipped"]["approval"]).sum() > 0  # its joint model scores


# --- the ensemble: one member per replicate --------------------------------------------------------------------


def test_member_draw_is_uniform_and_reproducible():
    seeds = [np.random.SeedSequence(1, spawn_key=(r,)) for r in range(400)]
    draws = [draw_member([3, 5, 8], s) for s in seeds]
    assert draws == [draw_member([3, 5, 8], s) for s in seeds]
    counts = np.bincount(draws, minlength=9)[[3, 5, 8]]
    assert counts.sum() == 400 and counts.min() > 100  # each about 133
    with pytest.raises(UserError, match="no accepted member"):
        draw_member([], seeds[0])


def test_ensemble_draws_members_across_replicates_reproducibly(ensemble_params):
    scenario = load_scenario("baseline")
    first = Simulation(scenario, n=800, seed=1, calibration="ensemble").run(months=2, replications=6)
    again = Simulation(scenario, n=800, seed=1, calibration="ensemble").run(months=2, replications=6)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert first.members == again.members == [0, 0, 1, 0, 1, 1]
    assert set(first.members) == set(ACCEPTED)
    # Each replicate is exactly the run of its member, on the same seed.
    for r, seed in enumerate(replicate_seeds(1, 6)):
        expected = replicate_metrics(scenario, 800, 2, seed, calibration=f"member:{first.members[r]}")
        np.testing.assert_array_equal(first.series().iloc[:, r].to_numpy(), expected[:, APPROVE])
        assert replicate_member("ensemble", seed) == first.members[r]
    # The member stream is separate: coefficient draws do not move the member.
    assert [replicate_member("ensemble", s) for s in replicate_seeds(1, 6)] == first.members


def test_run_manifest_records_the_choice_and_members(tmp_path, capsys, ensemble_params):
    out = tmp_path / "run"
    outcome = call(capsys, "run", "baseline", "--out", str(out), *SMALL_RUN, "--seed", "1", "--calibration", "ensemble")
    assert outcome.returncode == 0, outcome.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["calibration"] == "ensemble" and manifest["calibration_members"] == [0, 0]
    shipped = tmp_path / "shipped"
    assert call(capsys, "run", "baseline", "--out", str(shipped), *SMALL_RUN).returncode == 0
    manifest = json.loads((shipped / "manifest.json").read_text())
    assert manifest["calibration"] == "shipped" and manifest["calibration_members"] == [None, None]
