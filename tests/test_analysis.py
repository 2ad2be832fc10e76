"""scsim analyze: Sobol, Morris, grid, LHS and PRIM on synthetic sweeps with a known response, one tiny real
sweep end to end, and the one-line errors."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, call

from experiments.analysis_plots import plot_morris_ranking

STATUS_FAIL = "dynamics.recall_months: too short to start a run"


def write_store(root: Path, kind: str, factors: list[dict], units: np.ndarray, response, *, paired: bool = False,
                outcomes=("all|share_approve",), replications: int = 1, months: int = 2, levels: int | None = None,
                failed_points=(), spread: float = 0.0) -> Path:  # fmt: skip
    """A finished sweep directory whose outcome at the horizon is ``response(units)`` (in stored units).

    Every other month holds 0. Replicate r adds ``spread × (r − (replications − 1) / 2)``, so the replicates'
    mean is the response. ``failed_points`` are runs that could not start (NaN, status not "ok").
    Factor values are the unit coordinates mapped linearly to [min, max], or to the listed values.
    """
    root.mkdir(parents=True, exist_ok=True)
    names = [f["name"] for f in factors]
    values = []
    for row in units:
        point = {}
        for factor, unit in zip(factors, row, strict=True):
            if "values" in factor:
                choices = factor["values"]
                point[factor["name"]] = choices[min(int(unit * len(choices)), len(choices) - 1)]
            else:
                point[factor["name"]] = factor["min"] + unit * (factor["max"] - factor["min"])
        values.append(point)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    points = len(units)
    file = {"months": months, "replications": replications, "n": 100, "scenario": "baseline", "levels": levels,
            "effect": {"shift": "punitive_shift"} if paired else None}  # fmt: skip
    manifest = {
        "kind": "scsim-sweep", "sweep_name": "synthetic", "sweep": {"file": file}, "source": "synthetic.toml",
        "factors": factors, "outcomes": list(outcomes), "paired_effect": paired,
        "design": {"kind": kind, "problem": problem, "units": units.tolist(), "values": values, "points": points},
        "runs": points * replications,
    }  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(manifest))
    y = np.asarray(response(units), dtype=float)
    rows = []
    for point in range(points):
        for replicate in range(replications):
            status = STATUS_FAIL if point in failed_points else "ok"
            for month in range(months + 1):
                for index, outcome in enumerate(outcomes):
                    noise = spread * (replicate - (replications - 1) / 2)
                    value = (index + 1) * y[point] + noise if month == months else 0.0
                    rows.append({"run": point * replications + replicate, "point": point, "replicate": replicate,
                                 "month": month, "outcome": outcome, "value": np.nan if status != "ok" else value,
                                 "status": status, **values[point]})  # fmt: skip
    pd.DataFrame(rows).to_parquet(root / "results.parquet", index=False)
    return root


def continuous(*names: str) -> list[dict]:
    return [{"name": name, "kind": "lever", "type": "float", "min": 0.0, "max": 1.0} for name in names]


def analysis(root: Path) -> dict:
    return json.loads((root / "analysis.json").read_text())


def sobol_units(d: int, n: int = 256) -> np.ndarray:
    from SALib.sample import sobol

    problem = {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0.0, 1.0]] * d}
    return sobol.sample(problem, n, calc_second_order=False, seed=np.random.default_rng(1))


def test_sobol_ranks_the_dominant_factor_first_and_finds_the_inert_one(tmp_path, capsys):
    units = sobol_units(3)
    root = write_store(tmp_path / "s", "sobol", continuous("a", "b", "c"), units,
                       lambda u: 0.10 * u[:, 0] + 0.02 * u[:, 1])  # fmt: skip
    result = call(capsys, "analyze", str(root))
    assert result.returncode == 0, result.stderr
    sobol = analysis(root)["outcomes"]["all|share_approve"]["sobol"]
    assert sobol["ranking_by_ST"] == ["a", "b", "c"]
    factors = sobol["factors"]
    # Additive: a carries 0.01 / (0.01 + 0.0004) of the variance, b the rest, c none.
    assert factors["a"]["ST"] == pytest.approx(0.96, abs=0.05)
    assert factors["a"]["S1"] == pytest.approx(0.96, abs=0.1)
    assert abs(factors["c"]["ST"]) < 0.01 and factors["a"]["ST_conf"] > 0
    assert (root / "analysis" / "sobol_share_approve.png").is_file()
    assert "discovery skipped" in result.stdout  # a level outcome without --threshold


def test_sobol_and_morris_refuse_missing_points_with_one_line(tmp_path, capsys):
    units = sobol_units(3, 64)
    root = write_store(tmp_path / "s", "sobol", continuous("a", "b", "c"), units, lambda u: u[:, 0],
                       failed_points=(3, 7, 11))  # fmt: skip
    line = assert_one_line_error(call(capsys, "analyze", str(root)), "3 of 320 design points", "narrow")
    assert STATUS_FAIL in line
    assert not (root / "analysis.json").exists()


def test_morris_orders_factors_by_mu_star_in_pp_of_a_paired_effect(tmp_path, capsys):
    from SALib.sample import morris

    problem = {"num_vars": 4, "names": list("abcd"), "bounds": [[0.0, 1.0]] * 4}
    units = morris.sample(problem, 20, num_levels=4, seed=np.random.default_rng(2))
    uncertainty = {"name": "dynamics.d", "kind": "uncertainty", "type": "float", "min": 0.0, "max": 1.0}
    factors = [*continuous("a", "b", "c"), uncertainty]
    # A linear effect in share units: every elementary effect of factor j is exactly coefficient j (× 100 in pp).
    root = write_store(tmp_path / "m", "morris", factors, units, lambda u: -0.03 * u[:, 0] + 0.01 * u[:, 1]
                       - 0.002 * u[:, 2], paired=True, levels=4)  # fmt: skip
    result = call(capsys, "analyze", str(root))
    assert result.returncode == 0, result.stderr
    entry = analysis(root)["outcomes"]["all|share_approve"]
    assert entry["unit"] == "pp"
    morris_result = entry["morris"]
    assert morris_result["ranking_by_mu_star"] == ["a", "b", "c", "dynamics.d"]
    for name, expected in (("a", 3.0), ("b", 1.0), ("c", 0.2), ("dynamics.d", 0.0)):
        assert morris_result["factors"][name]["mu_star"] == pytest.approx(expected, abs=1e-9)
        assert morris_result["factors"][name]["sigma"] == pytest.approx(0.0, abs=1e-9)
    assert morris_result["factors"]["a"]["mu"] == pytest.approx(-3.0)
    names = {p.name for p in (root / "analysis").iterdir()}
    assert names == {"morris_scatter_share_approve.png", "morris_ranking_share_approve.png"}
    fig = plot_morris_ranking(morris_result, "paired effect x", entry, {"a": "lever", "dynamics.d": "uncertainty"})
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["dynamics.d", "c", "b", "a"]  # largest at the top
    assert "pp per factor range" in fig.axes[0].get_xlabel()


def test_prim_recovers_a_known_region_where_a_paired_effect_changes_sign(tmp_path, capsys):
    from scipy.stats import qmc

    units = qmc.LatinHypercube(d=3, seed=np.random.default_rng(3)).random(400)
    factors = [*continuous("a", "b"), {"name": "k", "kind": "lever", "type": "int", "values": [1, 2, 3, 4]}]
    root = write_store(tmp_path / "p", "lhs", factors, units,
                       lambda u: np.where((u[:, 0] > 0.7) & (u[:, 1] < 0.5), 0.004, -0.006), paired=True)  # fmt: skip
    result = call(capsys, "analyze", str(root))
    assert result.returncode == 0, result.stderr
    data = analysis(root)
    assert data["threshold"]["value"] == 0.0 and data["threshold"]["source"].startswith("default")
    found = data["outcomes"]["all|share_approve"]["discovery"]
    assert found["side"] == "above" and found["status"] == "boxes"
    assert found["cases"] == int(((units[:, 0] > 0.7) & (units[:, 1] < 0.5)).sum())
    box = found["boxes"][0]
    assert set(box["limits"]) == {"a", "b"}
    assert box["limits"]["a"][0] == pytest.approx(0.7, abs=0.03) and box["limits"]["b"][1] == pytest.approx(
        0.5, abs=0.03
    )
    assert box["coverage"] > 0.9 and box["density"] > 0.9
    assert "box 1: a in [0.6" in result.stdout or "box 1: a in [0.7" in result.stdout
    pd_result = data["outcomes"]["all|share_approve"]["partial_dependence"]
    assert pd_result["ranking_by_range"][-1] == "k"  # k does not act
    assert len(pd_result["factors"]["k"]["bins"]) == 4 and (root / "analysis" / "pd_share_approve.png").is_file()


def test_discovery_reports_no_region_when_no_point_is_of_interest(tmp_path, capsys):
    units = np.random.default_rng(4).random((50, 2))
    root = write_store(tmp_path / "p", "lhs", continuous("a", "b"), units, lambda u: -0.01 - u[:, 0], paired=True)
    result = call(capsys, "analyze", str(root))
    assert result.returncode == 0, result.stderr
    found = analysis(root)["outcomes"]["all|share_approve"]["discovery"]
    assert found["status"] == "none_of_interest" and found["cases"] == 0 and found["boxes"] == []
    assert "at 0 of 50 points" in result.stdout and "no region to find" in result.stdout
    # A level threshold, on either side.
    result = call(capsys, "analyze", str(root), "--threshold", "-60", "--side", "below")
    found = analysis(root)["outcomes"]["all|share_approve"]["discovery"]
    assert found["threshold"] == -60 and found["side"] == "below"
    assert found["cases"] == int((100 * (-0.01 - units[:, 0]) <= -60).sum())
    # A difference that should be 0 but carries float noise is on the threshold, not above it.
    root = write_store(tmp_path / "q", "lhs", continuous("a", "b"), units,
                       lambda u: np.where(u[:, 0] > 0.5, 1.1e-16, -0.01), paired=True)  # fmt: skip
    assert call(capsys, "analyze", str(root)).returncode == 0
    found = analysis(root)["outcomes"]["all|share_approve"]["discovery"]
    assert found["counts"] == {
        "above": 0,
        "below": int((units[:, 0] <= 0.5).sum()),
        "at": int((units[:, 0] > 0.5).sum()),
    }


def test_grid_averages_the_other_factors_and_says_which(tmp_path, capsys):
    levels = [(i + 0.5) / 3 for i in range(3)]
    units = np.array([[a, b, c] for a in levels for b in levels for c in levels])
    root = write_store(tmp_path / "g", "grid", continuous("a", "b", "c"), units,
                       lambda u: u[:, 0] + 10 * u[:, 1] + 100 * u[:, 2], outcomes=("all|mean_approval",),
                       replications=2, failed_points=(26,), spread=0.5)  # fmt: skip
    result = call(capsys, "analyze", str(root), "--factors", "c", "a", "--threshold", "50")
    assert result.returncode == 0, result.stderr
    data = analysis(root)
    entry = data["outcomes"]["all|mean_approval"]
    grid = entry["grid"]
    assert grid["factors"] == ["c", "a"] and grid["averaged_over"] == ["b"]
    assert grid["mean"][0][0] == pytest.approx(levels[0] + 10 * np.mean(levels) + 100 * levels[0])
    assert entry["points_dropped"] == 1 and grid["points"][2][2] == 2  # point 26 (all levels at the top) dropped
    assert data["runs"]["not_ok"] == 2 and data["runs"]["reasons"][0]["status"] == STATUS_FAIL
    assert "averaged over b" in result.stdout and "1 of 27 points have no value; dropped" in result.stdout
    assert set(entry["discovery"]["boxes"][0]["limits"]) == {"c"}
    # Default pair: the first two factors; the analysis replaces the earlier figure.
    call(capsys, "analyze", str(root), "--outcome", "mean_approval")
    assert analysis(root)["outcomes"]["all|mean_approval"]["grid"]["averaged_over"] == ["c"]
    assert [p.name for p in (root / "analysis").iterdir()] == ["grid_mean_approval.png"]


def test_a_one_factor_grid_gives_a_line_and_averages_nothing(tmp_path, capsys):
    units = np.array([[0.125], [0.375], [0.625], [0.875]])
    root = write_store(tmp_path / "g", "grid", continuous("a"), units, lambda u: u[:, 0] - 0.5, paired=True)
    result = call(capsys, "analyze", str(root), "--out-dir", str(tmp_path / "elsewhere"))
    assert result.returncode == 0, result.stderr
    data = analysis(tmp_path / "elsewhere")
    assert data["outcomes"]["all|share_approve"]["grid"]["averaged_over"] == []
    assert data["outcomes"]["all|share_approve"]["grid"]["mean"] == pytest.approx([-37.5, -12.5, 12.5, 37.5])
    assert (tmp_path / "elsewhere" / "analysis" / "grid_line_share_approve.png").is_file()
    assert not (root / "analysis.json").exists()


def test_outcome_and_month_select_what_is_analysed(tmp_path, capsys):
    units = np.random.default_rng(5).random((30, 2))
    root = write_store(tmp_path / "p", "lhs", continuous("a", "b"), units, lambda u: u[:, 0],
                       outcomes=("all|share_approve", "urban=0|share_approve"))  # fmt: skip
    assert call(capsys, "analyze", str(root), "--outcome", "urban=0|share_approve", "--month", "1").returncode == 0
    data = analysis(root)
    assert list(data["outcomes"]) == ["urban=0|share_approve"] and data["month"] == 1
    assert call(capsys, "analyze", str(root), "--outcome", "urban=0|share_approve", "all|share_approve").returncode == 0
    assert list(analysis(root)["outcomes"]) == ["urban=0|share_approve", "all|share_approve"]
    assert data["outcomes"]["urban=0|share_approve"]["summary"]["max"] == 0.0  # month 1 holds 0


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--outcome", "mean_fairness"], ["--outcome", "'mean_fairness'", "allowed: share_approve"]),
        (["--month", "3"], ["--month", "0..2", "got 3"]),
        (["--month", "-1"], ["--month", "0..2"]),
        (["--factors", "a", "b"], ["--factors", "grid", "lhs"]),
        (["--threshold", "nan"], ["--threshold", "finite"]),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, args, fragments):
    root = write_store(tmp_path / "p", "lhs", continuous("a", "b"), np.random.default_rng(6).random((20, 2)),
                       lambda u: u[:, 0])  # fmt: skip
    assert_one_line_error(call(capsys, "analyze", str(root), *args), *fragments)


def test_a_directory_without_a_sweep_is_a_one_line_error(tmp_path, capsys):
    assert_one_line_error(call(capsys, "analyze", str(tmp_path / "nowhere")), "DIR", "not a directory")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(call(capsys, "analyze", str(tmp_path / "empty")), "DIR", "no manifest.json")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text('{"scenario": "baseline"}')
    assert_one_line_error(call(capsys, "analyze", str(tmp_path / "run")), "not a sweep's manifest")


TINY = """\
name = "tiny_effect"
design = "grid"
months = 13
n = 200
seed = 1
outcomes = ["share_approve"]

[effect]
shift = "punitive_shift"

[levers]
blacklist_rate = { values = [0.04, 0.16] }
"""


def test_a_real_sweep_end_to_end_and_unfinished(tmp_path, capsys):
    sweep = tmp_path / "tiny.toml"
    sweep.write_text(TINY)
    out = tmp_path / "out"
    assert call(capsys, "sweep", str(sweep), "--out", str(out), "--backend", "serial").returncode == 0
    result = call(capsys, "analyze", str(out))
    assert result.returncode == 0, result.stderr
    data = analysis(out)
    assert data["paired_effect"] and data["month"] == 13 and data["threshold"]["value"] == 0.0
    entry = data["outcomes"]["all|share_approve"]
    assert entry["label"].startswith("paired effect punitive_shift − baseline") and entry["unit"] == "pp"
    results = pd.read_parquet(out / "results.parquet")
    horizon = results[results["month"] == 13].groupby("point")["value"].mean()
    assert entry["grid"]["mean"] == pytest.approx(list(100 * horizon))
    assert result.stdout.splitlines()[-1].startswith(f"wrote {out / 'analysis.json'} and 1 figure")
    (out / "results.parquet").unlink()
    line = assert_one_line_error(call(capsys, "analyze", str(out)), "has not finished", "re-run")
    assert f"scsim sweep {sweep} --out {out} --n 200 --months 13 --replications 1" in line
