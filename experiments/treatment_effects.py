"""Survey experiments in silico: treated-minus-control tables and their summary (``sim.treatments``).

The effect is reported as Xu, Kostka & Cao (2022) report theirs: the treated's
support relative to the control's. Their 0–10 support maps onto the 1–5
approval scale through the mean scale position, (approval − 1) / 4 against
support / 10. Caveats: they asked 750 college students about support for the
SCS, while the approval model is fitted to 2,209 internet users asked about
approval of the SCS; a relative change in position assumes both scales
measure the same attitude with the same zero point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.treatments import SUBGROUPS, relative_change, scale_position

TREATMENT_COLUMNS = (
    "replicate", "treatment", "kind", "month", "months_since", "subgroup",
    "n_treated", "n_control", "treated_mean", "control_mean", "relative_change",
)  # fmt: skip


def treatment_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """The engine's rows as a table, with the relative change in mean scale position of each row."""
    frame = pd.DataFrame(list(rows), columns=[c for c in TREATMENT_COLUMNS if c != "relative_change"])
    frame["relative_change"] = relative_change(frame["treated_mean"].to_numpy(), frame["control_mean"].to_numpy())
    return frame.astype({"replicate": np.int32, "month": np.int32, "months_since": np.int32,
                         "n_treated": np.int64, "n_control": np.int64})  # fmt: skip


def summarise(frame: pd.DataFrame) -> dict[str, dict]:
    """Per treatment: the effect right after it (its month), by subgroup, and how it fades.

    Each subgroup's figure is the mean over replicates of the replicate's
    relative change; the interval is the 2.5th–97.5th percentile over
    replicates (given from 2 replicates on).
    """
    summary: dict[str, dict] = {}
    for name, rows in frame.groupby("treatment", sort=False):
        right_after = rows[rows["months_since"] == 0]
        by_subgroup = {}
        for subgroup in SUBGROUPS:
            cells = right_after[right_after["subgroup"] == subgroup]
            changes = cells["relative_change"].to_numpy()
            finite = changes[np.isfinite(changes)]
            by_subgroup[subgroup] = {
                "relative_change": float(finite.mean()) if finite.size else None,
                "interval": [float(q) for q in np.percentile(finite, [2.5, 97.5])] if finite.size >= 2 else None,
                "treated_scale_position": _position(cells["treated_mean"]),
                "control_scale_position": _position(cells["control_mean"]),
                "n_treated": int(cells["n_treated"].sum()),
                "n_control": int(cells["n_control"].sum()),
            }
        overall = rows[rows["subgroup"] == "all"].groupby("months_since")["relative_change"].mean()
        summary[str(name)] = {
            "kind": str(rows["kind"].iloc[0]),
            "month": int(rows["month"].min()),
            "replicates": int(rows["replicate"].nunique()),
            "right_after": by_subgroup,
            "relative_change_by_months_since": {int(k): float(v) for k, v in overall.items()},
        }
    return summary


def _position(means: pd.Series) -> float | None:
    finite = means.to_numpy()[np.isfinite(means.to_numpy())]
    return float(scale_position(finite.mean())) if finite.size else None


def summary_lines(summary: dict[str, dict]) -> list[str]:
    """One line per treatment: its relative change right after, overall."""
    lines = []
    for name, entry in summary.items():
        overall = entry["right_after"]["all"]
        change = overall["relative_change"]
        shown = "n/a" if change is None else f"{100 * change:+.1f}%"
        interval = overall["interval"]
        band = "" if interval is None else f" ({100 * interval[0]:+.1f}% to {100 * interval[1]:+.1f}% over replicates)"
        lines.append(
            f"treatment {name} ({entry['kind']}, month {entry['month']}): mean scale position of the treated "
            f"{shown}{band} against control right after; {overall['n_treated']:,} treated and "
            f"{overall['n_control']:,} control over {entry['replicates']} replicate(s)"
        )
    return lines
