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


def xu2022_treatment(kind: str) -> Treatment:
    """The in-silico version of one arm of Xu et al. (2022)'s experiment."""
    return Treatment(name=f"xu2022_{kind}", kind=kind, share=TREATED_SHARE, month=TREATMENT_MONTH,
                     subgroup=XU2022_SUBGROUP)  # fmt: skip


def treatment_effect(population, approval, params: SimulationParams, kind: str, seed: int) -> float:
    """Relative change in the treated's mean scale position right after the treatment."""
    treatment = xu2022_treatment(kind)
    with SCSEngine(population, approval, params, seed=seed, treatments=[treatment]) as engine:
        engine.run(treatment.month)
        row = next(r for r in engine.treatment_rows if r["subgroup"] == "all" and r["months_since"] == 0)
    return float(relative_change(row["treated_mean"], row["control_mean"]))


def solve(n: int = SOLVE_N, seed: int = SOLVE_SEED, dynamics: DynamicsParams | None = None) -> dict[str, object]:
    """Solve both effect sizes on the shipped calibration; returns the values, the effects and the method."""
    calibration = load_calibration(None)
    population = build_population(n, np.random.SeedSequence(seed), calibration.generator)
    approval = engine_approval_model(calibration.joint, None)
    dynamics = dynamics or DynamicsParams()
    solved: dict[str, dict[str, object]] = {}
    for name, (kind, target, band) in TARGETS.items():

        def gap(
            value: float, name: str = name, kind: str = kind, target: float = target, solved: DynamicsParams = dynamics
        ) -> float:
            params = SimulationParams(dynamics=solved.model_copy(update={name: value}))
            return treatment_effect(population, approval, params, kind, seed) - target

        low, high = SEARCH_RANGE
        if np.sign(gap(low)) == np.sign(gap(high)):
            raise RuntimeError(f"{name}: no value in {low}–{high} gives {100 * target:+.0f}% for {kind}")
        value = brentq(gap, low, high, xtol=1e-4)
        value = round(value, 4)
        # Solved in turn, each with the values solved before it.
        dynamics = dynamics.model_copy(update={name: value})
        solved[name] = {
            "value": value,
            "treatment": kind,
            "target_relative_change": target,
            "accepted_band": list(band),
            "achieved_relative_change": round(gap(value) + target, 5),
        }
    return {
        "source": SOURCE,
        "method": "Brent's method on the in-silico experiment's relative change in mean scale position, "
        "citizens and random numbers held fixed (calibration/information.py)",
        "n": n,
        "seed": seed,
        "subgroup": {name: bounds.model_dump() for name, bounds in XU2022_SUBGROUP.items()},
        "treated_share": TREATED_SHARE,
        "effects": solved,
    }


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
