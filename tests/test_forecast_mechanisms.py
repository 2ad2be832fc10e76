"""The forecast can come out either way: its verdict follows the mechanisms' parameters, not the design."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calibration.citizens import build_population, engine_approval_model
from experiments.cli import main
from experiments.forecast import run_forecast
from experiments.forecast_groups import group_effects
from experiments.forecast_prior import LIST_SHARE_BOUNDS, draw_assumptions, prior_ranges, xu_passes
from experiments.forecast_summary import summary_markdown
from experiments.scenario import load_scenario
from sim.model import APPROVES, EVER_LISTED, KNOWS_PUNITIVE_USES, SCSEngine
from sim.params import DynamicsParams
from sim.schema import parameter_specs

# Visible enforcement strong enough to outweigh what the punitive shift costs: the seen
# punishment of dishonest conduct builds trust (Interview 5) far beyond Xu et al.'s evidence.
ENFORCEMENT_DOMINATES = {"enforcement_gain": 3.0, "knowledge_drop": 0.0, "sanction_function_drop": 0.0}


def small(baseline, shift, **kwargs):
    result, _ = run_forecast(baseline, shift, n=6_000, months=24, replications=6, decomposition_replications=0,
                             **kwargs)  # fmt: skip
    return result


def with_dynamics(name: str, **dynamics):
    scenario = load_scenario(name)
    return scenario.model_copy(update={"dynamics": scenario.dynamics.model_copy(update=dynamics)})


def test_when_visible_enforcement_dominates_the_forecast_is_contradicted():
    result = small(with_dynamics("baseline", **ENFORCEMENT_DOMINATES),
                   with_dynamics("punitive_shift", **ENFORCEMENT_DOMINATES))  # fmt: skip
    assert result["verdict"] == "contradicted", result["uncertainty_interval"]
    # The never-sanctioned, who can only learn or see, gain most of it.
    assert result["by_sanction"]["never_sanctioned"]["effect_pp"] > 0


def test_with_visible_enforcement_off_the_same_configuration_supports_it():
    baseline = with_dynamics("baseline", **ENFORCEMENT_DOMINATES)
    shift = with_dynamics("punitive_shift", **ENFORCEMENT_DOMINATES)
    off = {"channels": baseline.channels.model_copy(update={"visible_enforcement": False})}
    result = small(baseline.model_copy(update=off), shift.model_copy(update=off))
    assert result["verdict"] == "supported", result["uncertainty_interval"]


def test_with_default_assumptions_the_shift_lowers_approval_among_the_never_sanctioned_too():
    result = small(load_scenario("baseline"), load_scenario("punitive_shift"))
    assert result["verdict"] == "supported"
    never = result["by_sanction"]["never_sanctioned"]
    assert never["share_of_citizens"] > 0.9 and never["effect_pp"] < 0
    assert result["by_sanction"]["learned_only"]["effect_pp"] < never["effect_pp"]


def test_shift_baseline_gives_exactly_zero(tmp_path):
    out = tmp_path / "same"
    code = main(["forecast", "--shift", "baseline", "--out", str(out), "--n", "3000", "--months", "12",
                 "--replications", "3", "--decomposition-replications", "0", "--prior-draws", "0",
                 "--morris-trajectories", "0", "--backend", "serial"])  # fmt: skip
    assert code == 0
    result = json.loads((out / "forecast.json").read_text())
    assert result["effect_pp"] == 0 and result["uncertainty_interval"] == [0, 0]
    assert result["by_sanction"]["never_sanctioned"]["effect_pp"] == 0
    assert result["verdict"] == "inconclusive"


def test_group_effects_compare_the_same_citizens():
    base = np.array([[APPROVES, APPROVES, 0, APPROVES | KNOWS_PUNITIVE_USES]], dtype=np.uint8)
    shift = np.array([[0, APPROVES | EVER_LISTED, APPROVES | KNOWS_PUNITIVE_USES, KNOWS_PUNITIVE_USES]], dtype=np.uint8)
    effects, shares = group_effects(base, shift)
    # Citizen 1 is sanctioned under the shift; 0, 2 and 3 never are; only 2 learned.
    assert shares["sanctioned"][0] == 0.25 and shares["never_sanctioned"][0] == 0.75
    assert effects["sanctioned"][0] == 0
    assert effects["never_sanctioned"][0] == pytest.approx(100 * (1 / 3 - 2 / 3))
    assert effects["learned_only"][0] == 100


def test_every_prior_lies_in_its_range_and_draws_are_reproducible():
    specs = parameter_specs(DynamicsParams)
    ranges = prior_ranges()
    assert {"knowledge_drop", "enforcement_gain", "knowledge_decay", "tie_learning"} <= set(ranges)
    for name, (low, high) in ranges.items():
        assert specs[name].low <= low < high <= specs[name].high and specs[name].prior_reason, name
    first, again = draw_assumptions(3, 50), draw_assumptions(3, 50)
    assert first == again and first != draw_assumptions(4, 50)
    for name, (low, high) in ranges.items():
        values = [draw[name] for draw in first]
        assert low <= min(values) and max(values) <= high
        # A Latin hypercube: one draw in each fiftieth of the prior.
        assert len({int(50 * (v - low) / (high - low)) for v in values}) == 50


def test_the_checks_accept_and_reject():
    assert xu_passes({"repression_info": -0.12, "social_order_frame": 0.01}) == {
        "repression_info": True, "social_order_frame": True}  # fmt: skip
    assert xu_passes({"repression_info": -0.05, "social_order_frame": 0.03}) == {
        "repression_info": False, "social_order_frame": False}  # fmt: skip
    low, high = LIST_SHARE_BOUNDS
    # The 2018 baseline's blacklisted share, as the engine starts it, lies inside; ten times it does not.
    # At 200,000 citizens the share's sampling error (about 0.02 points) is a tenth of what separates
    # ten times it (about 7.1%) from the upper bound; at 20,000 a draw of 0.64% put ten times it inside.
    with SCSEngine(build_population(200_000, 1), engine_approval_model(), seed=1) as engine:
        share = engine.metrics()["all|share_blacklisted"]
    assert 0 < low < share < high < 10 * share


def test_prior_draws_are_filtered_and_split_the_variance():
    result = small(load_scenario("baseline"), load_scenario("punitive_shift"), prior_draws=16, morris_trajectories=2)
    prior = result["prior"]
    assert prior["draws"] == 16 and 0 <= prior["accepted"] <= 16
    assert prior["acceptance_rate"] == prior["accepted"] / 16
    accepted = [row for row in prior["per_draw"] if row["accepted"]]
    assert len(accepted) == prior["accepted"]
    assert all(all(row["passes"].values()) for row in accepted)
    rejected = [row for row in prior["per_draw"] if not row["accepted"]]
    assert rejected and all(not all(row["passes"].values()) for row in rejected)
    components = result["uncertainty"]["components"]
    assert set(components) == {"chance", "coefficients", "calibrations", "assumptions"}
    morris = result["morris"]
    assert len(result["top_assumptions_by_morris"]) == 3
    assert set(morris["mu_star"]) == set(prior_ranges())
    top = result["top_assumptions_by_morris"]
    assert morris["mu_star"][top[0]] >= morris["mu_star"][top[1]] >= morris["mu_star"][top[2]]
    # The summary follows the numbers: the count, and a verdict only when there are draws enough for one.
    text = summary_markdown(result)
    assert f"{prior['accepted']} of 16 draws" in text and top[0] in text
    none = {**result, "prior": {**prior, "verdict": None}}
    assert "Too few draws were accepted" in summary_markdown(none)
    flipped = {**result, "prior": {**prior, "verdict": "contradicted", "effect_pp": 1.0,
                                   "uncertainty_interval": [0.2, 1.8]}}  # fmt: skip
    assert "**contradicted** under the filtered prior" in summary_markdown(flipped)


def test_the_main_job_draws_the_assumptions_and_screens_them_by_default():
    from experiments.cli import build_parser

    args = build_parser().parse_args(["forecast", "--out", "somewhere"])
    assert args.prior_draws == 400 and args.morris_trajectories == 6


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--prior-draws", "-1", "--prior-draws"), ("--morris-trajectories", "1", "morris_trajectories: must be 0")],
)
def test_bad_prior_options_get_one_line(tmp_path, capsys, flag, value, message):
    try:
        code = main(["forecast", "--out", str(tmp_path / "f"), "--n", "500", "--months", "12", "--replications",
                     "2", "--decomposition-replications", "0", "--backend", "serial", flag, value])  # fmt: skip
    except SystemExit as exit_:  # argparse's own check of the value
        code = exit_.code
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err
    assert not (tmp_path / "f").exists()
