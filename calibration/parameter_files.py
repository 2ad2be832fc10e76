"""Reading and checking the calibrated parameter files (``calibration/params``).

Two JSON files hold the calibration: ``population_v2.json`` (the sample
generator, ``calibration.population.GeneratorParams``) and ``joint_v1.json``
(the joint approval model, ``calibration.joint.JointParams``). Every loader
reads them from ``params_dir()``: the directory named by the environment
variable ``SCSIM_PARAMS_DIR`` if it is set, the shipped ``calibration/params``
otherwise. The variable is read at each load, so tests and users with their
own ``scsim calibrate --refit --params-dir DIR`` can select other files.

A file is checked on load in two steps: its types, by a strict pydantic model
built from the dataclass (every field required, no extra key, numbers finite,
no string or bool where a number belongs, no list where a mapping belongs);
then its structure, by the loader (names, lengths, orderings). Any problem is
one ``ParameterFileError`` line naming the file and the field path.
"""

from __future__ import annotations

import json
import math
import os
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from calibration.paper import DataFileError

ENV_VAR = "SCSIM_PARAMS_DIR"
SHIPPED_DIR = Path(__file__).resolve().parent / "params"
POPULATION_FILE = "population_v2.json"
JOINT_FILE = "joint_v1.json"

STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class ParameterFileError(DataFileError):
    """A calibrated parameter file is missing, unreadable, or does not have the expected content."""


def params_dir() -> Path:
    """The directory the parameter files are read from: ``$SCSIM_PARAMS_DIR`` or the shipped one."""
    value = os.environ.get(ENV_VAR, "")
    if not value:
        return SHIPPED_DIR
    directory = Path(value).expanduser()
    if not directory.is_dir():
        raise ParameterFileError(
            f"{ENV_VAR}: {value} is not a directory; "
            f"it must name a directory holding {POPULATION_FILE} and {JOINT_FILE}"
        )
    return directory


def params_path(name: str) -> Path:
    """Path of parameter file ``name`` in ``params_dir()``."""
    return params_dir() / name


def read_json(path: Path) -> Any:
    """The parsed content of a JSON file, with one-line errors for every way reading can fail."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ParameterFileError(f"{path}: file not found") from None
    except OSError as err:
        raise ParameterFileError(f"{path}: cannot read the file ({err.strerror or type(err).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ParameterFileError(f"{path}: not UTF-8 text (invalid byte at offset {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ParameterFileError(f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise ParameterFileError(f"{path}: invalid JSON: nested too deeply") from None


@cache
def strict_schema(cls: type) -> type[BaseModel]:
    """A strict pydantic model with every field of dataclass ``cls`` required and nothing else allowed."""
    hints = typing.get_type_hints(cls)
    spec: dict[str, Any] = {f.name: (hints[f.name], ...) for f in fields(cls)}
    return create_model(f"{cls.__name__}File", __config__=STRICT, **spec)


@cache
def strict_adapter(annotation: object) -> TypeAdapter:
    """A strict validator of a plain type, e.g. a mapping inside the free-form ``meta``."""
    return TypeAdapter(annotation, config=STRICT)


def _shown(value: object) -> str:
    """A short rendering of an offending value, in JSON terms."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, float):
        return repr(value)
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str | bool | int | None) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_MESSAGES = {
    "finite_number": "must be a finite number",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "string_type": "must be a string",
    "dict_type": "must be a mapping (JSON object)",
    "list_type": "must be a list (JSON array)",
    "model_type": "must be a JSON object",
}


def _describe(error: Mapping[str, Any], allowed: Iterable[str]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "extra_forbidden":
        return f"{where}: unknown key; allowed: {', '.join(allowed)}"
    message = _MESSAGES.get(kind, str(error["msg"]).lower())
    return f"{where}: {message}, got {_shown(error.get('input'))}"


def validate_types(schema: type[BaseModel] | TypeAdapter, data: object, path: Path, prefix: str = "") -> None:
    """Check ``data`` against a strict schema; raise the first problem as one line."""
    try:
        if isinstance(schema, TypeAdapter):
            schema.validate_python(data)
        else:
            schema.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
        allowed = list(schema.model_fields) if not isinstance(schema, TypeAdapter) else []
        first = dict(errors[0])
        first["loc"] = (*([prefix] if prefix else []), *first["loc"])
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        # pydantic's own messages are one line, but make sure: the CLI prints exactly one.
        message = " ".join(f"{path}: {_describe(first, allowed)}{more}".splitlines())
        raise ParameterFileError(message) from None
    except RecursionError:
        raise ParameterFileError(f"{path}: nested too deeply") from None


class Checker:
    """Structural checks of one (type-checked) parameter file; each failure is one line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> typing.NoReturn:
        raise ParameterFileError(f"{self.path}: {where}: {message}")

    def exact_keys(self, where: str, mapping: Mapping[str, object], expected: Iterable[str]) -> None:
        expected = list(expected)
        missing = [k for k in expected if k not in mapping]
        unknown = sorted(k for k in mapping if k not in set(expected))
        if missing:
            self.fail(where, f"missing key(s) {missing}")
        if unknown:
            self.fail(where, f"unknown key(s) {unknown}; allowed: {', '.join(expected)}")

    def length(self, where: str, values: Sequence[object], expected: int) -> None:
        if len(values) != expected:
            self.fail(where, f"must have {expected} value{'s' if expected != 1 else ''}, got {len(values)}")

    def monotone(self, where: str, values: Sequence[float], decreasing: bool = False) -> None:
        """Strictly increasing (or, with ``decreasing``, strictly decreasing) values."""
        sign = -1.0 if decreasing else 1.0
        if not all(sign * (b - a) > 0 for a, b in pairwise(values)):
            order = "strictly decreasing" if decreasing else "strictly increasing"
            self.fail(where, f"must be {order}, got {list(values)}")

    def within(self, where: str, value: float, low: float, high: float, open_low: bool = False) -> None:
        if not ((low < value if open_low else low <= value) and value <= high):
            bracket = "(" if open_low else "["
            self.fail(where, f"must be in {bracket}{low:g}, {high:g}], got {value!r}")

    def shares(self, where: str, values: Sequence[float]) -> None:
        if any(v < 0 for v in values) or not math.isclose(sum(values), 1.0, abs_tol=1e-6):
            self.fail(where, f"must be non-negative shares summing to 1, got {list(values)}")
