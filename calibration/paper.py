"""Loaders for the paper's tables, shipped as CSV under ``calibration/data``.

Every file carries provenance columns (``table``, ``row_label``, ``section``)
and a ``status``/``note`` pair recording how garbled or inconsistent cells of
the PDF extraction were read (see ``calibration/data/README.md``).
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import pandas as pd

from sim.errors import UserError

DATA_DIR = Path(__file__).resolve().parent / "data"

PROVENANCE_COLUMNS = ("table", "row_label", "section", "status", "note")


class DataFileError(UserError):
    """A data file is missing, malformed or has values out of range."""


def read_table(name: str, required: tuple[str, ...] = (), directory: Path | None = None) -> pd.DataFrame:
    """Read one CSV of the paper's data and check its columns.

    Args:
        name: File name inside ``calibration/data`` (or ``directory``).
        required: Columns that must be present besides the provenance columns.
        directory: Alternative directory (used by tests).

    Raises:
        DataFileError: If the file is missing or lacks a required column.
    """
    path = (directory or DATA_DIR) / name
    if not path.exists():
        raise DataFileError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataFileError(f"{path}: cannot parse CSV ({err})") from err
    missing = [c for c in (*required, "table", "section", "status") if c not in frame.columns]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {missing}")
    return frame


@cache
def a2_marginals() -> pd.DataFrame:
    """Table A2, both columns, one row per (variable, code), shares in percent."""
    frame = read_table(
        "table_a2_marginals.csv",
        ("variable", "code", "unweighted_pct", "weighted_pct", "asked_of"),
    )
    frame["code"] = frame["code"].astype(int)
    return frame


def a2_shares(variable: str, column: str = "weighted_pct") -> pd.Series:
    """Shares (fractions summing to 1 for single-choice items) of one A2 variable by code."""
    frame = a2_marginals()
    rows = frame[frame["variable"] == variable]
    if rows.empty:
        raise DataFileError(f"table_a2_marginals.csv: no rows for variable {variable!r}")
    shares = rows.set_index("code")[column].astype(float) / 100.0
    return shares.sort_index()


@cache
def a4_tolerances() -> pd.Series:
    """Table A4 tolerances (1 − R² on the other predictors), by variable."""
    frame = read_table("table_a4_tolerances.csv", ("variable", "tolerance"))
    return frame.set_index("variable")["tolerance"].astype(float)


@cache
def a3_summary() -> pd.DataFrame:
    """Table A3 means and SDs (weighted), by variable."""
    return read_table("table_a3_summary.csv", ("variable", "mean", "sd")).set_index("variable")


def a3_moment(variable: str, statistic: str) -> float:
    """One Table A3 cell (``statistic`` is ``"mean"`` or ``"sd"``), checked to be a finite number."""
    summary = a3_summary()
    if variable not in summary.index:
        raise DataFileError(f"{DATA_DIR / 'table_a3_summary.csv'}: no row for variable {variable!r}")
    value = pd.to_numeric(summary.loc[variable, statistic], errors="coerce")
    if not math.isfinite(value):
        raise DataFileError(f"{DATA_DIR / 'table_a3_summary.csv'}: {variable}.{statistic}: must be a finite number")
    return float(value)


@cache
def usage_facts() -> pd.Series:
    """Numbers quoted in the text (Section 3.1, Section 4, Figure 2, footnote 10), as written."""
    frame = read_table("usage_facts.csv", ("fact", "value_pct"))
    return frame.set_index("fact")["value_pct"]


def fact(name: str) -> float:
    """One number quoted in the text (``usage_facts.csv``, column ``value_pct``, as written).

    Most facts are percentages; ``margin_of_error`` is in percentage points and
    ``sample_size``, ``max_weight`` and ``pilot_localities_count`` are not
    percentages (``calibration/data/README.md``).

    Raises:
        DataFileError: If the fact is missing, repeated or not a finite number.
    """
    facts = usage_facts()
    path = DATA_DIR / "usage_facts.csv"
    rows = facts[facts.index == name]
    if len(rows) != 1:
        found = "is missing" if rows.empty else f"appears {len(rows)} times"
        raise DataFileError(f"{path}: fact {name!r} {found}; it must appear exactly once")
    value = pd.to_numeric(rows.iloc[0], errors="coerce")
    if not math.isfinite(value):
        raise DataFileError(f"{path}: fact {name!r}: value_pct must be a finite number, got {rows.iloc[0]!r}")
    return float(value)


def sample_size() -> int:
    """Number of respondents, N = 2,209 (Section 3.1)."""
    return int(fact("sample_size"))


def max_weight() -> float:
    """The cap on the survey weights (Section 3.1: "maximum weight of 2.0")."""
    return fact("max_weight")


@cache
def table4() -> pd.DataFrame:
    """Table 4 ordered-logit cells as read (model, term, coef, se, status, note)."""
    return read_table("table4_ordered_logit.csv", ("model", "term", "coef", "se"))
