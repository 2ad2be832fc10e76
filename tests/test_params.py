"""The parameter schema: strict types, ranges, status-quo ranges, and every extreme runs."""

import numpy as np
import pytest

from calibration.citizens import build_population, engine_approval_model
from experiments.simulation import Simulation
from sim.errors import ParameterError, StatusQuoError, UserError
from sim.model import SCSEngine
from sim.params import PARAMETER_GROUPS, DynamicsParams, PolicyLevers, SimulationParams
from sim.schema import parameter_specs, validated
from sim.scores import ScoreParams


@pytest.fixture(scope="module")
def population():
    return build_population(2_000, 1)


@pytest.fixture(scope="module")
def approval_model():
    return engine_approval_model()


@pytest.mark.parametrize(
    ("model", "data", "fragments"),
    [
        (PolicyLevers, {"blacklist_rate": True}, ["blacklist_rate", "a number between 0 and 1", "True"]),
        (PolicyLevers, {"blacklist_rate": "0.02"}, ["blacklist_rate", "'0.02'"]),
        (PolicyLevers, {"blacklist_rate": float("nan")}, ["blacklist_rate", "nan"]),
        (PolicyLevers, {"blacklist_rate": float("inf")}, ["blacklist_rate", "inf"]),
        (PolicyLevers, {"sanction_breadth": 2.5}, ["sanction_breadth", "an integer between 1 and 3", "2.5"]),
        (PolicyLevers, {"sanction_breadth": 2.0}, ["sanction_breadth", "an integer"]),
        (PolicyLevers, {"delisting_months": 121}, ["delisting_months", "between 1 and 120"]),
        (DynamicsParams, {"recall_months": 12.0}, ["recall_months", "an integer between 1 and 60"]),
        (DynamicsParams, {"network_degree": 0}, ["network_degree", "between 1 and 50"]),
        (ScoreParams, {"default_rate": 0.5}, ["default_rate", "between 0 and 0.05"]),
        (ScoreParams, {"persistence": -0.1}, ["persistence", "between 0 and 0.999"]),
        (PolicyLevers, {"blacklist": 0.1}, ["blacklist", "unknown key", "blacklist_rate"]),
    ],
)
def test_strict_types_and_ranges(model, data, fragments):
    with pytest.raises(ParameterError) as err:
        validated(model, data)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_integers_stay_integers_and_numbers_are_typed():
    levers = validated(PolicyLevers, {"sanction_breadth": 2, "blacklist_rate": 1})
    assert levers.sanction_breadth == 2 and isinstance(levers.sanction_breadth, int)
    assert isinstance(levers.blacklist_rate, float)
    assert isinstance(DynamicsParams().recall_months, int) and isinstance(PolicyLevers().delisting_months, int)


def test_every_field_documents_its_source_and_range():
    for group, model in PARAMETER_GROUPS.items():
        for name, spec in parameter_specs(model).items():
            assert spec.doc, (group, name)
            if group != "channels":
                assert spec.source and spec.range_reason, (group, name)
                assert spec.low is not None and spec.high is not None and spec.low <= spec.high, (group, name)
                if spec.default is not None:
                    assert spec.low <= spec.default <= spec.high, (group, name)


@pytest.mark.parametrize(
    ("group", "name", "value"),
    [
        ("levers", "blacklist_rate", 0.25),
        ("levers", "false_positive_rate", 0.05),
        ("levers", "media_framing", 0.5),
        ("levers", "algorithm_transparency", 1.0),
        ("levers", "benefit_generosity", 2.0),
        ("levers", "pilot_coverage", 0.6),
    ],
)
def test_status_quo_refuses_t0_values_the_survey_rules_out(population, approval_model, group, name, value):
    data = SimulationParams().model_dump()
    data[group][name] = value
    params = SimulationParams.model_validate(data)
    with pytest.raises(ParameterError) as err:
        SCSEngine(population, approval_model, params, seed=1)
    assert f"{group}.{name}: at t = 0" in str(err.value) and "[[changes]]" in str(err.value)
    # The same value is a valid change from a later month.
    SCSEngine(population, approval_model, SimulationParams(), [(1, {name: value})], seed=1).run(1)


def test_infeasible_combination_names_the_parameters(population, approval_model):
    """Each value is inside its status-quo range; together they cannot give Table A2's 25.1% disadvantages."""
    params = SimulationParams(
        levers=PolicyLevers(blacklist_rate=0.05, delisting_months=60),
        dynamics=DynamicsParams(disadvantage_persistence=0.95),
    )
    with pytest.raises(StatusQuoError) as err:
        SCSEngine(population, approval_model, params, seed=1)
    message = str(err.value)
    assert "\n" not in message and "disadvantages" in message
    for name in ("levers.blacklist_rate", "levers.delisting_months", "dynamics.disadvantage_persistence"):
        assert name in message


def _extremes():
    for group, model in PARAMETER_GROUPS.items():
        if group == "channels":
            continue
        for name, spec in parameter_specs(model).items():
            for value in (spec.low, spec.high):
                yield group, name, int(value) if spec.kind == "int" else float(value)


def test_every_parameter_runs_at_both_ends_of_its_range(population, approval_model):
    """Minimum and maximum of every parameter: t = 0 where its status-quo range allows, else as a change."""
    ran, refused = 0, 0
    for group, name, value in _extremes():
        data = SimulationParams().model_dump()
        data[group][name] = value
        params = SimulationParams.model_validate(data)
        try:
            model = SCSEngine(population, approval_model, params, seed=1)
        except ParameterError as err:
            assert f"{group}.{name}: at t = 0" in str(err), str(err)
            refused += 1
        else:
            model.run(3)
            assert np.isin(model.approval, [1, 2, 3, 4, 5]).all()
            ran += 1
        if group == "levers":
            model = SCSEngine(population, approval_model, SimulationParams(), [(1, {name: value})], seed=1).run(3)
            assert model.levers.model_dump()[name] == value
    assert ran > 60 and refused > 0


def test_channels_are_strict_booleans():
    with pytest.raises(ParameterError, match=r"channels\.fairness: must be true or false"):
        validated(SimulationParams, {"channels": {"fairness": 1}})


def test_schedule_is_validated_before_the_run(population, approval_model):
    for schedule, fragment in (
        ([(3, {"sanction_breadth": 2.5})], "changes.0.sanction_breadth: must be an integer"),
        ([(0, {"blacklist_rate": 0.1})], "changes.0.month"),
        ([(2, {"nonsense": 1})], "changes.0.nonsense: unknown key"),
    ):
        with pytest.raises(ParameterError, match=fragment):
            SCSEngine(population, approval_model, SimulationParams(), schedule, seed=1)


def test_change_after_the_horizon_is_an_error():
    with pytest.raises(UserError, match=r"changes\.0\.month: 12 is after the horizon of 6 months"):
        Simulation.from_scenario("punitive_shift", n=200, seed=1).run(months=6)


def test_coverage_expands_and_contracts_without_reshuffling(population, approval_model):
    schedule = [(1, {"pilot_coverage": 0.8}), (2, {"pilot_coverage": 0.2})]
    model = SCSEngine(population, approval_model, SimulationParams(), schedule, seed=1)
    initial = model.state.resident.copy()
    model.step()
    wide = model.state.resident.copy()
    model.step()
    narrow = model.state.resident.copy()
    assert np.all(wide[initial]) and abs(wide.mean() - 0.8) < 0.03
    assert np.all(initial[narrow]) and abs(narrow.mean() - 0.2) < 0.03
