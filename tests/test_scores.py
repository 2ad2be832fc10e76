"""Commercial score dynamics: bands at t=0, stationarity, conduct."""

import numpy as np

from sim.scores import SESAME_EDGES, TENCENT_EDGES, ScoreParams, default_propensity, initial_scores, step_scores

SESAME_SHARES = np.array([1.45, 3.90, 11.69, 40.64, 28.57, 6.88])  # Table A2, unweighted


def start(n=200_000, seed=1, params=None):
    params = params or ScoreParams()
    rng = np.random.default_rng(seed)
    band = rng.choice(np.arange(1, 7), size=n, p=SESAME_SHARES / SESAME_SHARES.sum())
    return band, initial_scores(rng, band, SESAME_SHARES, SESAME_EDGES, params), rng


def test_initial_scores_fall_in_reported_band():
    band, state, _ = start()
    np.testing.assert_array_equal(state.band(), band)
    score = state.score()
    assert np.all(score >= SESAME_EDGES[band - 1] - 1e-9) and np.all(score <= SESAME_EDGES[band] + 1e-9)


def test_band_distribution_is_stationary():
    band, state, rng = start()
    initial = np.bincount(band, minlength=7)[1:] / band.size
    for _ in range(60):
        state, _ = step_scores(state, ScoreParams(), rng)
    final = np.bincount(state.band(), minlength=7)[1:] / band.size
    np.testing.assert_allclose(final, initial, atol=0.004)
    assert np.all((state.score() >= 350) & (state.score() <= 950))
    # Scores do move: most citizens are no longer at their starting latent.
    assert np.mean(np.abs(state.latent() - start()[1].latent()) > 0.05) > 0.8


def test_defaults_follow_propensity_and_lower_scores():
    params = ScoreParams(default_rate=0.03)
    _, state, rng = start(params=params)
    propensity = default_propensity(state, params)
    assert abs(propensity.mean() - 0.03) < 0.001
    assert np.corrcoef(propensity, state.level)[0, 1] < 0
    before = state.score()
    state, defaulted = step_scores(state, params, rng)
    assert abs(defaulted.mean() - 0.03) < 0.002
    change = state.score() - before
    assert change[defaulted].mean() < change[~defaulted].mean()


def test_reproducible_and_tencent_range():
    shares = np.array([3.52, 3.23, 3.08, 3.96, 6.89, 11.73, 17.01, 15.54, 7.18])  # Table A2
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(4)
        band = rng.choice(np.arange(1, 10), size=10_000, p=shares / shares.sum())
        state = initial_scores(rng, band, shares, TENCENT_EDGES, ScoreParams())
        state, _ = step_scores(state, ScoreParams(), rng)
        runs.append(state.score())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].min() >= 0 and runs[0].max() <= 850
