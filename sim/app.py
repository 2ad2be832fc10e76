"""The app's parts that need only the engine: lever sliders, live plots and the figures panel.

``experiments/app.py`` puts them into a ``mesa.visualization.SolaraViz`` page
with the shipped calibration and scenarios (``scsim app``); this module, like
the rest of ``sim``, imports neither ``calibration`` nor ``experiments``.

Each part is a Solara component of the model, as SolaraViz expects, and
re-renders when Mesa's controls step the model (``update_counter``). Plots are
drawn with matplotlib and embedded as inline SVG whose artists carry ids
(``gid``), so a browser test can read what a plot shows.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import solara
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from mesa.visualization.utils import update_counter

from sim.errors import UserError
from sim.params import PolicyLevers
from sim.schema import parameter_specs

# The levers the app shows (the list), in display order.
APP_LEVERS = (
    "blacklist_rate",
    "false_positive_rate",
    "sanction_breadth",
    "benefit_generosity",
    "pilot_coverage",
    "algorithm_transparency",
    "media_framing",
)
SLIDER_POSITIONS = 200  # at least this many positions on a float slider
# Mesa's grid gives every part the same cell; a part taller than its cell scrolls instead of spilling over the next.
CELL_STYLE = {"height": "100%", "overflow-y": "auto"}


@dataclass(frozen=True)
class LeverInput:
    """A slider built from the parameter schema (``sim.params.PolicyLevers``)."""

    name: str
    integer: bool
    low: float
    high: float
    step: float
    default: float
    help: str


def lever_inputs(names: Sequence[str] = APP_LEVERS, defaults: Mapping[str, float] | None = None) -> list[LeverInput]:
    """Sliders for ``names``: name, type, range and help text come from the schema.

    Args:
        names: Levers of ``PolicyLevers``.
        defaults: Starting values for levers whose schema default is unset
            (``pilot_coverage``: the population's own share).
    """
    specs = parameter_specs(PolicyLevers)
    inputs = []
    for name in names:
        spec = specs[name]
        integer = spec.kind == "int"
        default = (defaults or {}).get(name, spec.default)
        if default is None:
            raise ValueError(f"{name}: the schema has no default; pass one in defaults")
        # A power of ten, so that round defaults (0.02, 0.0002) lie on the grid: the
        # browser snaps a value off the grid and reports it as a move.
        step = 1 if integer else 10.0 ** math.floor(math.log10((spec.high - spec.low) / SLIDER_POSITIONS))
        default = default if integer else round(default, max(0, -math.floor(math.log10(step))))
        help_text = f"{spec.doc}. Range {spec.low:g}–{spec.high:g}; source: {spec.source}."
        inputs.append(LeverInput(name, integer, spec.low, spec.high, step, default, help_text))
    return inputs


def make_lever_panel(inputs: Sequence[LeverInput]) -> Callable[[Any], Any]:
    """A component of sliders that set levers from the next month on (``change_levers``).

    Slider positions outlive a Reset: a new model at month 0 gets every moved
    lever as a change from month 1, so what the sliders show is what applies.
    """

    @solara.component
    def LeverPanel(model):
        update_counter.get()
        moved, set_moved = solara.use_state({})
        message, set_message = solara.use_state("")

        def reapply():
            if model.steps == 0 and moved:
                model.change_levers(**moved)

        solara.use_effect(reapply, [model])

        def on_value(item: LeverInput, value: float) -> None:
            name = item.name
            if abs(value - moved.get(name, item.default)) < item.step / 2:
                return  # the browser echoing the slider's own value, not a move
            try:
                model.change_levers(**{name: value})
            except UserError as err:  # sliders stay in range, but say so if anything slips through
                set_message(str(err))
                return
            set_message("")
            set_moved(lambda old: {**old, name: value})

        with solara.Column(gap="2px", style=CELL_STYLE):
            solara.HTML(tag="div", unsafe_innerHTML=f"<b>Levers</b>: a change applies from month {model.steps + 1}.")
            for item in inputs:
                slider = solara.SliderInt if item.integer else solara.SliderFloat
                slider(
                    item.name,
                    value=moved.get(item.name, item.default),
                    min=item.low,
                    max=item.high,
                    step=item.step,
                    on_value=lambda value, item=item: on_value(item, value),
                )
                solara.Text(item.help, style={"font-size": "0.75em", "color": "#555"})
            if message:
                solara.Error(message)

    return LeverPanel


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    # Text as text (readable in the DOM), fixed ids (the same month draws the
    # same SVG), and every point kept: simplification would drop points a reader counts.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "scsim", "path.simplify": False}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    # Scale to the cell's width instead of a fixed size in points.
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 width="100%"', buffer.getvalue(), count=1)


def _history(model) -> tuple[np.ndarray, Any]:
    frame = model.datacollector.get_model_vars_dataframe()
    return np.arange(len(frame)), frame


def _changes_so_far(model) -> list[tuple[int, dict[str, Any]]]:
    return [(month, changes) for month, changes in model.schedule if month <= model.steps]


def _describe_changes(changes: Sequence[tuple[int, dict[str, Any]]]) -> str:
    parts = [f"{name} = {value:g} from month {month}" for month, values in changes for name, value in values.items()]
    return "; ".join(parts) if parts else "no lever changes yet"


def _plot(model, panels: Sequence[tuple[str, Mapping[str, str]]], gid: str, stacked: bool = False) -> tuple[str, Any]:
    """One figure of side-by-side panels, each (title, {label: metric}); the same months on each."""
    months, frame = _history(model)
    figure = Figure(figsize=(6, 3.2))
    for axes, (title, series) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        if stacked:
            parts = axes.stackplot(months, *(frame[column] for column in series.values()), labels=list(series))
            for part, label in zip(parts, series, strict=True):
                part.set_gid(f"{gid}:{label}")
        else:
            for label, column in series.items():
                (line,) = axes.plot(months, frame[column], marker="." if len(months) < 40 else None, label=label)
                line.set_gid(f"{gid}:{column}")
        for month, _ in _changes_so_far(model):
            axes.axvline(month, color="0.4", linestyle="--", linewidth=0.8, gid=f"{gid}:change-month-{month}")
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("month (0 = 2018 survey)")
        axes.set_xlim(0, max(12, months[-1]))
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return _svg(figure), frame


def _latest(model, frame, series: Mapping[str, str], spec: str = ".1%") -> str:
    """A caption with each series' value this month."""
    last = frame.iloc[-1]
    return f"Month {model.steps}: " + ", ".join(f"{label} {last[column]:{spec}}" for label, column in series.items())


@solara.component
def _SvgPlot(svg: str, caption: str, gid: str, month: int, value: float | None = None):
    # The month and the headline value at full precision, for readers (and tests) that need more than the caption.
    attributes = {"data-plot": gid, "data-month": str(month), "data-value": repr(value)}
    with solara.Column(gap="0px", style=CELL_STYLE):
        solara.HTML(tag="div", unsafe_innerHTML=svg, attributes=attributes)
        solara.Text(caption, style={"font-size": "0.85em"}, classes=[f"caption-{gid}"])


@solara.component
def ApprovalPlot(model):
    """Share approving (4 or 5 on the 1–5 scale), with every lever change marked."""
    update_counter.get()
    svg, frame = _plot(model, [("Share approving", {"share approving": "all|share_approve"})], "approval")
    caption = (
        f"Month {model.steps}: {frame['all|share_approve'].iloc[-1]:.1%} approve. "
        f"{_describe_changes(_changes_so_far(model))}."
    )
    _SvgPlot(svg, caption, "approval", model.steps, float(frame["all|share_approve"].iloc[-1]))


CATEGORY_SERIES = {
    "5 strongly approve": "all|share_5",
    "4 somewhat approve": "all|share_4",
    "3 neither": "all|share_3",
    "2 somewhat disapprove": "all|share_2",
    "1 strongly disapprove": "all|share_1",
}


@solara.component
def CategoryPlot(model):
    """The five approval categories, stacked."""
    update_counter.get()
    svg, frame = _plot(model, [("Approval categories", CATEGORY_SERIES)], "categories", stacked=True)
    _SvgPlot(svg, _latest(model, frame, CATEGORY_SERIES), "categories", model.steps)


GROUP_SERIES = {
    "urban": "urban=1|share_approve",
    "rural": "urban=0|share_approve",
    "age 14–30": "age_group=1|share_approve",
    "age 31–50": "age_group=2|share_approve",
    "age 51+": "age_group=3|share_approve",
}


@solara.component
def GroupPlot(model):
    """Share approving by urban/rural residence and age group."""
    update_counter.get()
    svg, frame = _plot(model, [("Share approving by group", GROUP_SERIES)], "groups")
    _SvgPlot(svg, _latest(model, frame, GROUP_SERIES), "groups", model.steps)


LIST_SERIES = {
    "blacklisted": "all|share_blacklisted",
    "redlisted": "all|share_redlisted",
}
BENEFIT_SERIES = {"reporting benefits": "all|share_advantages"}


@solara.component
def ListsPlot(model):
    """Blacklisted and redlisted citizens; Sesame/Tencent users reporting benefits (Table A2's item)."""
    update_counter.get()
    # Lists hold a few percent and benefits most users: one scale would flatten the lists.
    panels = [("Lists (all citizens)", LIST_SERIES), ("Benefits (Sesame/Tencent users)", BENEFIT_SERIES)]
    svg, frame = _plot(model, panels, "lists")
    caption = _latest(model, frame, {**LIST_SERIES, **BENEFIT_SERIES}, ".2%")
    _SvgPlot(svg, caption, "lists", model.steps, float(frame["all|share_blacklisted"].iloc[-1]))


@dataclass(frozen=True)
class ReferenceFigure:
    """A t = 0 figure of the paper to show beside the model's current value."""

    label: str
    metric: str  # a key of sim.metrics.METRIC_KEYS
    paper: float | None  # None: the paper does not report it
    source: str


def make_figures_panel(reference: Sequence[ReferenceFigure], status: Callable[[Any], Sequence[str]]) -> Callable:
    """A component: the model's current figures beside the paper's t = 0 figures.

    Args:
        reference: The figures to show.
        status: The model's input problems to show inline above the table (empty if none).
    """

    @solara.component
    def FiguresPanel(model):
        update_counter.get()
        frame = model.datacollector.get_model_vars_dataframe()
        cells = "".join(
            f"<tr><td>{item.label}</td><td>{frame[item.metric].iloc[0]:.1%}</td>"
            f"<td>{frame[item.metric].iloc[-1]:.1%}</td>"
            f"<td>{'not reported' if item.paper is None else f'{item.paper:.1%}'}</td><td>{item.source}</td></tr>"
            for item in reference
        )
        head = (
            f"<tr><th>figure</th><th>month 0</th><th>now (month {model.steps})</th>"
            "<th>paper, t = 0</th><th>source</th></tr>"
        )
        with solara.Column(style=CELL_STYLE):
            for problem in status(model):
                solara.Error(problem, classes=["input-problem"])
            solara.HTML(tag="table", unsafe_innerHTML=head + cells, classes=["figures"], style="width: 100%")

    return FiguresPanel
