"""The month's draws (sim.draws): only the uniforms below a rule's ceiling, with the distribution of full arrays.

The rules compare a citizen's uniform with a chance no larger than the ceiling
(``tests/test_reference.py`` checks the rules themselves against the per-agent
reference), so what must hold is that the draws kept are those of n
independent uniforms below the ceiling: which citizens hold one
(Bernoulli(ceiling) each, independently), and their values (uniform below the
ceiling). These tests check both, on each of the two ways of drawing (gaps
below ``GAP_CEILING``, every uniform above), and then the rules' outcomes
against full arrays of uniforms.
"""

import numpy as np
import pytest
from scipy import stats

from calibration.citizens import build_population, engine_approval_model
from sim.draws import GAP_CEILING, Buffers, Groups, Streams, uniforms_below
from sim.experiences import benefit_chances, benefit_groups, receive_benefits
from sim.model import SCSEngine
from sim.params import ADVANTAGE_TYPES, SimulationParams
from sim.policy import latent_eligibility
from sim.scores import conduct_month, move_scores, step_scores

CEILINGS = (0.0002, 0.02, GAP_CEILING / 2, GAP_CEILING, 0.6, 1.0)


@pytest.mark.parametrize("ceiling", CEILINGS)
def test_who_is_drawn_below_the_ceiling_is_bernoulli(ceiling):
    n = 400_000
    drawn = uniforms_below(np.random.default_rng(7), n, ceiling)
    count = drawn.citizens.size
    # The count is Binomial(n, ceiling): within five standard deviations.
    assert abs(count - n * ceiling) <= 5 * np.sqrt(n * ceiling * (1 - ceiling)) + 1
    assert np.all(np.diff(drawn.citizens) > 0) and drawn.citizens.min() >= 0 and drawn.citizens.max() < n
    if ceiling < 1:
        # Gaps between those drawn are geometric(ceiling): its mean and the chi-square of its first values.
        gaps = np.diff(drawn.citizens)
        assert abs(gaps.mean() - 1 / ceiling) <= 5 * np.sqrt((1 - ceiling) / ceiling**2 / gaps.size)
        # In about six bins of equal probability (the geometric is discrete: bins end at its quantiles).
        edges = np.unique(stats.geom.ppf(np.arange(1, 6) / 6, ceiling))
        probabilities = np.diff([0.0, *stats.geom.cdf(edges, ceiling), 1.0])
        observed = np.bincount(np.searchsorted(edges, gaps), minlength=probabilities.size)
        expected = probabilities * gaps.size
        chi2 = ((observed - expected) ** 2 / expected).sum()
        assert probabilities.size >= 2 and expected.min() > 5
        assert stats.chi2.sf(chi2, probabilities.size - 1) > 1e-4, (observed, expected)
        # No memory: successive gaps are uncorrelated.
        if gaps.size > 100:
            assert abs(np.corrcoef(gaps[:-1], gaps[1:])[0, 1]) < 5 / np.sqrt(gaps.size)


@pytest.mark.parametrize("ceiling", [c for c in CEILINGS if c > 0.001])
def test_values_drawn_are_uniform_below_the_ceiling(ceiling):
    drawn = uniforms_below(np.random.default_rng(8), 200_000, ceiling)
    assert np.all(drawn.draws >= 0) and np.all(drawn.draws < ceiling)
    assert stats.kstest(drawn.draws / ceiling, "uniform").pvalue > 1e-4


def test_no_ceiling_draws_nobody_and_a_full_ceiling_everybody():
    rng = np.random.default_rng(1)
    assert uniforms_below(rng, 1000, 0.0).citizens.size == 0
    assert uniforms_below(rng, 1000, -1.0).citizens.size == 0
    assert np.array_equal(uniforms_below(rng, 1000, 1.0).citizens, np.arange(1000))
    assert uniforms_below(rng, 0, 0.5).citizens.size == 0


def test_groups_draw_below_their_own_ceilings():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, 300_000)
    groups = Groups.of(codes, 4)
    ceilings = np.array([0.0, 0.01, 0.2, 0.7])
    drawn = uniforms_below(np.random.default_rng(4), codes.size, ceilings, groups)
    assert np.all(drawn.draws < ceilings[codes[drawn.citizens]])
    for code, ceiling in enumerate(ceilings):
        size, count = np.count_nonzero(codes == code), np.count_nonzero(codes[drawn.citizens] == code)
        assert abs(count - size * ceiling) <= 5 * np.sqrt(size * ceiling * (1 - ceiling)) + 1, code
    # Expanded, every citizen holds a draw: their own below the ceiling, the ceiling otherwise.
    full = drawn.expanded()
    assert np.array_equal(np.flatnonzero(full < ceilings[codes]), np.sort(drawn.citizens))
    others = np.setdiff1d(np.arange(codes.size), drawn.citizens)
    assert np.all(full[others] == ceilings[codes][others])


def test_a_full_buffer_is_grown_without_losing_or_repeating_a_draw(monkeypatch):
    """Past the room reserved (the expected count and ten standard deviations), the draw carries on."""
    for ceiling in (0.05, 0.6):  # gaps, and every uniform
        whole = uniforms_below(np.random.default_rng(5), 50_000, ceiling)
        room = Buffers.room
        requests = []

        def cramped(self, size, requests=requests, room=room):
            requests.append(size)
            return room(self, 10 if len(requests) == 1 else size)

        monkeypatch.setattr(Buffers, "room", cramped)
        grown = uniforms_below(np.random.default_rng(5), 50_000, ceiling, buffers=Buffers())
        monkeypatch.undo()
        assert len(requests) > 1
        assert np.array_equal(whole.citizens, grown.citizens) and np.array_equal(whole.draws, grown.draws)


def test_a_month_of_conduct_uses_numpys_standard_normal_to_the_last_bit():
    """``conduct_month`` draws its shocks inside the compiled pass: the same numbers as NumPy's, and the
    same scores and defaults as ``step_scores`` and ``move_scores`` given those shocks."""
    engine = SCSEngine(build_population(3_000, 4), engine_approval_model(), SimulationParams(), seed=4)
    state, params = engine.state, SimulationParams().scores
    systems = (state.sesame, state.tencent, state.pilot)
    (sesame, tencent, pilot), defaulted = conduct_month(np.random.default_rng(11), systems, params)
    shock = np.random.default_rng(11).standard_normal(state.n)
    expected_sesame, expected_defaults = step_scores(state.sesame, params, np.random.default_rng(0), shock)
    assert np.array_equal(sesame.deviation, expected_sesame.deviation)
    assert np.array_equal(defaulted, expected_defaults) and defaulted.any()
    assert np.array_equal(tencent.deviation, move_scores(state.tencent, params, shock).deviation)
    assert np.array_equal(pilot.deviation, move_scores(state.pilot, params, shock).deviation)


def test_benefits_drawn_below_the_ceilings_match_full_arrays_of_uniforms_in_distribution():
    """Receivers of each benefit type: the same counts, in every class and place, as ``u < chance`` with
    one uniform per citizen (the rule before draws were kept below the ceilings)."""
    engine = SCSEngine(build_population(20_000, 3), engine_approval_model(), SimulationParams(), seed=3)
    engine.run(2)
    state, levers, baseline = engine.state, engine.levers, engine.baseline
    latent, listed = state.best_latent(), state.listed
    tables = benefit_chances(levers, baseline.advantage_levels)
    groups = benefit_groups(state, baseline.advantage_class, baseline.advantage_levels.size)
    eligible = latent_eligibility(state, levers, latent)
    chance = eligible * tables[:, groups.codes]
    repeats = 300
    sparse = np.zeros(chance.shape)
    dense = np.zeros(chance.shape)
    for repeat in range(repeats):
        streams = Streams.single(np.random.default_rng(1000 + repeat))
        received = receive_benefits(
            state, levers, baseline.advantage_levels, baseline.advantage_class, latent, listed, streams.benefits,
            np.zeros(state.n, dtype=bool),
        )  # fmt: skip
        for row, citizens in enumerate(received):
            sparse[row, citizens] += 1
        dense += np.random.default_rng(5000 + repeat).random(chance.shape) < chance
    assert sparse.sum() > 1000
    # Nobody ineligible receives anything.
    assert not np.any(sparse[chance == 0])
    for row, name in enumerate(ADVANTAGE_TYPES):
        for code in range(groups.starts.size - 1):
            members = groups.codes == code
            expected = chance[row, members].sum() * repeats
            sd = np.sqrt((chance[row, members] * (1 - chance[row, members])).sum() * repeats)
            assert abs(sparse[row, members].sum() - expected) <= 5 * sd + 1, (name, code)
            assert abs(dense[row, members].sum() - expected) <= 5 * sd + 1, (name, code)


def _stream_states(engine):
    streams = engine.streams
    named = {name: getattr(streams, name) for name in ("shock", "listing", "wrongful", "redlist", "disadvantage")}
    named |= {name: getattr(streams, name) for name in ("learn", "forget")}
    named |= {f"benefit_{index}": rng for index, rng in enumerate(streams.benefits)}
    return {name: rng.bit_generator.state["state"] for name, rng in named.items()}


def test_levers_draw_no_numbers_of_their_own():
    """Runs differing in listing levers, or in benefit and disadvantage levers below their t = 0 values,
    consume the same numbers from every stream (common random numbers in paired runs)."""
    population = build_population(5_000, 2)
    milder = {"blacklist_rate": 0.001, "false_positive_rate": 0.0, "redlist_rate": 0.0, "benefit_generosity": 0.5,
              "disadvantage_intensity": 0.5}  # fmt: skip
    harsher = {"blacklist_rate": 0.6, "false_positive_rate": 0.05, "redlist_rate": 1.0}
    runs = [
        SCSEngine(population, engine_approval_model(), SimulationParams(), schedule=schedule, seed=9).run(6)
        for schedule in ([], [(1, milder)], [(1, harsher)])
    ]
    assert _stream_states(runs[0]) == _stream_states(runs[1]) == _stream_states(runs[2])
    # So a harsher blacklist lists everyone a milder one lists (in the first month, before lists differ).
    first = [
        SCSEngine(population, engine_approval_model(), SimulationParams(), schedule=[(1, levers)], seed=9).run(1)
        for levers in (milder, harsher)
    ]
    mild, harsh = (engine.state.ever_listed for engine in first)
    assert np.all(harsh[mild]) and harsh.sum() > mild.sum()


def test_more_generous_benefits_draw_their_own_numbers_and_leave_the_other_streams():
    population = build_population(5_000, 2)
    base = SCSEngine(population, engine_approval_model(), SimulationParams(), seed=9).run(4)
    generous = SCSEngine(
        population, engine_approval_model(), SimulationParams(), schedule=[(1, {"benefit_generosity": 3.0})], seed=9
    ).run(4)
    before, after = _stream_states(base), _stream_states(generous)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {f"benefit_{index}" for index in range(len(ADVANTAGE_TYPES))}
