"""The calibration ensemble on disk, and the choice of calibration a run uses (``--calibration``).

Layout (written by ``scsim calibrate --ensemble``; shipped under ``params/ensemble/``)::

    ensemble/manifest.json              every member tried, accepted or not, with its figures
    ensemble/member_03/population_v2.json
    ensemble/member_03/joint_v1.json    a member's generator and joint model (the shipped formats)
    ensemble/member_03/fit.json         its fit figures and the acceptance checks

The ensemble is read from ``params_dir()/ensemble`` (so ``$SCSIM_PARAMS_DIR``
selects another one, as it does for the single calibration). Only accepted
members can be selected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calibration.joint import JointParams
from calibration.parameter_files import JOINT_FILE, POPULATION_FILE, ParameterFileError, params_dir, read_json
from calibration.population import GeneratorParams
from sim.errors import UserError

ENSEMBLE_DIR = "ensemble"
MANIFEST_FILE = "manifest.json"
FIT_FILE = "fit.json"
CHOICES = "shipped, ensemble or member:K"


@dataclass(frozen=True)
class CalibrationChoice:
    """Which calibration a run uses.

    Attributes:
        kind: ``shipped`` (the single shipped calibration), ``ensemble`` (a member
            drawn per replicate) or ``member`` (one fixed member).
        member: The member's index when ``kind == "member"``.
    """

    kind: str = "shipped"
    member: int | None = None

    def __str__(self) -> str:
        return f"member:{self.member}" if self.kind == "member" else self.kind


SHIPPED = CalibrationChoice()


def parse_calibration(text: str | CalibrationChoice) -> CalibrationChoice:
    """``shipped`` | ``ensemble`` | ``member:K`` → a choice (member existence is checked on use)."""
    if isinstance(text, CalibrationChoice):
        return text
    value = str(text).strip()
    if value in ("shipped", "ensemble"):
        return CalibrationChoice(value)
    match = re.fullmatch(r"member:(\d{1,4})", value)
    if match is None:
        raise UserError(f"--calibration: must be {CHOICES} (K >= 0 an accepted member), got {text!r}")
    return CalibrationChoice("member", int(match.group(1)))


def ensemble_dir() -> Path:
    """Where the ensemble is read from: ``params_dir()/ensemble``."""
    return params_dir() / ENSEMBLE_DIR


def member_dir(index: int, root: Path | None = None) -> Path:
    """Directory of member ``index`` under ``root`` (default: ``ensemble_dir()``)."""
    return (ensemble_dir() if root is None else Path(root)) / f"member_{index:02d}"


def read_manifest(root: Path | None = None) -> dict[str, Any]:
    """The ensemble's manifest (one-line ``ParameterFileError`` if it is missing or malformed)."""
    path = (ensemble_dir() if root is None else Path(root)) / MANIFEST_FILE
    manifest = read_json(path)
    members = manifest.get("members") if isinstance(manifest, dict) else None
    if not isinstance(members, list) or not all(
        isinstance(m, dict) and isinstance(m.get("index"), int) and isinstance(m.get("accepted"), bool)
        for m in members
    ):
        raise ParameterFileError(f"{path}: members: must be a list of entries with an integer index and accepted flag")
    return manifest


def accepted_members(root: Path | None = None) -> list[int]:
    """Indices of the accepted members, ascending."""
    return sorted(m["index"] for m in read_manifest(root)["members"] if m["accepted"])


def check_choice(choice: CalibrationChoice) -> None:
    """Fail now, as one line, if the choice cannot be loaded (no ensemble, or not an accepted member)."""
    if choice.kind == "shipped":
        return
    accepted = accepted_members()
    if not accepted:
        raise UserError(f"--calibration: the ensemble in {ensemble_dir()} has no accepted member")
    if choice.kind == "member" and choice.member not in accepted:
        raise UserError(
            f"--calibration: member:{choice.member} is not an accepted member; "
            f"accepted: {', '.join(map(str, accepted))}"
        )


def member_generator(index: int) -> GeneratorParams:
    """The generator of member ``index`` (checked like the shipped file)."""
    return GeneratorParams.load(member_dir(index) / POPULATION_FILE)


def member_joint(index: int) -> JointParams:
    """The joint model of member ``index`` (checked like the shipped file)."""
    return JointParams.load(member_dir(index) / JOINT_FILE)
