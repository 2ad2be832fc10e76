"""Seeds: an integer or a SeedSequence, passed through without collapsing, never advanced."""

import numpy as np
import pandas as pd

from calibration.citizens import build_population
from calibration.report import model_distributions
from calibration.sample import draw_citizens, generate_sample


def test_sample_from_a_seed_sequence_is_the_sample_from_its_integer(default_rule):
    by_int = generate_sample(2_000, 8, default_rule).to_frame()
    root = np.random.SeedSequence(8)
    pd.testing.assert_frame_equal(generate_sample(2_000, root, default_rule).to_frame(), by_int)
    # The caller's SeedSequence is copied, not advanced: a second call is identical.
    pd.testing.assert_frame_equal(generate_sample(2_000, root, default_rule).to_frame(), by_int)
    assert root.n_children_spawned == 0


def test_draw_citizens_takes_a_seed_sequence(small_sample):
    child = np.random.SeedSequence(4, spawn_key=(1,))
    first = draw_citizens(small_sample, 3_000, child)
    np.testing.assert_array_equal(first, draw_citizens(small_sample, 3_000, child))
    assert not np.array_equal(first, draw_citizens(small_sample, 3_000, np.random.SeedSequence(4, spawn_key=(2,))))


def test_build_population_passes_its_seed_sequence_through():
    seed = np.random.SeedSequence(6, spawn_key=(0,))
    first, second = build_population(3_000, seed), build_population(3_000, seed)
    assert seed.n_children_spawned == 0
    for name, values in first.covariates.items():
        np.testing.assert_array_equal(values, second.covariates[name], err_msg=name)
    other = build_population(3_000, np.random.SeedSequence(6, spawn_key=(1,)))
    assert not np.array_equal(first.covariates["age"], other.covariates["age"])


def test_report_subsamples_follow_the_seed(large_sample):
    # The location gaps are measured on seeded subsamples of 20,000: same seed, same table.
    a = model_distributions(large_sample, seed=3)
    pd.testing.assert_frame_equal(a, model_distributions(large_sample, seed=3))
    b = model_distributions(large_sample, seed=4)
    assert not np.allclose(a["location_shift_logits"], b["location_shift_logits"], rtol=0, atol=1e-12)
