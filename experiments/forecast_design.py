"""The arms of the forecast test: channel variants and dose–responses, built from two scenarios.

Every arm is a scenario run in paired replicates (``experiments.forecast``).
Nothing here simulates; it only builds scenarios from the baseline and the
shift with the engine's parameter schema, so every arm is a valid scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from experiments.scenario import Change, Scenario
from sim.params import Channels, PolicyLevers
from sim.schema import parameter_specs

# Multiples of a lever's baseline value in its one-lever dose–response (1× is
# the baseline itself, whose effect is exactly zero), and sizes of the whole
# shift relative to its own change (0 = baseline, 1 = the shift as written).
BASELINE_MULTIPLES = (1, 2, 4, 8)
SHIFT_FRACTIONS = (0, 0.5, 1, 2)
# For a lever whose baseline value is 0, doses are fractions of the shift's value.
FROM_ZERO_FRACTIONS = (0, 0.25, 0.5, 1, 2)


@dataclass(frozen=True)
class Dose:
    """One point of a dose–response: the scenario, the lever value and its label."""

    scenario: Scenario
    value: Any
    label: str
    is_baseline: bool


def with_channels(scenario: Scenario, channels: Channels) -> Scenario:
    """The scenario with its channel switches replaced."""
    return scenario.model_copy(update={"channels": channels})


def channel_variants(name: str) -> dict[str, Channels]:
    """The channel switches of the 'off' and 'alone' arms of one channel."""
    everything = Channels().model_dump()
    return {
        "off": Channels(**{**everything, name: False}),
        "alone": Channels(**{channel: channel == name for channel in everything}),
    }


def no_channels() -> Channels:
    return Channels(**dict.fromkeys(Channels.model_fields, False))


def shift_start(shift: Scenario) -> int:
    """The month the shift begins: its earliest change (month 1 if it changes nothing)."""
    return min((change.month for change in shift.changes), default=1)


def shift_levers(shift: Scenario) -> dict[str, Any]:
    """Each lever the shift changes, with the value it ends at (later changes win)."""
    values: dict[str, Any] = {}
    for _, change in sorted(shift.schedule(), key=lambda item: item[0]):
        values.update(change)
    return values


def lever_ever_set(scenario: Scenario, name: str) -> bool:
    """Whether a lever is non-zero at t = 0 or in any change of ``scenario``."""
    return bool(getattr(scenario.levers, name)) or any(change.get(name) for _, change in scenario.schedule())


def lever_at(scenario: Scenario, name: str, month: int) -> Any:
    """A lever's value in ``scenario`` at ``month`` (its t = 0 value, then its changes up to that month)."""
    value = getattr(scenario.levers, name)
    for change_month, change in sorted(scenario.schedule(), key=lambda item: item[0]):
        if change_month <= month and name in change:
            value = change[name]
    return value


def _typed(name: str, value: float) -> Any:
    """A lever value clipped to its range and typed as the schema says."""
    spec = parameter_specs(PolicyLevers)[name]
    clipped = min(max(value, spec.low), spec.high)
    return round(clipped) if spec.kind == "int" else float(clipped)


def _with_change(baseline: Scenario, month: int, levers: dict[str, Any], name: str) -> Scenario:
    """The baseline plus one change at ``month`` setting ``levers`` (unset levers are left alone)."""
    values = {key: value for key, value in levers.items() if value is not None}
    if not values:
        return baseline.model_copy(update={"name": name})
    change = Change.model_validate({"month": month, **values})
    return baseline.model_copy(update={"changes": [*baseline.changes, change], "name": name})


def lever_doses(baseline: Scenario, shift: Scenario, name: str) -> list[Dose]:
    """One-lever dose–response of lever ``name``: the baseline with only this lever changed.

    Doses are multiples of the lever's baseline value (1× = baseline), plus
    the shift's own value; for a lever whose baseline value is 0 they are
    fractions of the shift's value. Values are clipped to the lever's range.
    """
    start = shift_start(shift)
    base_value = lever_at(baseline, name, start)
    target = shift_levers(shift)[name]
    points: dict[Any, str] = {}
    if base_value is None or target is None or target == base_value:
        points = {base_value: "baseline", target: "shift"} if target != base_value else {target: "baseline = shift"}
    elif base_value != 0:
        for value in {_typed(name, multiple * base_value) for multiple in BASELINE_MULTIPLES} | {target}:
            points[value] = f"{value / base_value:.3g}× baseline" + (" (shift)" if value == target else "")
    else:
        for value in {_typed(name, fraction * target) for fraction in FROM_ZERO_FRACTIONS}:
            points[value] = f"{value / target:.3g}× shift"
    doses = []
    for value, label in points.items():
        scenario = _with_change(baseline, start, {name: value}, f"{baseline.name}+{name}={value}")
        doses.append(Dose(scenario, value, label, is_baseline=value == base_value))
    return sorted(doses, key=lambda dose: (dose.value is not None, dose.value if dose.value is not None else 0))


def combined_doses(baseline: Scenario, shift: Scenario) -> list[Dose]:
    """The whole shift at fractions of its size: every lever moved that fraction of the way.

    0 is the baseline (exactly no effect), 1 the shift as written; integer
    levers are rounded and every value is clipped to its range.
    """
    start = shift_start(shift)
    targets = shift_levers(shift)
    doses = []
    for fraction in SHIFT_FRACTIONS:
        if fraction == 1:
            doses.append(Dose(shift, 1.0, "1 (the shift)", is_baseline=False))
            continue
        levers = {}
        for name, target in targets.items():
            base_value = lever_at(baseline, name, start)
            if base_value is None or target is None:
                levers[name] = target if fraction > 0 else base_value
            else:
                levers[name] = _typed(name, base_value + fraction * (target - base_value))
        scenario = _with_change(baseline, start, levers, f"{shift.name}_x{fraction:g}")
        doses.append(Dose(scenario, float(fraction), f"{fraction:g}", is_baseline=fraction == 0))
    return doses
