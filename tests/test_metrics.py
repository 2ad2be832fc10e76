"""Monthly metrics: one fixed set of (group, metric) keys, NaN for empty groups, values equal direct counts."""

import numpy as np
import pytest

from calibration.citizens import build_population, engine_approval_model
from experiments.simulation import Simulation
from sim.metrics import GROUPS, METRIC_KEYS, metric_values
from sim.model import SCSEngine
from sim.params import SimulationParams


def test_small_runs_keep_one_schema_for_every_seed():
    """The groups that exist must not depend on the seed: at N = 400 some seeds have nobody blacklisted."""
    key_sets, empty_blacklisted = set(), 0
    for seed in range(24):
        frame = Simulation.from_scenario("baseline", n=400, seed=seed).run(months=12, replications=1).frame
        key_sets.add(frozenset(zip(frame["group"], frame["metric"], strict=True)))
        assert len(frame) == 13 * len(METRIC_KEYS)
        listed = frame[(frame["group"] == "blacklisted=1") & (frame["metric"] == "share_approve")]["value"]
        empty_blacklisted += int(listed.isna().any())
    assert len(key_sets) == 1
    assert empty_blacklisted > 0  # the case that used to crash occurs in this design


def test_group_appearing_mid_run_is_kept_and_empty_months_are_nan():
    population = build_population(3_000, 2)
    params = SimulationParams.model_validate({"levers": {"blacklist_rate": 0.0, "false_positive_rate": 0.0}})
    model = SCSEngine(population, engine_approval_model(), params, [(2, {"false_positive_rate": 0.05})], seed=4)
    model.run(4)
    history = model.metric_history()  # one vector a month, in the order of METRIC_KEYS
    assert history.shape == (5, len(METRIC_KEYS)) and history.dtype == np.float64
    assert tuple(model.metrics()) == METRIC_KEYS
    rows = [dict(zip(METRIC_KEYS, values, strict=True)) for values in history]
    shares = [row["blacklisted=1|share_approve"] for row in rows]
    assert np.isnan(shares[0]) and np.isnan(shares[1])  # nobody listed before month 2
    assert np.isfinite(shares[2]) and np.isfinite(shares[4])
    assert rows[0]["all|share_blacklisted"] == 0 and rows[4]["all|share_blacklisted"] > 0


def test_group_keys_cover_every_code():
    assert GROUPS[0] == "all"
    expected = {"urban=0", "urban=1", "age_group=1", "age_group=3", "education=1", "education=4", "income_group=3",
                "blacklisted=0", "blacklisted=1", "gov_pilot_participant=1", "commercial_user=0"}  # fmt: skip
    assert expected <= set(GROUPS)
    assert len(set(METRIC_KEYS)) == len(METRIC_KEYS)


def test_shares_of_categories_sum_to_one_where_defined():
    model = SCSEngine(build_population(2_000, 3), engine_approval_model(), SimulationParams(), seed=1).run(2)
    metrics = model.metrics()
    for group in GROUPS:
        shares = [metrics[f"{group}|share_{k}"] for k in range(1, 6)]
        if np.isnan(shares[0]):
            assert all(np.isnan(shares)), group
        else:
            assert sum(shares) == pytest.approx(1.0), group


def test_collected_vectors_equal_the_metrics_dict():
    """Each month is collected as one vector in the order of METRIC_KEYS; ``metrics()`` gives the same values."""
    model = SCSEngine(build_population(400, 5), engine_approval_model(), SimulationParams(), seed=2).run(3)
    history = model.metric_history()
    assert history.shape == (4, len(METRIC_KEYS))
    assert np.isnan(history).any()  # N = 400 leaves some groups empty
    np.testing.assert_array_equal(history[-1], metric_values(model.state, model.approval))
    np.testing.assert_array_equal(history[-1], np.array(list(model.metrics().values())))
