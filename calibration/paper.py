"""Loaders for the paper's tables, shipped as CSV under ``calibration/data``.

Every file carries provenance columns (``table``, ``row_label``, ``section``)
and a ``status``/``note`` pair recording how garbled or inconsistent cells of
the PDF extraction were read (see ``calibration/data/README.md``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"

PROVENANCE_COLUMNS = ("table", "row_label", "section", "status", "note")


class DataFileError(ValueError):
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


def a2_normalised(variable: str, column: str) -> pd.Series:
    """A2 shares of a single-choice item, rescaled to sum exactly to 1 (rounding)."""
    shares = a2_shares(variable, column)
    return shares / shares.sum()


@cache
def a4_tolerances() -> pd.Series:
    """Table A4 tolerances (1 − R² on the other predictors), by variable."""
    frame = read_table("table_a4_tolerances.csv", ("variable", "tolerance"))
    return frame.set_index("variable")["tolerance"].astype(float)


@cache
def a3_summary() -> pd.DataFrame:
    """Table A3 means and SDs (weighted), by variable."""
    return read_table("table_a3_summary.csv", ("variable", "mean", "sd")).set_index("variable")


@cache
def usage_facts() -> pd.Series:
    """Usage facts quoted in the text (Figure 2, footnote 10), in percent."""
    frame = read_table("usage_facts.csv", ("fact", "value_pct"))
    return frame.set_index("fact")["value_pct"].astype(float)


@cache
def table4() -> pd.DataFrame:
    """Table 4 ordered-logit cells as read (model, term, coef, se, status, note)."""
    return read_table("table4_ordered_logit.csv", ("model", "term", "coef", "se"))


def as_fraction(values: pd.Series | np.ndarray) -> np.ndarray:
    """Percent → fraction."""
    return np.asarray(values, dtype=float) / 100.0
