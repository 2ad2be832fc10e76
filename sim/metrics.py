"""Monthly metrics, for everyone and by subgroup (collected through mesa's DataCollector).

Groups are ``all`` and ``<attribute>=<value>``: urban, age group (1 = 14–30,
2 = 31–50, 3 = 51+), income group, education, commercial user, aware
government-pilot participant, blacklisted. ``share_advantages`` and
``share_disadvantages`` are shares among Sesame/Tencent users, the people the
survey asked (Table A2, note d).

Every month carries exactly the keys of ``METRIC_KEYS``, whatever N, the seed
or the levers: a group with nobody in it this month (the blacklisted at
month 0 of a small run, say) has NaN values, so results keep one schema and a
group that appears mid-run is never dropped.
"""

from __future__ import annotations

import numpy as np

from sim.params import ADVANTAGE_TYPES
from sim.perceptions import CHANNEL_COVARIATES
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

# Every subgroup attribute with the codes it can take.
AXES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("urban", (0, 1)),
    ("age_group", (1, 2, 3)),
    ("income_group", (1, 2, 3)),
    ("education", (1, 2, 3, 4)),
    ("commercial_user", (0, 1)),
    ("gov_pilot_participant", (0, 1)),
    ("blacklisted", (0, 1)),
)
GROUPS = ("all", *(f"{name}={code}" for name, codes in AXES for code in codes))
SANCTION_LEVELS = ((1, "travel_ban"), (2, "credit_restriction"), (3, "public_naming"))
# Metrics kept for everyone only. `share_moved_<channel>` is the share of
# citizens whose covariates under that channel differ from their t = 0 values:
# zero in every month means the channel has no route to approval in this run.
POPULATION_METRICS = (
    "share_wrongly_listed",
    "share_redlisted",
    *(f"share_sanction_{name}" for _, name in SANCTION_LEVELS),
    *(f"share_benefit_{name}" for name in ADVANTAGE_TYPES),
    "share_aware",
    "share_pilot_resident",
    "mean_fairness",
    *(f"share_moved_{channel}" for channel in CHANNEL_COVARIATES),
)
METRIC_KEYS = (
    *(f"{group}|{metric}" for group in GROUPS for metric in GROUP_METRICS),
    *(f"all|{metric}" for metric in POPULATION_METRICS),
)
# Codes of the table dimensions: one slot per code from 0 to the largest.
SIZES = tuple(max(codes) + 1 for _, codes in AXES)


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
        for code, size in zip(codes, SIZES[:5], strict=True):
            cell = cell * size + code
        state.group_cache["cell"] = cell * 4  # room for the two dynamic attributes
    return state.group_cache["cell"]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(np.shape(numerator), np.nan), where=denominator > 0)


def collect_metrics(state: CitizenState, approval: np.ndarray) -> dict[str, float]:
    """Flat dict ``"<group>|<metric>" → value`` for one month, with exactly the keys ``METRIC_KEYS``.

    Citizens are counted once into a table over every combination of subgroup
    attributes (a few hundred cells); each group's metrics are sums over that
    table, which keeps this cheap at a million citizens.
    """
    users = state.sesame_or_tencent
    listed = state.listed
    cell = static_cells(state) + state.aware * 2 + listed
    cells = int(np.prod(SIZES))
    by_category = np.bincount(cell * 5 + (approval.astype(np.int64) - 1), minlength=cells * 5)
    by_category = by_category.reshape(*SIZES, 5).astype(float)
    user_cells = cell[users]
    tables = {
        name: np.bincount(selected, minlength=cells).reshape(SIZES).astype(float)
        for name, selected in (
            ("users", user_cells),
            ("advantages", user_cells[state.covariates["advantages"][users] == 1]),
            ("disadvantages", user_cells[state.covariates["disadvantages"][users] == 1]),
            ("listed", cell[listed]),
        )
    }
    out: dict[str, float] = {}
    all_axes = tuple(range(len(AXES)))
    for axis, (attribute, codes) in enumerate((("all", (0,)), *AXES)):
        others = all_axes if attribute == "all" else tuple(a for a in all_axes if a != axis - 1)
        categories = by_category.sum(axis=others).reshape(-1, 5)[list(codes)]
        by = {name: table.sum(axis=others).reshape(-1)[list(codes)] for name, table in tables.items()}
        counts = categories.sum(axis=1)
        shares = _ratio(categories, counts[:, None])
        values = {
            **{f"share_{k}": shares[:, k - 1] for k in APPROVAL_CATEGORIES},
            "share_approve": shares[:, 3] + shares[:, 4],
            "mean_approval": shares @ np.arange(1.0, 6.0),
            "share_advantages": _ratio(by["advantages"], by["users"]),
            "share_disadvantages": _ratio(by["disadvantages"], by["users"]),
            "share_blacklisted": _ratio(by["listed"], counts),
        }
        for index, code in enumerate(codes):
            group = "all" if attribute == "all" else f"{attribute}={code}"
            for metric in GROUP_METRICS:
                out[f"{group}|{metric}"] = float(values[metric][index])
    out["all|share_wrongly_listed"] = float(state.wrongly_listed.mean())
    out["all|share_redlisted"] = float((state.redlisted_months_left > 0).mean())
    for level, name in SANCTION_LEVELS:
        out[f"all|share_sanction_{name}"] = float((listed & (state.sanctions >= level)).mean())
    n_users = int(users.sum())
    for name in ADVANTAGE_TYPES:
        received = int(state.benefits_this_month[name][users].sum())
        out[f"all|share_benefit_{name}"] = received / n_users if n_users else float("nan")
    out["all|share_aware"] = float(state.aware.mean())
    out["all|share_pilot_resident"] = float(state.resident.mean())
    out["all|mean_fairness"] = float(state.covariates["fairness"].mean())
    for channel, names in CHANNEL_COVARIATES.items():
        moved = np.zeros(state.n, dtype=bool)
        for name in names:
            moved |= state.covariates[name] != state.baseline[name]
        out[f"all|share_moved_{channel}"] = float(moved.mean())
    return out
