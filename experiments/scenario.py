"""Declarative scenarios: TOML files validated against the engine's parameter ranges.

A scenario names its t = 0 policy (``[levers]``, default the 2018 status quo),
any behavioural assumptions it overrides (``[dynamics]``), which channels are
on (``[channels]``), and when levers change (``[[changes]]``, each with a
``month`` and the levers it sets from that month on). Ranges come from
``sim.params``, so they are defined once for the engine, scenarios and sweeps.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from sim.params import Channels, DynamicsParams, PolicyLevers, SimulationParams, ranges

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
MAX_MONTH = 600


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or invalid (one-line message)."""


def _bounded_model(name: str, cls: type, optional: bool) -> type[BaseModel]:
    spec: dict[str, Any] = {}
    for f in fields(cls):
        low, high = f.metadata["range"]
        annotated = Annotated[float, Field(ge=low, le=high, description=f.metadata["doc"])]
        spec[f.name] = (annotated | None, None) if optional else (annotated, f.default)
    return create_model(name, __config__=ConfigDict(extra="forbid"), **spec)


LeversModel = _bounded_model("LeversModel", PolicyLevers, optional=False)
DynamicsModel = _bounded_model("DynamicsModel", DynamicsParams, optional=False)
ChangeLevers = _bounded_model("ChangeLevers", PolicyLevers, optional=True)
ChannelsModel = create_model(
    "ChannelsModel",
    __config__=ConfigDict(extra="forbid"),
    **{f.name: (bool, f.default) for f in fields(Channels)},
)


class Change(ChangeLevers):  # type: ignore[misc, valid-type]
    """Levers set from ``month`` on."""

    month: Annotated[int, Field(ge=1, le=MAX_MONTH)]

    @model_validator(mode="after")
    def _sets_something(self) -> Change:
        if not self.lever_values():
            raise ValueError("a change must set at least one lever")
        return self

    def lever_values(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if k != "month" and v is not None}


class Scenario(BaseModel):
    """A validated scenario."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-]+$")]
    description: str = ""
    levers: LeversModel = Field(default_factory=LeversModel)  # type: ignore[valid-type]
    dynamics: DynamicsModel = Field(default_factory=DynamicsModel)  # type: ignore[valid-type]
    channels: ChannelsModel = Field(default_factory=ChannelsModel)  # type: ignore[valid-type]
    changes: list[Change] = Field(default_factory=list)

    def params(self) -> SimulationParams:
        """The engine's parameters at t = 0."""
        return SimulationParams(
            levers=PolicyLevers(**self.levers.model_dump()),
            dynamics=DynamicsParams(**self.dynamics.model_dump()),
            channels=Channels(**self.channels.model_dump()),
        )

    def schedule(self) -> list[tuple[int, dict[str, float]]]:
        return [(change.month, change.lever_values()) for change in self.changes]


SECTION_CLASSES = {"levers": PolicyLevers, "dynamics": DynamicsParams, "changes": PolicyLevers}


def _describe(error: dict[str, Any]) -> str:
    """One line naming the key and what is allowed."""
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) if loc else "scenario"
    section = loc[0] if loc else ""
    field_name = loc[-1] if loc else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(section)
        return f"{key}: unknown key; allowed: {allowed}"
    cls = SECTION_CLASSES.get(section)
    if cls is not None and field_name in ranges(cls):
        low, high = ranges(cls)[field_name]
        return f"{key}: must be a number between {low} and {high}, got {error.get('input')!r}"
    if field_name == "month":
        return f"{key}: must be an integer month between 1 and {MAX_MONTH}, got {error.get('input')!r}"
    if section == "channels":
        return f"{key}: must be true or false, got {error.get('input')!r}"
    if kind == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {error['msg']}"


def _allowed_keys(section: str) -> str:
    if section in ("levers", "changes"):
        names = [f.name for f in fields(PolicyLevers)] + (["month"] if section == "changes" else [])
    elif section == "dynamics":
        names = [f.name for f in fields(DynamicsParams)]
    elif section == "channels":
        names = [f.name for f in fields(Channels)]
    else:
        names = list(Scenario.model_fields)
    return ", ".join(names)


def resolve_path(name_or_path: str | Path) -> Path:
    """A scenario file: a path, or the name of a shipped scenario (``baseline``)."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        shipped = SCENARIO_DIR / f"{name_or_path}.toml"
        if shipped.exists():
            return shipped
    if not path.exists():
        available = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
        raise ScenarioError(f"scenario: {name_or_path} not found (shipped scenarios: {available})")
    return path


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario; every problem is a one-line ``ScenarioError``."""
    path = resolve_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{path}: not valid TOML ({err})") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(f"{path}: {_describe(err.errors()[0])}") from None
