"""Sweep files: levers and uncertainties, a design, and the outcomes to keep (TOML, ``experiments/sweeps/``).

Levers and uncertainties are kept apart, as in exploratory modelling (EMA
Workbench): ``[levers]`` varies policy (``sim.params.PolicyLevers``), and
``[uncertainties]`` varies assumed behaviour (``dynamics.<name>``,
``scores.<name>``). Every factor's type and allowed range come from the one
parameter schema; a sweep file only narrows them.

    name = "sanction_x_benefit"
    scenario = "baseline"          # every run starts from this scenario
    design = "grid"                # grid | lhs | sobol | morris
    months = 36
    n = 2209
    replications = 2
    outcomes = ["share_approve", "urban=0|share_approve"]

    [levers]
    blacklist_rate = { min = 0.0, max = 0.2, levels = 5 }
    sanction_breadth = { values = [1, 3] }

    [effect]                       # optional: outcomes become paired effects
    shift = "punitive_shift"       # (scenario + shift) − scenario, on the same seeds

Lever factors are changes from ``change_month`` (default: the shift's first
month for a paired sweep, else month 1): the t = 0 state is the 2018 survey.
Uncertainties hold from t = 0, in both arms of a paired sweep.

One uncertainty is not a parameter of the schema: ``calibration_member``, the
member of the calibration ensemble a point runs with (its generator and joint
model; ``scsim sweep --calibration``). Its values are member indices, as in
``--calibration member:K``, and only accepted members are allowed:
``{ values = [0, 3] }`` lists them, ``{ min = 0, max = 9 }`` takes every
accepted member in the range (the ensemble's indices have gaps where members
were rejected). A sampled design (LHS, Sobol, Morris) maps its unit coordinate
onto that list in equal parts, as for any integer factor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from calibration.ensemble_files import MANIFEST_FILE, SHIPPED, CalibrationChoice, ensemble_dir
from calibration.members import cached_accepted_members, load_calibration
from calibration.parameter_files import ParameterFileError
from experiments.scenario import Scenario, ScenarioError, load_scenario, read_toml, resolve_shipped
from sim.errors import UserError
from sim.metrics import METRIC_KEYS
from sim.params import DynamicsParams, PolicyLevers
from sim.schema import ParameterSpec, describe, parameter_specs
from sim.scores import ScoreParams

SWEEP_DIR = Path(__file__).resolve().parent / "sweeps"
UNCERTAINTY_GROUPS = {"dynamics": DynamicsParams, "scores": ScoreParams}
MEMBER_FACTOR = "calibration_member"
MAX_RUNS = 1_000_000
DEFAULT_GRID_LEVELS = 5


class SweepError(UserError):
    """A sweep file is missing, unreadable or invalid (one-line message)."""


STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class FactorSpec(BaseModel):
    """A factor's range (``min``, ``max``, grid ``levels``) or its explicit ``values``."""

    model_config = STRICT

    min: float | None = None
    max: float | None = None
    levels: Annotated[int, Field(ge=2, le=1000)] | None = None
    values: list[float | int | bool] | None = None

    @model_validator(mode="after")
    def _range_or_values(self) -> FactorSpec:
        if self.values is not None:
            if self.min is not None or self.max is not None or self.levels is not None:
                raise ValueError("give either values, or min and max (with optional levels), not both")
            if not self.values:
                raise ValueError("values: empty list")
            if len(set(self.values)) != len(self.values):
                raise ValueError(f"values: repeated values in {self.values}")
        elif self.min is None or self.max is None:
            raise ValueError("needs min and max, or values")
        elif self.min >= self.max:
            raise ValueError(f"empty range: min {self.min:g} must be below max {self.max:g}")
        return self


class Effect(BaseModel):
    """A paired effect: every design point runs the shift and its baseline on the same seeds."""

    model_config = STRICT

    shift: str


class SweepFile(BaseModel):
    """The sweep file as written (validated, not yet resolved against the schema)."""

    model_config = STRICT

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-]+$")]
    description: str = ""
    scenario: str = "baseline"
    design: Literal["grid", "lhs", "sobol", "morris"]
    samples: Annotated[int, Field(ge=1)] | None = None
    levels: Annotated[int, Field(ge=2, le=1000)] | None = None
    months: Annotated[int, Field(ge=1, le=600)] = 60
    n: Annotated[int, Field(ge=1)] = 2209
    replications: Annotated[int, Field(ge=1)] = 1
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    seeds: Literal["common", "independent"] = "common"
    coefficient_draws: bool = False
    change_month: Annotated[int, Field(ge=1, le=600)] | None = None
    outcomes: list[str] = Field(default_factory=lambda: ["share_approve"])
    effect: Effect | None = None
    levers: dict[str, FactorSpec] = Field(default_factory=dict)
    uncertainties: dict[str, FactorSpec] = Field(default_factory=dict)


class Factor:
    """One swept parameter: where it lives, its schema entry, and its values or range."""

    def __init__(self, kind: str, group: str, name: str, spec: ParameterSpec, factor: FactorSpec) -> None:
        self.kind, self.group, self.name, self.schema = kind, group, name, spec
        self.values = factor.values
        self.low, self.high, self.levels = factor.min, factor.max, factor.levels

    @property
    def label(self) -> str:
        """Column name in the results: the lever's name, ``dynamics.<name>`` / ``scores.<name>``, or the member."""
        return self.name if self.group in ("levers", "calibration") else f"{self.group}.{self.name}"

    @property
    def discrete(self) -> bool:
        return self.values is not None or self.schema.kind == "int"

    def choices(self) -> list[Any]:
        """Every value a discrete factor can take, in order."""
        if self.values is not None:
            return list(self.values)
        return list(range(int(self.low), int(self.high) + 1))

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.label, "kind": self.kind, "type": self.schema.kind}
        if self.values is not None:
            out["values"] = list(self.values)
        else:
            out |= {"min": self.low, "max": self.high, "levels": self.levels}
        return out


class Sweep:
    """A validated sweep: its settings, its factors and its (resolved) scenarios."""

    def __init__(self, file: SweepFile, source: str, calibration: CalibrationChoice = SHIPPED) -> None:
        self.file = file
        self.source = source
        self.calibration = calibration
        self.scenario = _scenario(file.scenario, "scenario")
        self.shift = _scenario(file.effect.shift, "effect.shift") if file.effect else None
        self.factors = [
            *(_factor("lever", "levers", name, spec) for name, spec in file.levers.items()),
            *(_uncertainty(name, spec) for name, spec in file.uncertainties.items()),
        ]
        if not self.factors:
            raise SweepError("levers, uncertainties: a sweep needs at least one factor")
        self.outcomes = [_outcome(name, index) for index, name in enumerate(file.outcomes)]
        if not self.outcomes:
            raise SweepError("outcomes: a sweep needs at least one outcome")
        self.change_month = file.change_month or (self.shift_month() if self.shift else 1)
        if self.shift is not None:
            for month, change in self.shift.schedule():
                clash = sorted(set(change) & set(file.levers))
                if clash and month > self.change_month:
                    raise SweepError(
                        f"change_month: {self.change_month} is before month {month}, when the shift sets "
                        f"{', '.join(clash)} itself and would override the swept value; use {month} or later"
                    )
        self._check_months(file.months)
        self._check_design()

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def member_factor(self) -> Factor | None:
        """The ``calibration_member`` uncertainty, if the sweep varies it."""
        return next((f for f in self.factors if f.group == "calibration"), None)

    def with_calibration(self, calibration: CalibrationChoice) -> Sweep:
        """The sweep run under a ``--calibration`` choice (a ``calibration_member`` factor sets it per point)."""
        if calibration.kind == "member" and self.member_factor is not None:
            raise SweepError(
                f"--calibration: {calibration} fixes one member, but the sweep varies {MEMBER_FACTOR}; "
                "leave --calibration at shipped (the factor decides each point's member)"
            )
        return Sweep(self.file, self.source, calibration)

    def shift_month(self) -> int:
        return min((change.month for change in self.shift.changes), default=1) if self.shift else 1

    def with_overrides(self, n: int | None, months: int | None, replications: int | None) -> Sweep:
        """The sweep with N, months or replications replaced (command-line quick looks)."""
        updates = {key: value for key, value in (("n", n), ("months", months), ("replications", replications))
                   if value is not None}  # fmt: skip
        if not updates:
            return self
        # Validated like the file itself (model_copy would not check, e.g., months <= 600).
        try:
            file = SweepFile.model_validate({**self.file.model_dump(), **updates})
        except ValidationError as err:
            raise SweepError(f"--{_describe(err.errors()[0])}") from None
        return Sweep(file, self.source, self.calibration)

    def _check_months(self, months: int) -> None:
        if self.change_month > months:
            raise SweepError(f"change_month: {self.change_month} is after the horizon of {months} months")
        for label, scenario in (("scenario", self.scenario), ("effect.shift", self.shift)):
            if scenario is None:
                continue
            try:
                scenario.check_horizon(months)
            except ScenarioError as err:
                raise SweepError(f"{label}: {err}") from None

    def _check_design(self) -> None:
        design, samples, levels = self.file.design, self.file.samples, self.file.levels
        if design == "grid":
            if samples is not None:
                raise SweepError("samples: a grid has no samples; set levels per factor (or the default levels)")
        elif samples is None:
            raise SweepError(f"samples: the {design} design needs samples (points, or base samples for sobol)")
        if design == "sobol" and samples & (samples - 1):
            raise SweepError(f"samples: the Sobol sampler needs a power of 2 (e.g. 64, 128, 256), got {samples}")
        if design == "morris" and levels is not None and levels % 2:
            raise SweepError(f"levels: the Morris sampler needs an even number of levels, got {levels}")
        if design != "morris" and design != "grid" and levels is not None:
            raise SweepError(f"levels: only grid and morris designs take levels, not {design}")
        for factor in self.factors:
            if design != "grid" and factor.levels is not None:
                raise SweepError(f"{factor.kind}s.{factor.name}.levels: only a grid takes levels per factor")

    def fingerprint_data(self) -> dict[str, Any]:
        """Everything that decides the runs (used to refuse a different sweep in the same directory)."""
        data = {
            "file": self.file.model_dump(mode="json"),
            "scenario": self.scenario.model_dump(mode="json"),
            "shift": self.shift.model_dump(mode="json") if self.shift else None,
        }
        if self.calibration.kind != "shipped" or self.member_factor is not None:
            # Members drawn or swept: which members were accepted decides the runs too.
            data["calibration"] = {"choice": str(self.calibration), "accepted_members": cached_accepted_members()}
        return data


def _scenario(name: str, field: str) -> Scenario:
    try:
        return load_scenario(name)
    except ScenarioError as err:
        raise SweepError(f"{field}: {str(err).removeprefix('scenario: ')}") from None


def _factor(kind: str, group: str, name: str, spec: FactorSpec) -> Factor:
    model = PolicyLevers if group == "levers" else UNCERTAINTY_GROUPS[group]
    specs = parameter_specs(model)
    where = f"{group}.{name}" if kind == "lever" else f'uncertainties."{group}.{name}"'
    if name not in specs:
        raise SweepError(f"{where}: unknown {kind}; allowed: {', '.join(specs)}")
    schema = specs[name]
    if schema.kind == "bool":
        raise SweepError(f"{where}: switches are not swept")
    allowed = schema.allowed()
    values = spec.values if spec.values is not None else [spec.min, spec.max]
    for value in values:
        if isinstance(value, bool) or not schema.low <= value <= schema.high:
            raise SweepError(f"{where}: must be {allowed}, got {value!r}")
        if schema.kind == "int" and float(value) != int(value):
            raise SweepError(f"{where}: must be {allowed}, got {value!r}")
        # Listed values are used as written, and the strict schema takes no float (even 1.0) for an integer.
        if schema.kind == "int" and spec.values is not None and not isinstance(value, int):
            raise SweepError(f"{where}: must be {allowed} (written without a decimal point), got {value!r}")
    return Factor(kind, group, name, schema, spec)


def _uncertainty(name: str, spec: FactorSpec) -> Factor:
    if name == MEMBER_FACTOR:
        return _member_factor(spec)
    group, _, field = name.partition(".")
    if group not in UNCERTAINTY_GROUPS or not field:
        allowed = ", ".join(f"{g}.<name>" for g in UNCERTAINTY_GROUPS)
        raise SweepError(f'uncertainties."{name}": unknown uncertainty; name it as {allowed} or {MEMBER_FACTOR}')
    return _factor("uncertainty", group, field, spec)


def _member_factor(spec: FactorSpec) -> Factor:
    """The ``calibration_member`` uncertainty: accepted member indices (its values, or those in its range)."""
    where = f"uncertainties.{MEMBER_FACTOR}"
    try:
        accepted = cached_accepted_members() if (ensemble_dir() / MANIFEST_FILE).is_file() else []
    except ParameterFileError as err:
        raise SweepError(f"{where}: {err}") from None
    if not accepted:
        raise SweepError(f"{where}: needs a calibration ensemble with accepted members; {ensemble_dir()} has none")
    listed = ", ".join(map(str, accepted))
    if spec.levels is not None:
        raise SweepError(f"{where}.levels: the member factor runs every accepted member in its range, or its values")
    if spec.values is not None:
        for value in spec.values:
            if isinstance(value, bool) or not isinstance(value, int) or value not in accepted:
                raise SweepError(f"{where}: must be accepted member indices ({listed}), got {value!r}")
        members = list(spec.values)
    else:
        members = [m for m in accepted if spec.min <= m <= spec.max]
        if not members:
            raise SweepError(f"{where}: no accepted member between {spec.min:g} and {spec.max:g}; accepted: {listed}")
    try:
        for member in members:
            load_calibration(member)  # every value must run: a broken member file fails now, as one line
    except ParameterFileError as err:
        raise SweepError(f"{where}: {err}") from None
    schema = ParameterSpec(
        name=MEMBER_FACTOR, kind="int", default=None, low=min(members), high=max(members),
        doc="member of the calibration ensemble (generator and joint model)", source="calibration ensemble",
        range_reason="accepted members", status_quo=None, status_quo_reason="",
    )  # fmt: skip
    # The chosen members become the factor's list of values: every design maps onto exactly these.
    return Factor("uncertainty", "calibration", MEMBER_FACTOR, schema, FactorSpec(values=members))


def _outcome(name: str, index: int) -> str:
    key = name if "|" in name else f"all|{name}"
    if key not in METRIC_KEYS:
        metrics = sorted({k.split("|", 1)[1] for k in METRIC_KEYS})
        raise SweepError(f"outcomes.{index}: unknown outcome {name!r}; a metric ({', '.join(metrics)}), "
                         "optionally as group|metric")  # fmt: skip
    return key


def resolve_path(name_or_path: str | Path) -> Path:
    """A sweep file: a path, or the name of a shipped sweep."""
    return resolve_shipped(name_or_path, SWEEP_DIR, "sweep", SweepError)


def load_sweep(name_or_path: str | Path) -> Sweep:
    """Load and validate a sweep file; every problem is a one-line ``SweepError``, raised before any run."""
    path = resolve_path(name_or_path)
    data = read_toml(path, SweepError)
    try:
        file = SweepFile.model_validate(data)
    except ValidationError as err:
        raise SweepError(f"{path}: {_describe(err.errors()[0])}") from None
    except RecursionError:
        raise SweepError(f"{path}: nested too deeply") from None
    try:
        return Sweep(file, str(path))
    except SweepError as err:
        raise SweepError(f"{path}: {err}") from None


def _describe(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    if error["type"] == "value_error" and loc:
        return f"{'.'.join(loc)}: {error['ctx']['error']!s}"
    if error["type"] == "extra_forbidden" and len(loc) >= 2:
        # describe() cannot follow a dict of factors to its model: name the keys allowed here.
        owner = Effect if loc[0] == "effect" else FactorSpec if loc[0] in ("levers", "uncertainties") else None
        if owner is not None:
            return f"{'.'.join(loc)}: unknown key; allowed: {', '.join(owner.model_fields)}"
    spec = parameter_specs(SweepFile).get(loc[0]) if len(loc) == 1 else None
    if spec is not None and spec.kind in ("int", "float") and (spec.low is None) != (spec.high is None):
        # A bound on one side only (n, replications, seed): not "between 1 and None".
        noun = "an integer" if spec.kind == "int" else "a number"
        bound = f">= {spec.low}" if spec.low is not None else f"<= {spec.high}"
        return f"{loc[0]}: must be {noun} {bound}, got {error.get('input')!r}"
    return describe(error, SweepFile)
