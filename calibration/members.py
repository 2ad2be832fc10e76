"""The calibration a replicate runs with: the shipped one or a member of the ensemble, loaded once per process.

``calibration.ensemble_files`` defines the ensemble on disk and the choice
(``shipped``, ``ensemble`` or ``member:K``). This module turns a choice into
what one replicate uses:

* ``shipped``: the single shipped calibration (``$SCSIM_PARAMS_DIR`` or
  ``calibration/params``), loaded exactly as before the ensemble existed, so
  shipped runs are unchanged bit for bit;
* ``member:K``: member K's generator and joint model, in every replicate;
* ``ensemble``: a member drawn uniformly from the accepted members, from a
  stream of the replicate's seed that drives nothing else (``draw_member``).

Members are read and checked once per process while their files are
unchanged (keyed by path, inode, modification time and size, like
``calibration.citizens._loaded_joint_params``): a sweep runs thousands of
replicates, and workers must not re-validate a 29 × 29 covariance each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibration.ensemble_files import (
    MANIFEST_FILE,
    CalibrationChoice,
    accepted_members,
    check_choice,
    ensemble_dir,
    member_dir,
    parse_calibration,
)
from calibration.joint import JointParams
from calibration.parameter_files import JOINT_FILE, POPULATION_FILE, ParameterFileError, params_path
from calibration.population import GeneratorParams
from sim.errors import UserError

_CACHE_SIZE = 64  # members kept per process (each a few tens of kB)


@dataclass(frozen=True)
class Calibration:
    """One loaded calibration.

    Attributes:
        member: The member's index, or None for the shipped calibration.
        generator: The member's generator; None for shipped (the loaders read
            the shipped file themselves, as they always have).
        joint: The member's joint model; None for shipped.
        key: Identifies the generator file (path, inode, modification time,
            size): citizens built with equal keys are equal.
    """

    member: int | None
    generator: GeneratorParams | None
    joint: JointParams | None
    key: tuple

    @property
    def label(self) -> str:
        return "shipped" if self.member is None else f"member:{self.member}"


def _file_key(path: Path) -> tuple:
    try:
        stat = path.stat()
    except OSError:
        return (str(path),)  # the loader reports the problem as one line
    return (str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size)


_accepted_cache: dict[tuple, list[int]] = {}
_member_cache: dict[tuple, Calibration] = {}


def cached_accepted_members() -> list[int]:
    """``accepted_members()``, read once per process while the manifest is unchanged."""
    key = _file_key(ensemble_dir() / MANIFEST_FILE)
    if key not in _accepted_cache:
        _accepted_cache.clear()
        _accepted_cache[key] = accepted_members()
    return list(_accepted_cache[key])


def load_calibration(member: int | None) -> Calibration:
    """The shipped calibration (``member`` None) or accepted member ``member``, cached per process.

    Raises:
        UserError: ``member`` is not an accepted member.
        ParameterFileError: A member's file is missing or invalid (one line).
    """
    if member is None:
        return Calibration(None, None, None, ("shipped", *_file_key(params_path(POPULATION_FILE))))
    directory = member_dir(member)
    key = (
        member,
        _file_key(ensemble_dir() / MANIFEST_FILE),
        _file_key(directory / POPULATION_FILE),
        _file_key(directory / JOINT_FILE),
    )
    if key not in _member_cache:
        accepted = cached_accepted_members()
        if member not in accepted:
            raise UserError(
                f"--calibration: member:{member} is not an accepted member; accepted: {', '.join(map(str, accepted))}"
            )
        if len(_member_cache) >= _CACHE_SIZE:
            _member_cache.clear()
        generator = GeneratorParams.load(directory / POPULATION_FILE)
        joint = JointParams.load(directory / JOINT_FILE)
        _member_cache[key] = Calibration(member, generator, joint, key[:1] + key[2:3])
    return _member_cache[key]


def draw_member(accepted: Sequence[int], seed: np.random.SeedSequence) -> int:
    """A member drawn uniformly from ``accepted`` with the stream ``seed`` (the same seed, the same member)."""
    if not accepted:
        raise UserError("--calibration: the ensemble has no accepted member")
    rng = np.random.default_rng(seed)
    return int(accepted[int(rng.integers(len(accepted)))])


def replicate_member(choice: CalibrationChoice | str, member_seed: np.random.SeedSequence) -> int | None:
    """The member a replicate uses under ``choice`` (None: shipped).

    Args:
        choice: The calibration choice (or its text).
        member_seed: The replicate's member stream; read only under ``ensemble``.
    """
    choice = parse_calibration(choice)
    if choice.kind == "shipped":
        return None
    if choice.kind == "member":
        return choice.member
    return draw_member(cached_accepted_members(), member_seed)


def checked_choice(text: str | CalibrationChoice) -> CalibrationChoice:
    """Parse a ``--calibration`` value and make sure it can run: every member it may use loads.

    Everything fails as one ``UserError`` line naming ``--calibration``, before any work starts.
    """
    choice = parse_calibration(text)
    if choice.kind == "shipped":
        return choice
    manifest = ensemble_dir() / MANIFEST_FILE
    if not manifest.is_file():
        raise UserError(
            f"--calibration: {choice} needs the calibration ensemble, but {manifest} does not exist; "
            "use --calibration shipped, or build the ensemble first"
        )
    try:
        check_choice(choice)
        for member in [choice.member] if choice.kind == "member" else cached_accepted_members():
            load_calibration(member)
    except ParameterFileError as err:
        raise UserError(f"--calibration: {err}") from None
    return choice


__all__ = [
    "Calibration",
    "CalibrationChoice",
    "cached_accepted_members",
    "checked_choice",
    "draw_member",
    "load_calibration",
    "parse_calibration",
    "replicate_member",
]
