"""The interactive app: a ``mesa.visualization.SolaraViz`` page of the model.

Started with ``scsim app`` (or ``solara run experiments/app.py``). The sidebar
holds Mesa's step, play and reset controls and the run's settings (citizens,
seed, scenario, horizon), applied on Reset as in every Mesa app. The levers are
sliders built from the parameter schema (``sim.app.lever_inputs``) that act
live: a moved slider sets its lever from the next month, as a scenario's
``[[changes]]`` would. The page's parts live in ``sim/app.py``; this module
adds what ``sim`` may not import: the shipped calibration, the scenarios and
the paper's t = 0 figures.
"""

from __future__ import annotations

from typing import Any

import solara
from mesa.visualization import SolaraViz

from calibration import paper
from experiments.model import DEFAULT_N, SCSModel
from experiments.scenario import shipped_scenarios
from experiments.simulation import DEFAULT_MONTHS
from sim.app import (
    ApprovalPlot,
    CategoryPlot,
    GroupPlot,
    ListsPlot,
    ReferenceFigure,
    lever_inputs,
    make_figures_panel,
    make_lever_panel,
)
from sim.errors import UserError

# Bounds of the app's text fields: a month of a million citizens takes about
# half a second, the most that still feels live; below a thousand the t = 0
# calibration can fail for some seeds (see the README).
APP_MIN_N, APP_MAX_N = 1_000, 1_000_000
MAX_SEED = 2**63 - 1
DEFAULT_SEED = 1


def _whole_number(label: str, text: Any, low: int, high: int, fallback: int, problems: list[str]) -> int:
    """A text field's whole number; a bad one is reported in ``problems`` and replaced by ``fallback``."""
    cleaned = str(text).strip().replace(",", "").replace("_", "")
    value = int(cleaned) if cleaned.isdigit() else None
    if value is None or not low <= value <= high:
        problems.append(
            f"{label}: must be a whole number between {low:,} and {high:,}, got {str(text)!r}; using {fallback:,}"
        )
        return fallback
    return value


class AppModel(SCSModel):
    """``SCSModel`` built from the app's fields, which arrive as text; bad input never breaks the page.

    A bad field is replaced by its default and named in ``input_problems``,
    which the page shows inline. Any other refusal (a scenario whose changes lie
    beyond the horizon, say) falls back to the defaults the same way.
    """

    def __init__(
        self,
        n: Any = str(DEFAULT_N),
        seed: Any = str(DEFAULT_SEED),
        scenario: str = "baseline",
        months: int = DEFAULT_MONTHS,
    ) -> None:
        problems: list[str] = []
        citizens = _whole_number("citizens", n, APP_MIN_N, APP_MAX_N, DEFAULT_N, problems)
        root = _whole_number("seed", seed, 0, MAX_SEED, DEFAULT_SEED, problems)
        try:
            super().__init__(n=citizens, seed=root, scenario=scenario, months=months)
        except UserError as err:
            problems.append(f"{err}; using the baseline scenario with {DEFAULT_MONTHS} months")
            # mesa.Model.__init__ may have run already and wrapped ``step`` in
            # this instance; running it again would wrap the wrapper and count two steps a month.
            vars(self).pop("step", None)
            super().__init__(n=citizens, seed=root, scenario="baseline", months=DEFAULT_MONTHS)
        self.input_problems = problems


def reference_figures() -> list[ReferenceFigure]:
    """The paper's t = 0 figures the panel shows (Table A2, weighted column)."""
    a2 = paper.a2_marginals().set_index(["variable", "code"])["weighted_pct"].astype(float) / 100
    source = "Table A2, weighted"
    approve = a2[("approval", 4)] + a2[("approval", 5)]
    return [
        ReferenceFigure("approve (4 or 5)", "all|share_approve", approve, source),
        *(
            ReferenceFigure(f"approval = {code}", f"all|share_{code}", a2[("approval", code)], source)
            for code in (5, 4, 3, 2, 1)
        ),
        ReferenceFigure("users reporting benefits", "all|share_advantages", a2[("advantages", 1)], source),
        ReferenceFigure("users reporting disadvantages", "all|share_disadvantages", a2[("disadvantages", 1)], source),
        ReferenceFigure("blacklisted", "all|share_blacklisted", None, "not in the paper"),
    ]


def model_params() -> dict[str, dict[str, Any]]:
    """The run's settings in SolaraViz's format (applied on Reset)."""
    return {
        "n": {"type": "InputText", "value": str(DEFAULT_N), "label": f"Citizens ({APP_MIN_N:,}–{APP_MAX_N:,})"},
        "seed": {"type": "InputText", "value": str(DEFAULT_SEED), "label": "Seed (whole number)"},
        "scenario": {"type": "Select", "value": "baseline", "values": shipped_scenarios(), "label": "Scenario"},
        "months": {"type": "SliderInt", "value": DEFAULT_MONTHS, "min": 12, "max": 240, "step": 12,
                   "label": "Horizon (months)"},
    }  # fmt: skip


def components(model: SCSModel) -> list[tuple[Any, int]]:
    """The page's parts, all on SolaraViz's first page."""
    # The slider of pilot_coverage starts at the population's own share (its schema default is "unset").
    inputs = lever_inputs(defaults={"pilot_coverage": round(float(model.state.initially_resident.mean()), 3)})
    figures = make_figures_panel(reference_figures(), status=lambda m: getattr(m, "input_problems", []))
    parts = (make_lever_panel(inputs), ApprovalPlot, figures, CategoryPlot, GroupPlot, ListsPlot)
    return [(part, 0) for part in parts]


@solara.component
def Page():
    """One model per browser session (a module-level instance would be shared between visitors)."""
    model = solara.use_memo(lambda: AppModel(), [])
    parts = solara.use_memo(lambda: components(model), [])
    SolaraViz(model, components=parts, model_params=model_params(), name="scsim: approval of social credit systems")
