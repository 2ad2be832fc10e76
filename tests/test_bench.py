"""``scsim bench`` and memory across repeated runs (the figures themselves are for benchmarks/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, call

from sim.model import STAGES

KEYS = ("agent_steps_per_s", "reference_agent_steps_per_s", "speedup", "bytes_per_citizen", "setup_seconds",
        "stage_seconds")  # fmt: skip


def test_bench_prints_every_figure_as_json(capsys):
    result = call(capsys, "bench", "--n", "3000", "--months", "2", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in KEYS:
        assert key in figures
    assert figures["n"] == 3000 and figures["months"] == 2 and figures["reference_n"] == 2209
    assert figures["agent_steps_per_s"] > 0 and figures["reference_agent_steps_per_s"] > 0
    assert figures["speedup"] == pytest.approx(figures["agent_steps_per_s"] / figures["reference_agent_steps_per_s"])
    assert tuple(figures["stage_seconds"]) == STAGES
    # The stages are the month, bar the schedule and Mesa's own step wrapper.
    assert 0 < sum(figures["stage_seconds"].values()) <= figures["seconds_per_month"]
    assert figures["machine"]["blas_threads"] == 1


def test_bench_text_names_the_figures(capsys):
    result = call(capsys, "bench", "--n", "2500", "--months", "1")
    assert result.returncode == 0, result.stderr
    for fragment in ("agent-steps per second", "per stage (ms per month)", "bytes per citizen", "speed-up"):
        assert fragment in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--n", "0"], "--n: must be an integer >= 1"), (["--months", "x"], "--months: must be an integer >= 1")],
)
def test_bench_refuses_bad_input(capsys, args, message):
    assert_one_line_error(call(capsys, "bench", *args), message)


@pytest.mark.slow
def test_memory_does_not_grow_across_repeated_runs():
    # A fresh process, so nothing this test session allocated counts.
    script = textwrap.dedent("""
        import gc, json
        from experiments.bench import _resident_bytes
        from experiments.scenario import load_scenario
        from experiments.simulation import replicate_metrics, replicate_seeds
        scenario = load_scenario("baseline")
        sizes = []
        for seed in replicate_seeds(1, 20):
            replicate_metrics(scenario, 100_000, 2, seed)
            gc.collect()
            sizes.append(_resident_bytes())
        print(json.dumps(sizes))
    """)
    # glibc raises its mmap threshold as large blocks are freed, so a later run's arrays may stay in the
    # heap: a step of up to ~60 MB in resident size that is the allocator settling, not a leak. A fixed
    # threshold keeps every large array on mmap, so what is left measures what the runs hold on to.
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment)
    sizes = json.loads(result.stdout)
    assert len(sizes) == 20 and sizes[0] > 0
    growth_mb = (sizes[-1] - sizes[0]) / 2**20
    assert growth_mb < 50, f"resident size grew by {growth_mb:.1f} MB over 20 runs of 100,000 citizens: {sizes}"


def test_compact_timers_hold_every_value_the_schema_allows():
    # The list timers are int8 to save memory: a longer delisting_months range would wrap them silently.
    from calibration.citizens import build_population, engine_approval_model
    from sim.model import SCSEngine
    from sim.params import PolicyLevers
    from sim.policy import REDLIST_MONTHS
    from sim.schema import parameter_specs

    state = SCSEngine(build_population(500, 1), engine_approval_model(), seed=1).state
    assert parameter_specs(PolicyLevers)["delisting_months"].high <= np.iinfo(state.listed_months_left.dtype).max
    assert REDLIST_MONTHS <= np.iinfo(state.redlisted_months_left.dtype).max
    assert 600 <= np.iinfo(state.months_since_advantage.dtype).max  # the longest horizon a scenario allows
