"""Declarative scenarios: TOML files validated against the engine's parameter schema.

A scenario names its t = 0 policy (``[levers]``, default the 2018 status quo),
any behavioural assumptions it overrides (``[dynamics]``, ``[scores]``),
which channels are on (``[channels]``), and when levers change
(``[[changes]]``, each with a ``month`` and the levers it sets from that month
on), and any survey experiments in silico (``[[treatments]]``,
``sim.treatments``). Types, ranges and status-quo ranges come from ``sim.params`` and
``sim.schema``, defined once for the engine, scenarios, sweeps and the app.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.errors import ParameterError, UserError
from sim.params import Channels, DynamicsParams, PolicyLevers, SimulationParams
from sim.schema import describe, validated
from sim.scores import ScoreParams
from sim.treatments import MAX_MONTH, Treatment, unique_names

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class ScenarioError(UserError):
    """A scenario file is missing, unreadable or invalid (one-line message)."""


class Change(BaseModel):
    """Levers set from ``month`` on; every other key is a lever of ``PolicyLevers``."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    month: Annotated[int, Field(ge=1, le=MAX_MONTH)]

    @model_validator(mode="after")
    def _levers_are_valid(self) -> Change:
        values = dict(self.model_extra or {})
        if not values:
            raise ParameterError("a change must set at least one lever besides its month")
        validated(PolicyLevers, values)
        return self

    def lever_values(self) -> dict[str, Any]:
        """The levers this change sets, as the schema types them (e.g. 1 → 1.0 for a float lever)."""
        values = dict(self.model_extra or {})
        typed = validated(PolicyLevers, values)
        return {name: getattr(typed, name) for name in values}


class Scenario(BaseModel):
    """A validated scenario."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-]+$")]
    description: str = ""
    levers: PolicyLevers = Field(default_factory=PolicyLevers)
    dynamics: DynamicsParams = Field(default_factory=DynamicsParams)
    scores: ScoreParams = Field(default_factory=ScoreParams)
    channels: Channels = Field(default_factory=Channels)
    changes: list[Change] = Field(default_factory=list)
    treatments: list[Treatment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _status_quo_holds(self) -> Scenario:
        self.params().check_status_quo()
        unique_names(self.treatments)
        return self

    def params(self) -> SimulationParams:
        """The engine's parameters at t = 0."""
        return SimulationParams(levers=self.levers, dynamics=self.dynamics, channels=self.channels, scores=self.scores)

    def schedule(self) -> list[tuple[int, dict[str, Any]]]:
        return [(change.month, change.lever_values()) for change in self.changes]

    def last_change_month(self) -> int:
        """Month of the latest scheduled change (0 if none)."""
        return max((change.month for change in self.changes), default=0)

    def check_horizon(self, months: int) -> None:
        """Refuse a change scheduled after the last simulated month: it would silently never happen."""
        for index, change in enumerate(self.changes):
            if change.month > months:
                raise ScenarioError(
                    f"{self.name}: changes.{index}.month: {change.month} is after the horizon of {months} months; "
                    f"simulate at least {change.month} months or move the change"
                )
        for index, treatment in enumerate(self.treatments):
            if treatment.month > months:
                raise ScenarioError(
                    f"{self.name}: treatments.{index}.month: {treatment.month} is after the horizon of {months} "
                    f"months; simulate at least {treatment.month} months or move the treatment"
                )


def _describe(error: dict[str, Any]) -> str:
    """One line naming the key and what is allowed."""
    loc = [str(part) for part in error["loc"]]
    section = loc[0] if loc else ""
    if section == "changes" and len(loc) >= 2:
        prefix = ".".join(loc[:2])
        rest = {**error, "loc": tuple(loc[2:])}
        if loc[2:] == ["month"]:
            return f"{prefix}.month: must be an integer month between 1 and {MAX_MONTH}, got {error.get('input')!r}"
        return describe(rest, PolicyLevers, prefix)
    if section == "treatments" and len(loc) >= 3:
        prefix = ".".join(loc[:2])
        rest = {**error, "loc": tuple(loc[2:])}
        return describe(rest, Treatment, prefix)
    if error["type"] == "value_error" and isinstance(error.get("ctx", {}).get("error"), ParameterError) and not loc:
        return str(error["ctx"]["error"])
    return describe(error, Scenario)


def resolve_shipped(name_or_path: str | Path, directory: Path, what: str, error: type[UserError]) -> Path:
    """A TOML file: a path, or the name of one shipped in ``directory``; else one line listing the shipped ones."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        shipped = directory / f"{name_or_path}.toml"
        if shipped.exists():
            return shipped
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in directory.glob("*.toml")))
        raise error(f"{what}: {name_or_path} not found (shipped {what}s: {available})")
    return path


def resolve_path(name_or_path: str | Path) -> Path:
    """A scenario file: a path, or the name of a shipped scenario (``baseline``)."""
    return resolve_shipped(name_or_path, SCENARIO_DIR, "scenario", ScenarioError)


def shipped_scenarios() -> list[str]:
    """Names of the scenarios that ship with the package."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def read_toml(path: Path, error: type[UserError]) -> dict[str, Any]:
    """A TOML file's content; unreadable, invalid or absurdly nested text raises ``error`` with one line."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise error(f"{path}: not valid TOML ({err})") from None
    except RecursionError:
        raise error(f"{path}: not valid TOML (nested too deeply)") from None
    except OSError as err:
        raise error(f"{path}: cannot be read ({err.strerror})") from None


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario; every problem is a one-line ``ScenarioError``."""
    path = resolve_path(name_or_path)
    data = read_toml(path, ScenarioError)
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(f"{path}: {_describe(err.errors()[0])}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: nested too deeply") from None
