"""The model as Mesa users build it: flat construction, batch_run, flat reporters, one clock, the app's model."""

from __future__ import annotations

import socket

import mesa
import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, call

from calibration.citizens import build_population, engine_approval_model
from experiments.app import AppModel, components, model_params, reference_figures
from experiments.model import SCSModel
from experiments.scenario import load_scenario
from experiments.simulation import replicate_metrics, replicate_seeds
from sim.app import APP_LEVERS, lever_inputs
from sim.errors import ParameterError, UserError
from sim.metrics import METRIC_KEYS, MetricCollector
from sim.model import SCSEngine
from sim.params import PolicyLevers
from sim.schema import parameter_specs


def test_batch_run_builds_the_model_and_its_iterations_differ():
    rows = mesa.batch_run(
        SCSModel,
        parameters={"n": 2_000, "months": 6, "blacklist_rate": [0.002, 0.2]},
        iterations=2,
        max_steps=10,  # beyond the horizon: the running flag stops each run at month 6
        data_collection_period=1,
        display_progress=False,
    )
    frame = pd.DataFrame(rows)
    # Mesa's batch_run reports steps 0..steps-1; Step s holds month s (the collector's row s).
    assert len(frame) == 2 * 2 * 6 and set(frame["Step"]) == set(range(6))
    last = frame[frame["Step"] == 5]
    for _, runs in last.groupby("blacklist_rate"):
        # seed=None draws fresh entropy: two iterations of one setting are two different samples
        assert runs["all|mean_approval"].nunique() == 2
    by_rate = last.groupby("blacklist_rate")["all|share_blacklisted"].mean()
    assert by_rate[0.2] > by_rate[0.002]


def test_model_vars_frame_has_one_scalar_column_per_metric():
    model = SCSModel(n=2_000, seed=3, months=4)
    while model.running:
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    assert list(frame.columns) == list(METRIC_KEYS)
    assert frame.shape == (5, len(METRIC_KEYS))
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    for column in ("all|share_approve", "all|mean_approval", "urban=0|share_approve", "age_group=3|share_approve",
                   "all|share_blacklisted", "all|share_advantages", "all|share_disadvantages",
                   *(f"all|share_{k}" for k in range(1, 6))):  # fmt: skip
        assert column in frame.columns
    shares = frame[[f"all|share_{k}" for k in range(1, 6)]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0, atol=1e-12)
    # The tidy store reads the same columns.
    np.testing.assert_array_equal(model.metric_history(), frame.to_numpy())


def test_fast_collect_records_what_mesas_own_collect_records():
    model = SCSEngine(build_population(1_500, 2), engine_approval_model(), seed=2).run(3)
    reference = MetricCollector()
    mesa.DataCollector.collect(reference, model)  # Mesa's path: each reporter called, its value deep-copied
    fast = MetricCollector()
    fast.collect(model)
    pd.testing.assert_frame_equal(reference.get_model_vars_dataframe(), fast.get_model_vars_dataframe())
    np.testing.assert_array_equal(fast.history()[0], model.metric_history()[-1])


def test_one_clock_and_the_running_flag():
    model = SCSModel(n=1_000, seed=1, months=3)
    assert model.steps == model.month == 0 and model.running
    model.step()
    model.step()
    assert model.steps == model.month == 2 and model.running
    model.step()
    assert model.steps == 3 and not model.running
    assert not hasattr(model.state, "month")  # no second clock in the state
    assert not SCSModel(n=1_000, seed=1, months=0).running


def test_flat_model_is_replicate_zero_of_a_scenario_run():
    model = SCSModel(n=2_000, seed=11, scenario="punitive_shift", months=14).run(14)
    expected = replicate_metrics(load_scenario("punitive_shift"), 2_000, 14, replicate_seeds(11, 1)[0])
    np.testing.assert_array_equal(model.metric_history(), expected)
    again = SCSModel(n=2_000, seed=model.root_seed, scenario="punitive_shift", months=14).run(14)
    np.testing.assert_array_equal(again.metric_history(), expected)


def test_fresh_entropy_is_kept_to_reproduce_the_run():
    first = SCSModel(n=1_000, months=2).run(2)
    assert first.root_seed != SCSModel(n=1_000, months=2).root_seed
    replay = SCSModel(n=1_000, seed=first.root_seed, months=2).run(2)
    np.testing.assert_array_equal(first.metric_history(), replay.metric_history())


def test_keyword_levers_apply_from_month_one_at_any_value_the_schema_allows():
    specs = parameter_specs(PolicyLevers)
    # Outside the t = 0 (status quo) range, yet a policy from month 1: it runs.
    assert specs["blacklist_rate"].status_quo[1] < 1.0
    model = SCSModel(n=1_500, seed=4, months=3, blacklist_rate=1.0, sanction_breadth=3)
    base = SCSModel(n=1_500, seed=4, months=3)
    np.testing.assert_array_equal(model.metric_history()[0], base.metric_history()[0])  # month 0 is the survey
    model.run(3)
    base.run(3)
    listed = METRIC_KEYS.index("all|share_blacklisted")
    assert model.metric_history()[3, listed] > base.metric_history()[3, listed]


def test_live_lever_changes_equal_keyword_levers():
    live = SCSModel(n=1_500, seed=5, months=4)
    live.change_levers(blacklist_rate=0.3)
    live.change_levers(blacklist_rate=0.5)  # a dragged slider: the last value wins, one entry per month
    assert live.schedule == [(1, {"blacklist_rate": 0.5})]
    live.run(4)
    keyword = SCSModel(n=1_500, seed=5, months=4, blacklist_rate=0.5).run(4)
    np.testing.assert_array_equal(live.metric_history(), keyword.metric_history())


def test_a_slider_moved_while_play_steps_is_never_lost(monkeypatch):
    import threading
    import time

    import sim.model

    # Validation sits between reading the month and storing the change; slowed down, it leaves Play time to
    # apply that month in between, which is the race a live slider runs.
    checked = sim.model.validated

    def slow_validated(*args, **kwargs):
        time.sleep(0.0005)
        return checked(*args, **kwargs)

    monkeypatch.setattr(sim.model, "validated", slow_validated)
    model = SCSModel(n=300, seed=6, months=600)
    applied: dict[int, dict] = {}
    apply_schedule = model._apply_schedule

    def recording(month):
        apply_schedule(month)
        applied[month] = {k: v for m, changes in model.schedule if m == month for k, v in changes.items()}

    model._apply_schedule = recording
    values = [round(0.001 * k, 3) for k in range(1, 101)]
    moved = threading.Event()

    def slider():
        start = model.steps
        for value in values:
            model.change_levers(blacklist_rate=value)
        # On a loaded machine every move can land within one month: keep moving (to the last value again)
        # until Play has stepped at least twice meanwhile, so that moves always race the steps.
        while model.steps < min(start + 2, 598):  # 598: where the stepping loop below stops
            model.change_levers(blacklist_rate=values[-1])
        moved.set()

    thread = threading.Thread(target=slider)
    thread.start()
    while not moved.is_set() and model.steps < 598:
        model.step()
    thread.join()
    assert 2 <= model.steps < 598, "the slider did not move while the model stepped"
    model.step()  # the month the last move was dated for
    lost = [(m, c) for m, c in model.schedule if applied.get(m) != c]
    assert lost == [], f"{len(lost)} of {len(model.schedule)} changes were stored after their month was applied"
    assert model.levers.blacklist_rate == values[-1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n: must be a whole number >= 1, got 0"),
        ({"n": 2.5}, "n: must be a whole number >= 1, got 2.5"),
        ({"months": -1}, "months: must be a whole number between 0 and 600, got -1"),
        ({"seed": -3}, "seed: must be a whole number >= 0, got -3"),
        ({"blacklist_rate": 2.0}, "levers.blacklist_rate: must be a number between 0 and 1, got 2.0"),
        ({"no_such_lever": 1}, "levers.no_such_lever: unknown key; allowed: threshold_credit"),
        ({"scenario": "nope"}, "scenario: nope not found (shipped scenarios: baseline"),
        ({"scenario": 5}, "scenario: must be a scenario name, a TOML path or a Scenario, got 5"),
        ({"scenario": "punitive_shift", "months": 6}, "is after the horizon of 6 months"),
    ],
)
def test_bad_arguments_are_one_line_errors_naming_the_field(kwargs, message):
    with pytest.raises(UserError) as caught:
        SCSModel(**{"n": 1_000, **kwargs})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_engine_refuses_a_bad_horizon():
    with pytest.raises(ParameterError, match="horizon: must be a whole number of months >= 0"):
        SCSEngine(build_population(500, 1), engine_approval_model(), horizon=-1)


def test_app_model_replaces_bad_text_fields_and_says_so():
    model = AppModel(n="abc", seed="", scenario="punitive_shift", months=6)
    assert model.n == 20_000 and model.root_seed == 1
    problems = " | ".join(model.input_problems)
    assert "citizens: must be a whole number between 1,000 and 1,000,000, got 'abc'; using 20,000" in problems
    assert "seed: must be a whole number between 0 and" in problems and "got ''" in problems
    # A scenario whose change lies beyond the horizon falls back to the baseline, and says why.
    assert "is after the horizon of 6 months" in problems
    assert problems.endswith("; using the baseline scenario with 60 months")
    assert model.scenario.name == "baseline" and model.horizon == 60
    assert AppModel(n="2,000", seed="7").input_problems == []
    too_small = AppModel(n="5", seed="7")
    assert too_small.n == 20_000
    assert too_small.input_problems == [
        "citizens: must be a whole number between 1,000 and 1,000,000, got '5'; using 20,000"
    ]


def test_app_model_falls_back_cleanly_after_a_refusal_inside_the_engine(monkeypatch):
    import sim.model
    from sim.errors import StatusQuoError

    real = sim.model.calibrate_baseline
    calls = []

    def refuse_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # raised after mesa.Model.__init__ has run
            raise StatusQuoError("parameters at t = 0 cannot reproduce Table A2 (test)")
        return real(*args, **kwargs)

    monkeypatch.setattr(sim.model, "calibrate_baseline", refuse_once)
    model = AppModel(n="1000", seed="3", months=12)
    assert "cannot reproduce Table A2 (test); using the baseline scenario" in model.input_problems[0]
    model.step()
    assert model.steps == 1  # one step a month, not two


def test_app_sliders_come_from_the_schema():
    specs = parameter_specs(PolicyLevers)
    inputs = {item.name: item for item in lever_inputs(defaults={"pilot_coverage": 0.43})}
    assert tuple(inputs) == APP_LEVERS
    for name, item in inputs.items():
        spec = specs[name]
        assert (item.low, item.high) == (spec.low, spec.high)
        assert item.integer == (spec.kind == "int")
        assert spec.doc in item.help and spec.source in item.help
        # Defaults lie on the slider's grid, or the browser would move them by itself.
        assert abs(item.default / item.step - round(item.default / item.step)) < 1e-9
    with pytest.raises(ValueError, match="pilot_coverage: the schema has no default"):
        lever_inputs()


def test_app_parts_render_for_a_model():
    model = AppModel(n="1000", seed="2", months=12)
    model.run(2)
    parts = components(model)
    assert len(parts) == 6 and all(page == 0 for _, page in parts)
    assert {"n", "seed", "scenario", "months"} == set(model_params())
    for figure in reference_figures():
        assert figure.metric in METRIC_KEYS
        assert figure.paper is None or 0 < figure.paper < 1


def test_scsim_app_listens_on_this_machine_only_by_default():
    from experiments.cli import build_parser

    assert build_parser().parse_args(["app"]).host == "127.0.0.1"
    assert build_parser().parse_args(["app", "--host", "0.0.0.0"]).host == "0.0.0.0"


def test_scsim_app_refuses_a_bad_port(capsys):
    assert_one_line_error(call(capsys, "app", "--port", "70000"), "--port: must be an integer between 1 and 65535")
    assert_one_line_error(call(capsys, "app", "--port", "x"), "--port: must be an integer between 1 and 65535")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = call(capsys, "app", "--port", str(port))
    assert_one_line_error(result, f"--port: cannot listen on 127.0.0.1:{port}")
    assert_one_line_error(call(capsys, "app", "--host", "no-such-host.invalid"), "--host: cannot resolve")
