"""The network's readers in group × age order give the bits of the direct ones (sim.network)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.network import homophilous_network, tie_counts, tie_means


@pytest.mark.parametrize("degree", range(1, 60))
def test_tie_sums_follow_numpys_order_of_additions(degree):
    """Values of very different sizes make every order of additions give different bits."""
    rng = np.random.default_rng(degree)
    n = 600
    region, urban, age = rng.integers(1, 3, n), rng.integers(0, 2, n), rng.integers(14, 80, n).astype(float)
    network = homophilous_network(np.random.default_rng(degree), region, urban, age, degree)
    values = rng.standard_normal(n) * rng.choice([1e-8, 1.0, 1e8], size=n)
    assert np.array_equal(tie_means(network, values), np.add.reduce(values[network.ties], axis=1) / degree)


@pytest.mark.parametrize(("n", "degree"), [(1, 3), (50, 8), (3000, 8), (3000, 1), (40000, 13)])
def test_tie_means_and_counts_match_gathering_every_tie(n, degree):
    rng = np.random.default_rng(n)
    region, urban, age = rng.integers(1, 4, n), rng.integers(0, 2, n), rng.integers(14, 80, n).astype(float)
    network = homophilous_network(np.random.default_rng(1), region, urban, age, degree)
    values = rng.standard_normal(n)
    assert np.array_equal(tie_means(network, values), values[network.ties].mean(axis=1))
    flags = rng.random(n) < 0.01
    flags[0] = True
    naming, counts = tie_counts(network, np.flatnonzero(flags))
    expected = flags[network.ties].sum(axis=1)
    assert np.array_equal(naming, np.flatnonzero(expected))
    assert np.array_equal(counts, expected[expected > 0])


def test_more_ties_than_numpys_pairwise_block_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="network_degree: must be between 1 and 128, got 129"):
        homophilous_network(rng, np.ones(300, int), np.ones(300, int), np.full(300, 30.0), 129)
