"""The forecast test: verdicts that can come out each way, channel routes, dose–responses, honest summaries."""

import json

import numpy as np
import pytest

from experiments.backends import SerialBackend, make_backend
from experiments.cli import main
from experiments.forecast import ArmRunner, run_forecast, uncertainty_summary, verdict, verdict_settled
from experiments.forecast_design import combined_doses, lever_doses, no_channels, with_channels
from experiments.forecast_report import write_forecast
from experiments.forecast_summary import summary_markdown
from experiments.scenario import Change, load_scenario
from experiments.simulation import replicate_metrics, replicate_seeds
from sim.metrics import METRIC_KEYS
from sim.params import Channels
from sim.state import CHANNEL_COVARIATES


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ((-1.0, -0.1), "supported"),
        ((0.1, 2.0), "contradicted"),
        ((-0.5, 0.5), "inconclusive"),
        ((-0.5, 0.0), "inconclusive"),
        ((0.0, 0.0), "inconclusive"),
    ],
)
def test_verdict_logic(interval, expected):
    assert verdict(interval) == expected


def test_uncertainty_interval_and_its_monte_carlo_error():
    effects = np.random.default_rng(1).normal(-2.0, 0.5, size=400)
    summary = uncertainty_summary(effects, seed=3)
    low, high = summary["uncertainty_interval"]
    assert low == pytest.approx(np.percentile(effects, 2.5)) and high == pytest.approx(np.percentile(effects, 97.5))
    # The ends' bootstrap SE shrinks like 1/√R: a quarter of the replicates roughly doubles it.
    fewer = uncertainty_summary(effects[:100], seed=3)
    assert 1.3 < fewer["uncertainty_interval_mc_se"][1] / summary["uncertainty_interval_mc_se"][1] < 3.5
    assert summary["mean_effect_ci95"][0] < effects.mean() < summary["mean_effect_ci95"][1]
    # An interval touching zero within its Monte Carlo error is not settled; one far from zero is.
    assert verdict_settled(summary)
    near = uncertainty_summary(np.linspace(-1.0, 0.02, 20), seed=3)
    assert not verdict_settled(near)


@pytest.fixture(scope="module")
def small_forecast():
    return run_forecast(load_scenario("baseline"), load_scenario("punitive_shift"), n=1500, months=14,
                        replications=3, seed=2, decomposition_replications=3)  # fmt: skip


def test_json_and_files(small_forecast, tmp_path):
    result, frames = small_forecast
    write_forecast(result, frames, tmp_path)
    stored = json.loads((tmp_path / "forecast.json").read_text())
    assert stored["verdict"] == verdict(stored["uncertainty_interval"])
    assert stored["per_replicate"] == result["per_replicate"] and len(stored["per_replicate"]) == 3
    assert stored["uncertainty"]["total_variance"] == pytest.approx(np.var(stored["per_replicate"], ddof=1))
    assert set(stored["channels"]) == set(CHANNEL_COVARIATES)
    assert set(stored["dose_response"]) == {"blacklist_rate", "false_positive_rate", "sanction_breadth",
                                            "delisting_months"}  # fmt: skip
    for name in ("forecast.md", "trajectories.png", "channels.png", "subgroups.png", "dose_response.png"):
        assert (tmp_path / name).stat().st_size > 200


def test_the_one_times_arm_of_every_lever_is_exactly_zero(small_forecast):
    result, _ = small_forecast
    for name, response in result["dose_response"].items():
        baseline_points = [p for p in response["points"] if p["is_baseline"]]
        assert len(baseline_points) == 1, name
        assert baseline_points[0]["per_replicate"] == [0.0, 0.0, 0.0], name
        assert baseline_points[0]["value"] == response["baseline_value"]
    zero = [p for p in result["combined_dose_response"] if p["fraction"] == 0]
    assert zero[0]["per_replicate"] == [0.0, 0.0, 0.0]
    whole = [p for p in result["combined_dose_response"] if p["fraction"] == 1]
    assert whole[0]["per_replicate"] == result["per_replicate"]


def test_dose_grids_stay_in_range_and_include_the_shift():
    baseline, shift = load_scenario("baseline"), load_scenario("punitive_shift")
    breadth = [dose.value for dose in lever_doses(baseline, shift, "sanction_breadth")]
    assert breadth == [1, 2, 3] and all(isinstance(v, int) for v in breadth)
    delisting = [dose.value for dose in lever_doses(baseline, shift, "delisting_months")]
    assert 36 in delisting and max(delisting) == 120 and min(delisting) == 24
    halves = combined_doses(baseline, shift)[1].scenario.schedule()
    assert halves == [(12, {"blacklist_rate": 0.05, "false_positive_rate": 0.0005, "sanction_breadth": 2,
                            "delisting_months": 30})]  # fmt: skip


def test_channels_without_a_route_are_reported_not_zeroed(small_forecast):
    result, _ = small_forecast
    channels = result["channels"]
    # Punitive shift: coverage never expands and algorithms stay closed.
    assert channels["awareness"]["route"] is False and "contribution" not in channels["awareness"]
    assert channels["transparency"]["route"] is False
    assert channels["sanction_functions"]["route"] is True and "contribution" in channels["sanction_functions"]
    assert channels["punitive_knowledge"]["route"] is True and "contribution" in channels["punitive_knowledge"]
    # The perceived functions move (other channels write them), but media framing stays 0 in both scenarios.
    assert channels["media_functions"]["route"] is False and "contribution" not in channels["media_functions"]
    assert "the input levers of media_functions (media_framing) are 0" in summary_markdown(result)
    text = summary_markdown(result)
    assert "| awareness | no route in this configuration |" in text
    assert "+0.00 |" not in text.split("| awareness |")[1].splitlines()[0]


@pytest.mark.parametrize(
    ("channel", "change"),
    [
        ("disadvantage", {"disadvantage_intensity": 5.0}),
        ("fairness", {"false_positive_rate": 0.02}),
        ("relative_score", {"blacklist_rate": 1.0}),
        ("awareness", {"pilot_coverage": 0.9}),
        ("benefits", {"benefit_generosity": 0.0}),
        ("transparency", {"algorithm_transparency": 1.0}),
        ("sanction_functions", {"blacklist_rate": 0.5}),
        ("media_functions", {"media_framing": 1.0}),
        ("punitive_knowledge", {"media_punitive_share": 0.5}),
        ("visible_enforcement", {"blacklist_rate": 0.5, "sanction_breadth": 3}),
    ],
)
def test_each_channel_moves_approval_in_some_configuration(channel, change):
    """Switching the channel off changes the share approving, so every channel can carry an effect."""
    baseline = load_scenario("baseline")
    scenario = baseline.model_copy(update={"changes": [Change.model_validate({"month": 1, **change})]})
    seed = replicate_seeds(5, 1)[0]
    index = METRIC_KEYS.index("all|share_approve")
    moved = METRIC_KEYS.index(f"all|share_moved_{channel}")
    # Alone, so that no other channel writing the same covariates (the perceived functions) moves them.
    alone = Channels(**{**dict.fromkeys(Channels.model_fields, False), channel: True})
    # Awareness informs only the newly covered who learn of their pilot (about 0.2% a month): in 8
    # months 3 to 8 of 3,000 citizens, too few for a change of category to be expected; in 24, 14 to 20.
    months = 24 if channel == "awareness" else 8
    on = replicate_metrics(with_channels(scenario, alone), 3000, months, seed)
    off = replicate_metrics(with_channels(scenario, no_channels()), 3000, months, seed)
    assert on[1:, moved].max() > 0 and off[:, moved].max() == 0
    assert not np.array_equal(on[:, index], off[:, index]), channel


def test_summary_says_only_what_was_computed(small_forecast):
    result, _ = small_forecast
    text = summary_markdown(result)
    assert f"{result['effect_pp']:+.2f} pp" in text and f"{result['shift_share']:.1f}%" in text
    # Flip the result: the text follows the numbers, so no verdict or channel claim is fixed in code.
    flipped = {**result, "effect_pp": 1.5, "uncertainty_interval": [0.5, 2.5], "verdict": "contradicted"}
    flipped_text = summary_markdown(flipped)
    assert "entirely above zero" in flipped_text and "**contradicted**" in flipped_text
    assert "entirely below zero" not in flipped_text
    largest = max((c for c in result["channels"].items() if c[1]["route"]),
                  key=lambda item: abs(item[1]["contribution"]["effect_pp"]))[0]  # fmt: skip
    assert f"The largest contribution is {largest}'s" in text
    assert "−0.101" not in text and "SE 0.130" not in text


def test_same_seed_same_result_serial_or_parallel():
    baseline, shift = load_scenario("baseline"), load_scenario("punitive_shift")
    arms = {"baseline": (baseline, True, None), "shift": (shift, True, ("all|share_approve",))}
    serial = ArmRunner(1200, 13, 2, 7, SerialBackend(), progress=False).run(arms, 2)
    backend = make_backend("processes", 2)
    try:
        parallel = ArmRunner(1200, 13, 2, 7, backend, progress=False).run(arms, 2)
    finally:
        backend.close()
    for name in arms:
        np.testing.assert_array_equal(serial[name], parallel[name])


def test_pairing_shares_citizens_draws_and_coefficients():
    baseline, shift = load_scenario("baseline"), load_scenario("punitive_shift")
    child = replicate_seeds(4, 1)[0]
    base = replicate_metrics(baseline, 2000, 11, child, draw_parameters=True)
    shifted = replicate_metrics(shift, 2000, 11, child, draw_parameters=True)
    np.testing.assert_array_equal(base, shifted)  # before the shift (month 12) the arms are one simulation
    other = replicate_metrics(baseline, 2000, 11, replicate_seeds(5, 1)[0], draw_parameters=True)
    assert not np.array_equal(base, other)


def _forecast_cli(tmp_path, shift, capsys):
    out = tmp_path / shift
    code = main(["forecast", "--out", str(out), "--shift", shift, "--n", "2000", "--months", "24",
                 "--replications", "4", "--decomposition-replications", "0", "--seed", "0",
                 "--calibration", "shipped", "--prior-draws", "0", "--morris-trajectories", "0"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    return json.loads((out / "forecast.json").read_text())


def test_no_shift_gives_exactly_zero_and_inconclusive(tmp_path, capsys):
    result = _forecast_cli(tmp_path, "baseline", capsys)
    assert result["per_replicate"] == [0.0] * 4 and result["effect_pp"] == 0.0
    assert result["uncertainty_interval"] == [0.0, 0.0] and result["verdict"] == "inconclusive"


def test_a_shipped_scenario_contradicts_the_forecast(tmp_path, capsys):
    result = _forecast_cli(tmp_path, "media_campaign", capsys)
    assert result["verdict"] == "contradicted" and result["uncertainty_interval"][0] > 0
    assert result["channels"]["media_functions"]["route"] is True
    assert (tmp_path / "media_campaign" / "forecast.md").read_text().count("**contradicted**") == 1
