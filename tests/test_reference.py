"""The engine against its per-agent Mesa reference (``sim/reference``): the same rules, the same trajectories.

Every stage matches to the last bit: scores, policy (coverage, black- and
redlists, sanctions, benefits, disadvantages), perceptions (every channel,
including the two that read ties) and approval. The reference does each
floating-point operation in the engine's order with the same functions
(scipy's ``ndtr`` on one float, NumPy's pairwise sum for the ties' mean), so
no stage needs a comparison in distribution.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

from calibration.citizens import build_population, engine_approval_model
from sim.metrics import METRIC_KEYS
from sim.model import SCSEngine
from sim.params import Channels, SimulationParams
from sim.reference import ReferenceModel

PUNITIVE_FROM_MONTH_6 = [(6, {"blacklist_rate": 0.1, "sanction_breadth": 3})]
# Published algorithms, framing, full coverage and many wrongful listings from
# month 2, then narrower coverage, generous benefits and short listings with
# credit restrictions: every channel moves some citizen's covariates. The
# newly covered learn of their pilot slowly (0.2% a month at seed 2), so
# coverage stays full for seven months.
EVERY_CHANNEL_MOVES = [
    (2, {"algorithm_transparency": 1.0, "media_framing": -0.7, "pilot_coverage": 1.0, "false_positive_rate": 0.02}),
    (9, {"pilot_coverage": 0.2, "benefit_generosity": 3.0, "delisting_months": 2, "sanction_breadth": 2}),
]


def column(history: np.ndarray, key: str) -> np.ndarray:
    return history[:, METRIC_KEYS.index(key)]


@pytest.fixture(scope="module")
def approval_model():
    return engine_approval_model()


def run_both(n, months, approval_model, schedule=(), seed=1, params=None):
    """The engine's and the reference's histories, and both models at the end."""
    population = build_population(n, seed)
    engine = SCSEngine(population, approval_model, params, schedule, seed=seed).run(months)
    reference = ReferenceModel(population, approval_model, params, schedule, seed=seed).run(months)
    return engine, reference


def assert_same_citizens(engine, reference):
    """The final month's approval, covariates and list status, citizen by citizen."""
    np.testing.assert_array_equal(reference.approval, engine.approval)
    for name, values in engine.state.covariates.items():
        np.testing.assert_array_equal(reference.state.covariates[name], values, err_msg=name)
    np.testing.assert_array_equal(reference.state.listed_months_left, engine.state.listed_months_left)
    np.testing.assert_array_equal(reference.state.benefits_this_month, engine.state.benefits_this_month)


def test_reference_matches_the_engine_exactly_with_every_channel_on(approval_model):
    assert all(SimulationParams().channels.model_dump().values())
    engine, reference = run_both(2_209, 24, approval_model, PUNITIVE_FROM_MONTH_6)
    with reference:
        history = engine.metric_history()
        assert history.shape == (25, len(METRIC_KEYS))
        assert np.array_equal(reference.metric_history(), history, equal_nan=True)
        assert_same_citizens(engine, reference)
        # The lever change reached the policy stages the comparison is meant to cover.
        assert column(history, "all|share_sanction_public_naming")[:6].max() == 0
        assert column(history, "all|share_sanction_public_naming")[-1] > 0
        assert column(history, "all|share_blacklisted")[-1] > column(history, "all|share_blacklisted")[0]
        for key in ("all|share_wrongly_listed", "all|share_redlisted", "all|share_benefit_visa"):
            assert column(history, key)[1:].max() > 0, key


def test_reference_matches_the_engine_exactly_when_every_channel_moves(approval_model):
    engine, reference = run_both(1_000, 12, approval_model, EVERY_CHANNEL_MOVES, seed=2)
    with reference:
        history = engine.metric_history()
        assert np.array_equal(reference.metric_history(), history, equal_nan=True)
        assert_same_citizens(engine, reference)
        for channel in Channels.model_fields:
            assert column(history, f"all|share_moved_{channel}").max() > 0, channel


def test_reference_matches_the_engine_with_channels_off_and_few_ties(approval_model):
    params = SimulationParams.model_validate(
        {
            "channels": {"fairness": False, "sanction_functions": False, "media_functions": False},
            "dynamics": {"network_degree": 3},
        }
    )
    engine, reference = run_both(800, 6, approval_model, [(2, {"false_positive_rate": 0.05})], seed=3, params=params)
    with reference:
        assert np.array_equal(reference.metric_history(), engine.metric_history(), equal_nan=True)


def test_reference_runs_a_small_population_with_defaults(approval_model):
    population = build_population(300, 2)
    with ReferenceModel(population, approval_model, seed=2) as reference:
        engine = SCSEngine(population, approval_model, seed=2)
        # Identically seeded: the monthly stream starts where the engine's does.
        assert reference.streams.shock.bit_generator.state == engine.streams.shock.bit_generator.state
        assert reference.streams.benefits[-1].bit_generator.state == engine.streams.benefits[-1].bit_generator.state
        assert len(reference.agents) == 300
        history = reference.run(3).metric_history()
        assert history.shape == (4, len(METRIC_KEYS))
        assert np.isfinite(column(history, "all|share_approve")).all()
        assert np.array_equal(history, engine.run(3).metric_history(), equal_nan=True)


def test_the_order_of_citizens_within_a_phase_does_not_matter(approval_model):
    population = build_population(300, 5)
    with ReferenceModel(population, approval_model, seed=5) as first:
        first.run(4)
    with ReferenceModel(population, approval_model, seed=5) as second:
        # A different Mesa seed shuffles the citizens in another order every phase.
        second.reset_randomizer(12345)
        second.run(4)
    assert np.array_equal(first.metric_history(), second.metric_history(), equal_nan=True)


def test_consecutive_reference_models_are_freed(approval_model):
    population = build_population(300, 1)
    tracemalloc.start()
    try:
        live = ReferenceModel(population, approval_model, seed=0)
        one_model = tracemalloc.get_traced_memory()[0]
        del live
        gc.collect()
        models, sizes = [], []
        for seed in range(10):
            with ReferenceModel(population, approval_model, seed=seed) as model:
                model.run(1)
            models.append(weakref.ref(model))
            del model
            gc.collect()
            sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert all(ref() is None for ref in models)
    # Nine more models cost less than a tenth of one kept alive (caches elsewhere grow a little).
    assert sizes[-1] - sizes[0] < one_model / 10
