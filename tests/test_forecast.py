"""The forecast test: verdict logic, pairing, channels, JSON schema, reproducibility."""

import json

import numpy as np
import pytest

from experiments.forecast import Arms, paired, run_forecast, verdict, with_channels
from experiments.forecast_report import write_forecast
from experiments.scenario import load_scenario
from experiments.simulation import replicate_seeds, run_replicate
from sim.params import Channels

REQUIRED_KEYS = {"effect_pp", "ci95", "verdict", "baseline_share", "shift_share", "channels", "subgroups",
                 "dose_response", "replications", "seed"}  # fmt: skip


@pytest.mark.parametrize(
    ("ci", "expected"),
    [
        ((-1.0, -0.1), "supported"),
        ((0.1, 2.0), "contradicted"),
        ((-0.5, 0.5), "inconclusive"),
        ((-0.5, 0.0), "inconclusive"),
        ((0.0, 0.0), "inconclusive"),
    ],
)
def test_verdict_logic(ci, expected):
    assert verdict(ci) == expected


@pytest.fixture(scope="module")
def small_forecast():
    result, frames = run_forecast(load_scenario("baseline"), load_scenario("punitive_shift"), n=3000, months=14,
                                  replications=3, seed=2)  # fmt: skip
    return result, frames


def test_json_schema_and_files(small_forecast, tmp_path):
    result, frames = small_forecast
    write_forecast(result, frames, tmp_path)
    stored = json.loads((tmp_path / "forecast.json").read_text())
    assert REQUIRED_KEYS <= set(stored)
    assert stored["verdict"] in {"supported", "contradicted", "inconclusive"}
    assert len(stored["ci95"]) == 2 and stored["ci95"][0] <= stored["effect_pp"] <= stored["ci95"][1]
    named = {"disadvantage", "fairness", "relative_score", "awareness", "benefits"}
    assert named <= set(stored["channels"]) and "framing" in stored["channels"]
    for value in stored["channels"].values():
        assert {"effect_pp", "ci95"} <= set(value)
    assert [d["multiplier"] for d in stored["dose_response"]] == [1, 2, 4, 8]
    assert "urban=0" in stored["subgroups"] and stored["replications"] == 3 and stored["seed"] == 2
    assert 0 <= stored["uncertainty"]["parameter_share"] <= 1
    for name in ("forecast.md", "trajectories.png", "channels.png", "subgroups.png", "dose_response.png"):
        assert (tmp_path / name).stat().st_size > 200
    assert "percentage points" in (tmp_path / "forecast.md").read_text()


def test_every_channel_off_gives_no_effect(small_forecast):
    result, _ = small_forecast
    low, high = result["all_channels_off"]["ci95"]
    assert low <= 0 <= high
    assert result["all_channels_off"]["effect_pp"] == pytest.approx(0.0, abs=1e-12)


def test_channel_contributions_are_consistent_with_the_total(small_forecast):
    result, _ = small_forecast
    alone = sum(v["effect_pp"] for v in result["channels_alone"].values())
    assert result["effect_pp"] == pytest.approx(alone + result["channel_interaction_pp"])


def test_pairing_shares_citizens_draws_and_coefficients():
    baseline, shift = load_scenario("baseline"), load_scenario("punitive_shift")
    child = replicate_seeds(4, 1)[0]
    base = run_replicate(baseline, 2000, 11, child, 0, draw_parameters=True)
    shifted = run_replicate(shift, 2000, 11, child, 0, draw_parameters=True)
    # Before the shift (month 12) the two arms are the same simulation.
    np.testing.assert_array_equal(base["value"].to_numpy(), shifted["value"].to_numpy())
    other = run_replicate(baseline, 2000, 11, replicate_seeds(5, 1)[0], 0, draw_parameters=True)
    assert not np.array_equal(base["value"].to_numpy(), other["value"].to_numpy())


def test_same_seed_same_result_serial_or_parallel():
    baseline, shift = load_scenario("baseline"), load_scenario("punitive_shift")
    serial = Arms(1500, 13, 2, 7, progress=False, workers=1)
    parallel = Arms(1500, 13, 2, 7, progress=False, workers=2)
    try:
        a = paired(serial.run(baseline), serial.run(shift), "share_approve")
        b = paired(parallel.run(baseline), parallel.run(shift), "share_approve")
    finally:
        serial.close()
        parallel.close()
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_with_channels_switches_only_channels():
    scenario = load_scenario("punitive_shift")
    off = with_channels(scenario, Channels(fairness=False))
    assert off.params().channels.fairness is False and off.params().channels.benefits is True
    assert off.schedule() == scenario.schedule()


def test_same_seed_identical_forecast(small_forecast):
    again, _ = run_forecast(load_scenario("baseline"), load_scenario("punitive_shift"), n=3000, months=14,
                            replications=3, seed=2, workers=2)  # fmt: skip
    first, _ = small_forecast
    assert json.dumps(again, default=float) == json.dumps(first, default=float)
