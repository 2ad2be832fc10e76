"""Citizen dynamics: stage invariants, channels, direction of effects, stationarity."""

import gc
import weakref
from dataclasses import replace

import numpy as np
import pytest

from calibration.citizens import build_population, engine_approval_model
from sim.draws import Streams
from sim.metrics import METRIC_KEYS
from sim.model import SCSEngine
from sim.ordered_logit import categorize
from sim.params import Channels, PolicyLevers, SimulationParams
from sim.perceptions import step_perceptions
from sim.policy import PolicyEvents, advantage_hazard, benefit_probabilities, disadvantage_hazard
from sim.state import CHANNEL_COVARIATES, COVARIATES, MOVABLE_COVARIATES, YES_NO_COVARIATES

# Levers that exercise every channel at once.
STRESS = {
    "blacklist_rate": 0.5,
    "false_positive_rate": 0.02,
    "sanction_breadth": 3,
    "algorithm_transparency": 1.0,
    "media_framing": -1.0,
    "pilot_coverage": 0.9,
    "threshold_credit": 900,
}


@pytest.fixture(scope="module")
def population():
    return build_population(20_000, 5)


@pytest.fixture(scope="module")
def approval_model():
    return engine_approval_model()


def run(population, approval_model, months=24, seed=3, channels=None, levers=None, schedule=()):
    params = SimulationParams(channels=channels or Channels(), levers=levers or PolicyLevers())
    return SCSEngine(population, approval_model, params, schedule, seed=seed).run(months)


def test_stage_invariants(population, approval_model):
    model = run(population, approval_model, months=18, schedule=[(6, STRESS)])
    state = model.state
    assert np.all((state.sesame.score() >= 350) & (state.sesame.score() <= 950))
    assert np.all((state.tencent.score() >= 0) & (state.tencent.score() <= 850))
    hazards = advantage_hazard(benefit_probabilities(state, model.levers), model.baseline.advantage_scale)
    assert np.all((hazards >= 0) & (hazards <= 1))
    disadvantage = disadvantage_hazard(state, model.levers, model.baseline.disadvantage_scale)
    assert np.all((disadvantage >= 0) & (disadvantage <= 1))
    # List status and sanctions agree; only residents are listed; wrongful ⊂ listed.
    assert np.array_equal(state.sanctions > 0, state.listed)
    assert np.all(state.sanctions[state.listed] == 3)
    assert not np.any(state.listed & ~state.resident)
    assert not np.any(state.wrongly_listed & ~state.listed)
    assert np.all(state.covariates["disadvantages"][state.listed] == 1)
    for name, (low, high) in {"fairness": (1, 4), "transparency": (1, 3), "relative_score": (1, 5)}.items():
        values = state.covariates[name]
        assert values.min() >= low and values.max() <= high
    assert set(np.unique(model.approval)) <= {1, 2, 3, 4, 5}
    metrics = model.metrics()
    total = sum(metrics[f"all|share_{k}"] for k in range(1, 6))
    assert total == pytest.approx(1.0)


@pytest.mark.parametrize("channel", list(Channels.model_fields))
def test_each_channel_switch_holds_its_covariates(population, approval_model, channel):
    """Alone, a channel moves its covariates; with every channel that writes them off, they stay at t = 0.

    Several channels write the perceived functions (and two write fairness), so
    switching one off holds them only if the others that write them are off too.
    """
    sharing = [other for other, names in CHANNEL_COVARIATES.items() if set(names) & set(CHANNEL_COVARIATES[channel])]
    all_off = dict.fromkeys(Channels.model_fields, False)
    off = run(population, approval_model, channels=Channels(**{**dict.fromkeys(Channels.model_fields, True),
              **dict.fromkeys(sharing, False)}), schedule=[(3, STRESS)])  # fmt: skip
    alone = run(population, approval_model, channels=Channels(**{**all_off, channel: True}), schedule=[(3, STRESS)])
    for name in CHANNEL_COVARIATES[channel]:
        np.testing.assert_array_equal(off.state.covariates[name], off.state.baseline[name])
    assert any(
        not np.array_equal(alone.state.covariates[name], alone.state.baseline[name])
        for name in CHANNEL_COVARIATES[channel]
    ), channel


def test_covariates_no_channel_moves_stay_at_their_t0_values_and_cannot_be_written(population, approval_model):
    """The engine keeps one read-only copy of each covariate no channel moves (sim.state.initial_state)."""
    model = run(population, approval_model, months=12, schedule=[(3, STRESS)])
    fixed = [name for name in COVARIATES if name not in MOVABLE_COVARIATES]
    assert len(fixed) == 12
    for name in fixed:
        values = model.state.covariates[name]
        np.testing.assert_array_equal(values, population.covariates[name][model.state.population_rows])
        assert values is model.state.baseline[name] and not values.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            values[0] = values[0]
    for name in MOVABLE_COVARIATES:
        values = model.state.covariates[name]
        # The yes/no items are whole numbers whatever the channels do: int8 (sim.state.YES_NO_COVARIATES).
        assert values.dtype == (np.int8 if name in YES_NO_COVARIATES else np.float64) and values.flags.writeable
        if name in YES_NO_COVARIATES:
            assert set(np.unique(values)) <= {0, 1}, name


def test_a_released_engine_frees_its_citizens_without_the_garbage_collector(population, approval_model):
    """Mesa's Model is a reference cycle; ``release`` (and leaving ``with``) frees the arrays at once."""
    gc.disable()
    try:
        with SCSEngine(population, approval_model, SimulationParams(), seed=1) as model:
            model.run(2)
            fairness = weakref.ref(model.state.covariates["fairness"])
            history = model.metric_history()
        assert fairness() is None
        assert history.shape[0] == 3  # what was read before release stays
        with pytest.raises(AttributeError):
            model.metrics()
        dropped = SCSEngine(population, approval_model, SimulationParams(), seed=1)
        kept = weakref.ref(dropped.state.covariates["fairness"])
        del dropped
        assert kept() is not None  # without release, the cycle holds them until a collection
    finally:
        gc.enable()


def test_sanctions_never_raise_approval(population, approval_model):
    """Same month, same draws: citizens sanctioned in one copy never approve more than in the other."""
    model = SCSEngine(population, approval_model, SimulationParams(), seed=8)
    model.run(3)
    rng = np.random.default_rng(0)
    target = model.state.resident & ~model.state.listed & (rng.random(model.state.n) < 0.3)
    approvals = []
    for sanctioned in (False, True):
        state = _copy_state(model.state)
        if sanctioned:
            state.listed_months_left[target] = 24
            state.sanctions[target] = 3
        events = PolicyEvents(
            newly_listed=target if sanctioned else np.zeros(state.n, bool),
            newly_wrongly_listed=np.zeros(state.n, bool),
            advantage=np.zeros(state.n, bool),
            disadvantage=state.listed.copy(),
        )
        for _ in range(6):
            streams = Streams.single(np.random.default_rng(1))
            step_perceptions(state, events, model.levers, model.params.dynamics, Channels(), model.baseline, streams)
        xb = approval_model.linear_predictor(state.covariates)
        approvals.append(categorize(xb, state.approval_latent, approval_model.cuts))
    assert np.all(approvals[1][target] <= approvals[0][target])
    assert np.any(approvals[1][target] < approvals[0][target])


def test_harsher_sanctions_never_raise_sanctioned_approval(population, approval_model):
    light = run(population, approval_model, months=30, seed=4, schedule=[(1, {"blacklist_rate": 0.3})])
    harsh = run(
        population, approval_model, months=30, seed=4, schedule=[(1, {"blacklist_rate": 0.3, "sanction_breadth": 3})]
    )
    listed = light.state.listed & harsh.state.listed
    assert listed.sum() > 50
    assert harsh.approval[listed].mean() <= light.approval[listed].mean()


def test_baseline_is_stationary(population, approval_model):
    model = run(population, approval_model, months=36, seed=6)
    start, end = (dict(zip(METRIC_KEYS, values, strict=True)) for values in model.metric_history()[[0, -1]])
    assert abs(end["all|share_approve"] - start["all|share_approve"]) < 0.01
    assert abs(end["all|share_advantages"] - start["all|share_advantages"]) < 0.015
    assert abs(end["all|share_disadvantages"] - start["all|share_disadvantages"]) < 0.015


def test_t0_matches_population(population, approval_model):
    model = SCSEngine(population, approval_model, SimulationParams(), seed=1)
    metrics = model.metrics()
    users = (population.uses_sesame == 1) | (population.uses_tencent == 1)
    assert metrics["all|share_advantages"] == pytest.approx(population.covariates["advantages"][users].mean())
    assert 0.78 < metrics["all|share_approve"] < 0.82  # Table A2 weighted: 80.0%


def test_same_seed_identical(population, approval_model):
    a = run(population, approval_model, months=6, seed=11)
    b = run(population, approval_model, months=6, seed=11)
    c = run(population, approval_model, months=6, seed=12)
    np.testing.assert_array_equal(a.approval, b.approval)
    np.testing.assert_equal(a.metrics(), b.metrics())
    assert a.metrics()["all|share_approve"] != c.metrics()["all|share_approve"]


def _copy_state(state):
    copied = replace(state)
    copied.covariates = {k: v.copy() for k, v in state.covariates.items()}
    for name in ("listed_months_left", "sanctions", "wrongly_listed", "months_since_advantage",
                 "months_since_disadvantage", "fairness_loss", "aware"):  # fmt: skip
        setattr(copied, name, getattr(state, name).copy())
    return copied


def test_metrics_match_direct_counts(population, approval_model):
    model = run(population, approval_model, months=3, schedule=[(1, STRESS)])
    state, approval, metrics = model.state, model.approval, model.metrics()
    users = state.sesame_or_tencent
    checks = {
        "all": np.ones(state.n, bool),
        "urban=0": state.covariates["urban"] == 0,
        "education=1": state.covariates["education"] == 1,
        "age_group=3": state.covariates["age"] >= 51,
        "blacklisted=1": state.listed,
        "gov_pilot_participant=1": state.aware,
        "commercial_user=1": state.commercial,
    }
    for group, mask in checks.items():
        assert metrics[f"{group}|share_5"] == pytest.approx(np.mean(approval[mask] == 5))
        assert metrics[f"{group}|share_approve"] == pytest.approx(np.mean(approval[mask] >= 4))
        assert metrics[f"{group}|mean_approval"] == pytest.approx(approval[mask].mean())
        assert metrics[f"{group}|share_blacklisted"] == pytest.approx(state.listed[mask].mean())
        expected = state.covariates["disadvantages"][mask & users].mean()
        assert metrics[f"{group}|share_disadvantages"] == pytest.approx(expected)


def test_pilot_score_moves_with_conduct_and_redlists_reward_the_top(population, approval_model):
    model = run(population, approval_model, months=12, schedule=[(1, {"redlist_rate": 0.5})])
    state = model.state
    score = state.pilot.score()
    assert score.min() >= 0 and score.max() <= 1000
    redlisted = state.redlisted_months_left > 0
    assert redlisted.any() and not np.any(redlisted & ~state.resident) and not np.any(redlisted & state.listed)
    assert np.median(score[redlisted]) > np.median(score[state.resident])
