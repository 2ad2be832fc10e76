"""Solve the information channels' effect sizes to outside evidence: Xu, Kostka & Cao (2022).

Xu, Kostka & Cao (2022), "Information Control and Public Support for Social
Credit Systems in China", Journal of Politics: in a 2019 survey experiment
on 750 college students (mean support 7.5 on 0–10), revealing the SCS's
repressive potential reduced support by about 12%; stressing its
social-order function did not increase support much.

Method. The experiment is run in silico on the shipped calibration: at month 1
a random half of the citizens resembling that study's sample (aged 18–25 with
a university degree: ``XU2022_SUBGROUP``) is treated, and approval is read
the same month. The effect is the treated's mean scale position,
(approval − 1) / 4, relative to the control's (``sim.treatments``). With the
citizens and every random number held fixed, the effect is a monotone
function of one effect size, so each is solved by Brent's method:

* ``knowledge_drop`` so that ``repression_info`` gives −12%, the centre of
  the accepted band (−16% to −8%);
* ``enforcement_gain`` so that ``social_order_frame`` gives +1%, the centre
  of the accepted band (0% to +2%: "did not increase support much" read as
  an increase of at most 2%).

The solved values are the defaults of ``sim.params.DynamicsParams``; a test
checks that they agree with ``params/information_effects.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from calibration.citizens import build_population, engine_approval_model
from calibration.members import load_calibration
from sim.model import SCSEngine
from sim.params import DynamicsParams, SimulationParams
from sim.treatments import Bounds, Treatment, relative_change

RESULT_FILE = Path(__file__).resolve().parent / "params" / "information_effects.json"
SOURCE = (
    "Xu, Kostka & Cao (2022), 'Information Control and Public Support for Social Credit Systems in China', "
    "Journal of Politics"
)
# College students (Xu et al. 2022): the survey's youngest adults with a university degree (Table A3 code 4).
XU2022_SUBGROUP = {"age": Bounds(min=18, max=25), "education": Bounds(min=4, max=4)}
TREATED_SHARE = 0.5
TREATMENT_MONTH = 1
# Effect size → (treatment kind, target relative change, accepted band). Centres of the bands.
TARGETS = {
    "knowledge_drop": ("repression_info", -0.12, (-0.16, -0.08)),
    "enforcement_gain": ("social_order_frame", 0.01, (0.0, 0.02)),
}
SOLVE_N = 400_000
SOLVE_SEED = 2022
SEARCH_RANGE = (0.0, 4.0)  # the parameters' schema ranges
MAX_ROUNDS = 10


def xu2022_treatment(kind: str) -> Treatment:
    """The in-silico version of one arm of Xu et al. (2022)'s experiment."""
    return Treatment(name=f"xu2022_{kind}", kind=kind, share=TREATED_SHARE, month=TREATMENT_MONTH,
                     subgroup=XU2022_SUBGROUP)  # fmt: skip


def treatment_effects(population, approval, params: SimulationParams, kinds, seed: int) -> dict[str, float]:
    """Relative change in the treated's mean scale position right after each treatment of ``kinds``.

    The treatments run in one engine, as disjoint arms with one control (``sim.treatments.assign``).
    """
    treatments = [xu2022_treatment(kind) for kind in kinds]
    with SCSEngine(population, approval, params, seed=seed, treatments=treatments) as engine:
        engine.run(TREATMENT_MONTH)
        rows = {r["kind"]: r for r in engine.treatment_rows if r["subgroup"] == "all" and r["months_since"] == 0}
    return {kind: float(relative_change(rows[kind]["treated_mean"], rows[kind]["control_mean"])) for kind in kinds}


def solve(n: int = SOLVE_N, seed: int = SOLVE_SEED, dynamics: DynamicsParams | None = None) -> dict[str, object]:
    """Solve both effect sizes on the shipped calibration; returns the values, the effects and the method."""
    calibration = load_calibration(None)
    population = build_population(n, np.random.SeedSequence(seed), calibration.generator)
    approval = engine_approval_model(calibration.joint, None)
    dynamics = dynamics or DynamicsParams()
    # Each effect size moves the other's experiment a little (both arms' functions are clipped together),
    # so they are solved in turn until a round changes neither: the result does not depend on the start.
    rounds = 0
    while True:
        rounds += 1
        start = {name: getattr(dynamics, name) for name in TARGETS}
        solved: dict[str, dict[str, object]] = {}
        for name, (kind, target, band) in TARGETS.items():
            value, achieved = _solve_one(population, approval, dynamics, name, kind, target, seed)
            dynamics = dynamics.model_copy(update={name: value})
            solved[name] = {"value": value, "treatment": kind, "target_relative_change": target,
                            "accepted_band": list(band), "achieved_relative_change": achieved}  # fmt: skip
        if all(solved[name]["value"] == start[name] for name in TARGETS):
            break
        if rounds == MAX_ROUNDS:
            raise RuntimeError(f"the effect sizes did not settle in {MAX_ROUNDS} rounds: {start} → {solved}")
    return {
        "source": SOURCE,
        "method": "Brent's method on the in-silico experiment's relative change in mean scale position, "
        "citizens and random numbers held fixed (calibration/information.py)",
        "n": n,
        "seed": seed,
        "subgroup": {name: bounds.model_dump() for name, bounds in XU2022_SUBGROUP.items()},
        "treated_share": TREATED_SHARE,
        "rounds": rounds,
        "effects": solved,
    }


def _solve_one(population, approval, dynamics: DynamicsParams, name: str, kind: str, target: float, seed: int):
    """One effect size by Brent's method, the others held at ``dynamics``: (value to 4 places, effect there)."""

    def gap(value: float) -> float:
        params = SimulationParams(dynamics=dynamics.model_copy(update={name: value}))
        return treatment_effects(population, approval, params, [kind], seed)[kind] - target

    low, high = SEARCH_RANGE
    if np.sign(gap(low)) == np.sign(gap(high)):
        raise RuntimeError(f"{name}: no value in {low}–{high} gives {100 * target:+.0f}% for {kind}")
    value = round(brentq(gap, low, high, xtol=1e-4), 4)
    return value, round(gap(value) + target, 5)


def write(result: dict[str, object], path: Path = RESULT_FILE) -> None:
    path.write_text(json.dumps(result, indent=1) + "\n")


def shipped() -> dict[str, object]:
    return json.loads(RESULT_FILE.read_text())


if __name__ == "__main__":
    # python -m calibration.information: re-solve and rewrite params/information_effects.json.
    result = solve()
    write(result)
    for name, entry in result["effects"].items():  # type: ignore[union-attr]
        print(f"{name} = {entry['value']} ({entry['treatment']}: {100 * entry['achieved_relative_change']:+.2f}%)")
