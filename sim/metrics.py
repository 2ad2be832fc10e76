"""Monthly metrics, for everyone and by subgroup (collected through mesa's DataCollector).

Groups are ``all`` and ``<attribute>=<value>``: urban, age group (1 = 14–30,
2 = 31–50, 3 = 51+), income group, education, commercial user, aware
government-pilot participant, blacklisted. ``share_advantages`` and
``share_disadvantages`` are shares among Sesame/Tencent users, the people the
survey asked (Table A2, note d).
"""

from __future__ import annotations

import numpy as np

from sim.params import ADVANTAGE_TYPES
from sim.state import CitizenState

APPROVAL_CATEGORIES = (1, 2, 3, 4, 5)
GROUP_METRICS = (
    *(f"share_{k}" for k in APPROVAL_CATEGORIES),
    "share_approve",
    "mean_approval",
    "share_advantages",
    "share_disadvantages",
    "share_blacklisted",
)


# Every subgroup attribute with its number of codes (code 0 unused where codes start at 1).
AXES = (
    ("urban", 2),
    ("age_group", 4),
    ("income_group", 4),
    ("education", 5),
    ("commercial_user", 2),
    ("gov_pilot_participant", 2),
    ("blacklisted", 2),
)


def static_cells(state: CitizenState) -> np.ndarray:
    """Cell index of the attributes that never change (computed once per state)."""
    if "cell" not in state.group_cache:
        cov = state.covariates
        codes = (
            cov["urban"].astype(np.int64),
            np.digitize(cov["age"], [31, 51]) + 1,
            cov["income_group"].astype(np.int64),
            cov["education"].astype(np.int64),
            state.commercial.astype(np.int64),
        )
        cell = np.zeros(state.n, dtype=np.int64)
        for code, (_, size) in zip(codes, AXES[:5], strict=True):
            cell = cell * size + code
        state.group_cache["cell"] = cell * 4  # room for the two dynamic attributes
    return state.group_cache["cell"]


def collect_metrics(state: CitizenState, approval: np.ndarray) -> dict[str, float]:
    """Flat dict ``"<group>|<metric>" → value`` for one month.

    Citizens are counted once into a table over every combination of subgroup
    attributes (a few hundred cells); each group's metrics are sums over that
    table, which keeps this cheap at a million citizens.
    """
    users = state.sesame_or_tencent
    listed = state.listed
    cell = static_cells(state) + state.aware * 2 + listed
    shape = tuple(size for _, size in AXES)
    cells = int(np.prod(shape))
    by_category = np.bincount(cell * 5 + (approval.astype(np.int64) - 1), minlength=cells * 5)
    by_category = by_category.reshape(*shape, 5).astype(float)
    user_cells = cell[users]
    advantaged = state.covariates["advantages"][users] == 1
    disadvantaged = state.covariates["disadvantages"][users] == 1
    tables = {
        name: np.bincount(selected, minlength=cells).reshape(shape).astype(float)
        for name, selected in (
            ("users", user_cells),
            ("advantages", user_cells[advantaged]),
            ("disadvantages", user_cells[disadvantaged]),
            ("listed", cell[listed]),
        )
    }
    out: dict[str, float] = {}
    all_axes = tuple(range(len(AXES)))
    for axis, (group, size) in enumerate((("all", 1), *AXES)):
        others = all_axes if group == "all" else tuple(a for a in all_axes if a != axis - 1)
        categories = by_category.sum(axis=others).reshape(size, 5)
        by = {name: table.sum(axis=others).reshape(size) for name, table in tables.items()}
        counts = categories.sum(axis=1)
        for code in np.flatnonzero(counts):
            key = "all" if group == "all" else f"{group}={code}"
            shares = categories[code] / counts[code]
            users_here = by["users"][code]
            values = {
                **{f"share_{k}": shares[k - 1] for k in APPROVAL_CATEGORIES},
                "share_approve": shares[3] + shares[4],
                "mean_approval": float(shares @ np.arange(1.0, 6.0)),
                "share_advantages": by["advantages"][code] / users_here if users_here else float("nan"),
                "share_disadvantages": by["disadvantages"][code] / users_here if users_here else float("nan"),
                "share_blacklisted": by["listed"][code] / counts[code],
            }
            for metric in GROUP_METRICS:
                out[f"{key}|{metric}"] = float(values[metric])
    out["all|share_wrongly_listed"] = float(state.wrongly_listed.mean())
    out["all|share_redlisted"] = float((state.redlisted_months_left > 0).mean())
    for level, name in ((1, "travel_ban"), (2, "credit_restriction"), (3, "public_naming")):
        out[f"all|share_sanction_{name}"] = float((listed & (state.sanctions >= level)).mean())
    for name in ADVANTAGE_TYPES:
        out[f"all|share_benefit_{name}"] = float(state.benefits_this_month[name][users].mean()) if users.any() else 0.0
    out["all|share_aware"] = float(state.aware.mean())
    out["all|share_pilot_resident"] = float(state.resident.mean())
    out["all|mean_fairness"] = float(state.covariates["fairness"].mean())
    return out
