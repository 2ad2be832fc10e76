"""The one typed schema of the engine's parameters, and one-line messages for bad values.

Every parameter is a field of a strict pydantic model (``sim.params``,
``sim.scores.ScoreParams``) declared with ``bounded``, which records:

* its type (``float``, ``int`` or ``bool``), default and allowed range. Types
  are strict: ``true`` or ``"0.02"`` is not a number and ``2.5`` is not an
  integer. NaN and infinities are refused;
* a one-line description;
* its source: a paper section, an outside citation, or "assumption";
* why its range is what it is;
* optionally a narrower **status-quo range**: the values allowed at t = 0.
  The t = 0 state is the 2018 survey sample and the baseline rates are
  calibrated to it (``sim.baseline.calibrate_baseline``), so a lever defined
  relative to 2018 is fixed at its reference value at t = 0, and a lever
  whose t = 0 value the survey constrains is limited to values that can
  reproduce it. Later changes may use the whole range.

Scenario files, sweeps and the app read the same definitions through
``parameter_specs``, so nothing is declared twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.errors import ParameterError

SCHEMA_CONFIG = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True)


def bounded(
    default: float | int | None,
    low: float,
    high: float,
    doc: str,
    *,
    source: str = "assumption",
    why: str,
    status_quo: tuple[float, float] | None = None,
    status_quo_why: str = "",
    prior: tuple[float, float] | None = None,
    prior_why: str = "",
) -> Any:
    """A numeric field with its range, provenance and reason for the range.

    Args:
        default: Value at t = 0 in the shipped baseline.
        low, high: Allowed range (inclusive).
        doc: One-line description.
        source: Paper section, outside citation, or "assumption".
        why: Why the range is what it is.
        status_quo: Narrower range allowed at t = 0, if any.
        status_quo_why: Why t = 0 is restricted.
        prior: For an uncertain assumption, the uniform prior the forecast draws it from
            (``experiments.forecast_prior``), inside the range.
        prior_why: Why the prior is what it is.
    """
    extra = {"source": source, "range_reason": why}
    if status_quo is not None:
        extra |= {"status_quo": list(status_quo), "status_quo_reason": status_quo_why}
    if prior is not None:
        if not (low <= prior[0] < prior[1] <= high):
            raise ValueError(f"prior {prior} must be an interval inside the range {low}–{high}")
        extra |= {"prior": list(prior), "prior_reason": prior_why}
    return Field(default, ge=low, le=high, description=doc, json_schema_extra=extra)


def switch(default: bool, doc: str) -> Any:
    """A channel switch."""
    return Field(default, description=doc)


@dataclass(frozen=True)
class ParameterSpec:
    """What the schema says about one parameter (read by scenarios, sweeps and the app)."""

    name: str
    kind: str  # "float", "int", "bool" or "float|None"
    default: Any
    low: float | None
    high: float | None
    doc: str
    source: str
    range_reason: str
    status_quo: tuple[float, float] | None
    status_quo_reason: str
    prior: tuple[float, float] | None = None
    prior_reason: str = ""

    def allowed(self) -> str:
        """The allowed values, in words."""
        if self.kind == "bool":
            return "true or false"
        noun = "an integer" if self.kind == "int" else "a number"
        return f"{noun} between {_number(self.low)} and {_number(self.high)}"


def _number(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@cache
def parameter_specs(model: type[BaseModel]) -> dict[str, ParameterSpec]:
    """Every field of a parameter model with its type, range and provenance."""
    specs = {}
    try:
        defaults = model()  # validated defaults: a float field declared with 550 holds 550.0
    except ValidationError:  # a model with required fields (a scenario) is not a parameter group
        defaults = None
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
        high = next((m.le for m in info.metadata if hasattr(m, "le")), None)
        kind = getattr(info.annotation, "__name__", "float|None")
        status_quo = extra.get("status_quo")
        specs[name] = ParameterSpec(
            name=name,
            kind=kind,
            default=getattr(defaults, name) if defaults is not None else info.default,
            low=low,
            high=high,
            doc=info.description or "",
            source=str(extra.get("source", "")),
            range_reason=str(extra.get("range_reason", "")),
            status_quo=tuple(status_quo) if status_quo is not None else None,
            status_quo_reason=str(extra.get("status_quo_reason", "")),
            prior=tuple(extra["prior"]) if "prior" in extra else None,
            prior_reason=str(extra.get("prior_reason", "")),
        )
    return specs


def _owner(model: type[BaseModel] | None, loc: list[str]) -> type[BaseModel] | None:
    """The (nested) model that declares the last field of ``loc``."""
    for part in loc[:-1]:
        info = model.model_fields.get(part) if model is not None else None
        annotation = info.annotation if info is not None else None
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


def describe(error: dict[str, Any], model: type[BaseModel] | None, prefix: str = "") -> str:
    """One line naming the field and what is allowed, from one pydantic error."""
    loc = [str(part) for part in error.get("loc", ())]
    key = ".".join([p for p in (prefix, *loc) if p]) or "parameters"
    field_name = loc[-1] if loc else ""
    model = _owner(model, loc)
    got = error.get("input")
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields) if model is not None else "see the documentation"
        return f"{key}: unknown key; allowed: {allowed}"
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "value_error" and isinstance(error.get("ctx", {}).get("error"), ParameterError):
        # A nested check already produced a message; it names its field first when it has one.
        message = str(error["ctx"]["error"])
        if not (loc or prefix):
            return message
        head = message.split(":", 1)[0]
        return f"{key}.{message}" if head.isidentifier() else f"{key}: {message}"
    specs = parameter_specs(model) if model is not None else {}
    spec = specs.get(field_name)
    if spec is not None and (spec.low is not None or spec.kind == "bool"):
        return f"{key}: must be {spec.allowed()}, got {got!r}"
    message = str(error["msg"])
    return f"{key}: {message[:1].lower()}{message[1:]}, got {got!r}"


def validated(model: type[BaseModel], data: Any, prefix: str = "") -> Any:
    """Validate ``data`` against ``model``; a bad value raises a one-line ``ParameterError``."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ParameterError(describe(err.errors()[0], model, prefix)) from None
    except RecursionError:
        raise ParameterError(f"{prefix or 'parameters'}: nested too deeply") from None


def status_quo_problem(instance: BaseModel, prefix: str = "") -> str | None:
    """A one-line message if a t = 0 value lies outside its status-quo range, else None.

    An empty status-quo range means the t = 0 value comes from the population
    itself and the field must be left unset (None) at t = 0.
    """
    for name, spec in parameter_specs(type(instance)).items():
        if spec.status_quo is None:
            continue
        value = getattr(instance, name)
        where = f"{prefix}.{name}" if prefix else name
        if not spec.status_quo:
            if value is None:
                continue
            allowed = "cannot be set"
        else:
            low, high = spec.status_quo
            if low <= value <= high:
                continue
            between = f"between {_number(low)} and {_number(high)}"
            allowed = f"must be {_number(low)}" if low == high else f"must be {between}"
        return (
            f"{where}: at t = 0 {allowed} ({spec.status_quo_reason}), got {value!r}; "
            "set other values from a later month with [[changes]]"
        )
    return None


def check_status_quo(instance: BaseModel, prefix: str = "") -> None:
    """Raise ``ParameterError`` if a t = 0 value lies outside its status-quo range."""
    problem = status_quo_problem(instance, prefix)
    if problem is not None:
        raise ParameterError(problem)


__all__ = [
    "SCHEMA_CONFIG",
    "ParameterSpec",
    "bounded",
    "check_status_quo",
    "describe",
    "parameter_specs",
    "status_quo_problem",
    "switch",
    "validated",
]


def markdown_table(model: type[BaseModel], title: str) -> str:
    """The parameters of ``model`` as a Markdown table (sim/README.md embeds these; a test keeps them equal)."""
    rows = [
        f"| {title} | default | range | t = 0 | meaning | source | why this range | forecast prior |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, spec in parameter_specs(model).items():
        if spec.status_quo is None:
            at_start = "any"
        elif not spec.status_quo:
            at_start = "unset"
        else:
            low, high = spec.status_quo
            at_start = _number(low) if low == high else f"{_number(low)}–{_number(high)}"
        prior = "held at its value" if spec.prior is None else (
            f"uniform {_number(spec.prior[0])}–{_number(spec.prior[1])}: {spec.prior_reason}"
        )
        rows.append(
            f"| `{name}` | {_number(spec.default)} | {_number(spec.low)}–{_number(spec.high)} | {at_start} | "
            f"{spec.doc} | {spec.source} | {spec.range_reason} | {prior} |"
        )
    return "\n".join(rows)
