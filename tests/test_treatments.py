"""Survey experiments in silico (``sim.treatments``) and their calibration to Xu, Kostka & Cao (2022)."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.citizens import build_population, engine_approval_model
from calibration.information import TARGETS, shipped, xu2022_treatment
from experiments.scenario import Scenario, ScenarioError, load_scenario
from experiments.simulation import Simulation
from experiments.treatment_effects import summarise
from sim.errors import ParameterError
from sim.model import SCSEngine
from sim.params import DynamicsParams, SimulationParams
from sim.treatments import Treatment


@pytest.fixture(scope="module")
def approval_model():
    return engine_approval_model()


@pytest.mark.parametrize(
    ("scenario", "low", "high"),
    [("xu2022_repression", -0.16, -0.08), ("xu2022_social_order", -0.02, 0.02)],
)
def test_xu2022_scenarios_reproduce_the_published_effects(scenario, low, high):
    # What `scsim run <scenario>` computes, at its default N, for the month of the treatment.
    results = Simulation.from_scenario(scenario, n=100_000, seed=0).run(months=1, replications=2)
    summary = summarise(results.treatments)
    (entry,) = summary.values()
    overall = entry["right_after"]["all"]
    assert overall["n_treated"] > 10_000 and overall["n_control"] > 10_000
    assert low <= overall["relative_change"] <= high, overall
    # Both replicates, not only their mean, lie in the band.
    assert low <= overall["interval"][0] and overall["interval"][1] <= high


def test_shipped_scenarios_are_the_solved_experiment():
    for kind, scenario in (("repression_info", "xu2022_repression"), ("social_order_frame", "xu2022_social_order")):
        (treatment,) = load_scenario(scenario).treatments
        solved = xu2022_treatment(kind)
        assert (treatment.kind, treatment.share, treatment.month) == (solved.kind, solved.share, solved.month)
        assert treatment.subgroup == solved.subgroup


def test_the_solved_effect_sizes_are_the_defaults_and_hit_their_targets():
    result = shipped()
    defaults = DynamicsParams()
    assert set(result["effects"]) == set(TARGETS)
    for name, entry in result["effects"].items():
        assert getattr(defaults, name) == entry["value"], name
        low, high = entry["accepted_band"]
        assert low <= entry["achieved_relative_change"] <= high
        assert entry["achieved_relative_change"] == pytest.approx(entry["target_relative_change"], abs=5e-4)


def test_a_treatment_changes_no_control_citizens_draws(approval_model):
    population = build_population(20_000, 4)
    treatment = Treatment(name="t", kind="repression_info", share=0.3, month=2)
    with SCSEngine(population, approval_model, seed=4, treatments=[treatment]) as treated_run:
        treated_run.run(4)
        arm = treated_run.arms[0]
        with_treatment = treated_run.approval.copy()
    with SCSEngine(population, approval_model, seed=4) as plain:
        plain.run(4)
        without = plain.approval.copy()
    # Controls are untouched, and no treated citizen approves more (knowledge only lowers covariates).
    np.testing.assert_array_equal(with_treatment[arm.control], without[arm.control])
    assert (with_treatment[arm.treated] <= without[arm.treated]).all()
    assert (with_treatment[arm.treated] < without[arm.treated]).any()


def test_a_larger_knowledge_drop_never_raises_a_treated_citizens_approval(approval_model):
    population = build_population(20_000, 6)
    treatment = xu2022_treatment("repression_info")
    approvals = []
    for drop in (0.0, 0.5, 1.5):
        params = SimulationParams(dynamics=DynamicsParams(knowledge_drop=drop))
        with SCSEngine(population, approval_model, params, seed=6, treatments=[treatment]) as engine:
            engine.run(1)
            approvals.append(engine.approval[engine.arms[0].treated].astype(int))
    assert (np.diff(np.stack(approvals), axis=0) <= 0).all()
    assert approvals[2].mean() < approvals[0].mean()


def test_arms_are_disjoint_with_one_control(approval_model):
    population = build_population(5_000, 7)
    treatments = [
        Treatment(name="a", kind="repression_info", share=0.3, month=1),
        Treatment(name="b", kind="social_order_frame", share=0.3, month=1),
    ]
    with SCSEngine(population, approval_model, seed=7, treatments=treatments) as engine:
        first, second = engine.arms
        assert not np.intersect1d(first.treated, second.treated).size
        np.testing.assert_array_equal(first.control, second.control)
        assert not np.intersect1d(first.control, np.union1d(first.treated, second.treated)).size


@pytest.mark.parametrize(
    ("treatment", "message"),
    [
        ({"share": 0.0}, "treatments.0.share: input should be greater than 0"),
        ({"share": 1.0}, "treatments.0.share: input should be less than 1"),
        ({"month": 0}, "treatments.0.month: must be an integer between 1 and 600, got 0"),
        ({"kind": "rumour"}, "treatments.0.kind: input should be 'repression_info' or 'social_order_frame'"),
        ({"subgroup": {"height": {"min": 1, "max": 2}}}, "subgroup.height: not a covariate"),
        ({"subgroup": {"age": {"min": 30, "max": 20}}}, "min (30) must not exceed max (20)"),
        ({"dose": 2}, "treatments.0.dose: unknown key"),
    ],
)
def test_bad_treatments_get_one_line_naming_the_field(tmp_path, treatment, message):
    block = {"name": "t", "kind": "repression_info", "share": 0.5, "month": 1, **treatment}
    lines = ["name = 'bad'", "[[treatments]]"]
    for key, value in block.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k} = {{ min = {v['min']}, max = {v['max']} }}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            lines.append(f"{key} = {value!r}")
    path = tmp_path / "bad.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_treatment_after_the_horizon_or_with_an_empty_arm_is_refused(approval_model):
    scenario = Scenario(name="late", treatments=[Treatment(name="t", kind="repression_info", share=0.5, month=7)])
    with pytest.raises(ScenarioError, match=r"treatments\.0\.month: 7 is after the horizon of 6 months"):
        scenario.check_horizon(6)
    nobody = Treatment(name="t", kind="repression_info", share=0.5, month=1, subgroup={"age": {"min": 200, "max": 300}})
    with pytest.raises(ParameterError, match=r"treatments\.t: 0 treated and 0 control"):
        SCSEngine(build_population(500, 1), approval_model, seed=1, treatments=[nobody])


def test_re_solving_from_the_shipped_values_reproduces_them():
    """The effect sizes are a fixed point of the solve: one round from them changes neither (about 25 s)."""
    from calibration.information import solve

    result = solve()
    assert result["rounds"] == 1
    assert {name: entry["value"] for name, entry in result["effects"].items()} == {
        name: entry["value"] for name, entry in shipped()["effects"].items()
    }
