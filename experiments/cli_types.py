"""Argument types and early checks of the ``scsim`` command line (one-line messages that name the field)."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from sim.errors import UserError


def int_at_least(field: str, minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum``, with a one-line message naming ``field``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{field}: must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{field}: must be an integer >= {minimum}, got {value}")
        return value

    return parse


def positive_int(field: str) -> Callable[[str], int]:
    return int_at_least(field, 1)


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed: must be an integer in [0, 2**63), got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"--seed: must be an integer in [0, 2**63), got {value}")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port: must be an integer between 1 and 65535, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"--port: must be an integer between 1 and 65535, got {value}")
    return value


def check_writable_file(path: Path, field: str) -> None:
    """Fail early if ``path`` cannot be created (before any expensive work)."""
    directory = path.parent if str(path.parent) else Path(".")
    if path.exists() and path.is_dir():
        raise UserError(f"{field}: {path} is a directory; give a file path")
    if not directory.is_dir():
        raise UserError(f"{field}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise UserError(f"{field}: directory {directory} is not writable")
    # os.access says yes to root everywhere, even in /proc: only creating a file tells.
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as err:
        raise UserError(f"{field}: cannot create files in {directory}: {err.strerror or err}") from None


def check_writable_dir(path: Path, field: str) -> None:
    if path.exists() and not path.is_dir():
        raise UserError(f"{field}: {path} exists and is not a directory")
    parent = path if path.exists() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise UserError(f"{field}: {path} is not writable")
