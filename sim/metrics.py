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

``metric_values`` gives one month as a float64 vector in the order of
``METRIC_KEYS``; ``collect_metrics`` gives the same values as a dict.
``MetricCollector`` is the model's ``mesa.DataCollector``: one scalar model
reporter per metric, so ``get_model_vars_dataframe()`` has one column per key.
"""

from __future__ import annotations

import itertools
from functools import partial

import mesa
import numba
import numpy as np

from sim.params import ADVANTAGE_TYPES
from sim.state import CHANNEL_COVARIATES, CitizenState

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
# Channels that write the same covariates (the perceived functions) share their
# value. Knowledge of punitive uses and the memory of enforcement seen are 0–1.
POPULATION_METRICS = (
    "share_wrongly_listed",
    "share_redlisted",
    *(f"share_sanction_{name}" for _, name in SANCTION_LEVELS),
    *(f"share_benefit_{name}" for name in ADVANTAGE_TYPES),
    "share_aware",
    "share_pilot_resident",
    "mean_fairness",
    "mean_punitive_knowledge",
    "mean_enforcement_seen",
    *(f"share_moved_{channel}" for channel in CHANNEL_COVARIATES),
)
METRIC_KEYS = (
    *(f"{group}|{metric}" for group in GROUPS for metric in GROUP_METRICS),
    *(f"all|{metric}" for metric in POPULATION_METRICS),
)
# Codes of the table dimensions: one slot per code from 0 to the largest.
SIZES = tuple(max(codes) + 1 for _, codes in AXES)
CELLS = int(np.prod(SIZES))


def _membership() -> np.ndarray:
    """(group, cell) = 1 where the cell's citizens belong to the group, in the order of ``GROUPS``."""
    codes = np.indices(SIZES).reshape(len(SIZES), CELLS)
    rows = [np.ones(CELLS, dtype=bool)]
    rows += [codes[axis] == code for axis, (_, values) in enumerate(AXES) for code in values]
    return np.array(rows, dtype=np.float64)


# Every group's totals are one product with this matrix, not a Python loop over
# groups (a millisecond a month). Counts are whole numbers, so the sums are exact.
MEMBERSHIP = _membership()
# Rows of each attribute's groups: "all", then one block per attribute of AXES.
_BOUNDS = np.cumsum([0, 1, *(len(codes) for _, codes in AXES)])
BLOCKS = tuple(slice(start, stop) for start, stop in itertools.pairwise(_BOUNDS.tolist()))
CATEGORY_VALUES = np.arange(1.0, 6.0)


def static_cells(state: CitizenState) -> np.ndarray:
    """Cell index of the attributes that never change, times 4 (computed once per state), as int16."""
    if "cell" not in state.group_cache:
        cov = state.covariates
        codes = (
            cov["urban"],
            np.digitize(cov["age"], [31, 51]) + 1,
            cov["income_group"],
            cov["education"],
            state.commercial,
        )
        # int16 holds every cell (< CELLS): a quarter of int64's bytes for a cache kept all run.
        cell = np.zeros(state.n, dtype=np.int16)
        for code, size in zip(codes, SIZES[:5], strict=True):
            cell = cell * size + code.astype(np.int16)
        state.group_cache["cell"] = cell * 4  # room for the two dynamic attributes
    return state.group_cache["cell"]


def _user_index(state: CitizenState) -> np.ndarray:
    """Positions of the Sesame/Tencent users (who never change: found once per state, not every month)."""
    if "users" not in state.group_cache:
        state.group_cache["users"] = np.flatnonzero(state.sesame_or_tencent)
    return state.group_cache["users"]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(np.shape(numerator), np.nan), where=denominator > 0)


# Counts kept per cell: approval categories 1–5; users with neither, only
# advantages, only disadvantages, both; the listed.
SLOTS = 10
# A citizen's code counts them once for every slot: approval category ×
# experience (a user's 0–3 as in the slots, a non-user's 4–7) × cell, with the
# cell (static × 4 + aware × 2 + listed) innermost, so that each slot's sum over
# the other attribute adds whole rows (summing over a short inner axis cost ~0.3 ms a month).
_EXPERIENCES = 8
_CODE_CATEGORY = _EXPERIENCES * CELLS
_CODES = (len(APPROVAL_CATEGORIES) + 1) * _CODE_CATEGORY  # category k adds k × _CODE_CATEGORY, from 1
assert _CODES <= np.iinfo(np.uint16).max + 1


def _bit_fields(state: CitizenState) -> np.ndarray:
    """A uint16 array of n, kept between months (no new array a month)."""
    if "metric_bits" not in state.group_cache:
        state.group_cache["metric_bits"] = np.empty(state.n, np.uint16)
    return state.group_cache["metric_bits"]


def _static_codes(state: CitizenState) -> np.ndarray:
    """Each citizen's code from the attributes that never change (static cell, user or not), as uint16."""
    if "cell_codes" not in state.group_cache:
        codes = static_cells(state).astype(np.uint16)
        codes[~state.sesame_or_tencent] += 4 * CELLS
        state.group_cache["cell_codes"] = codes
    return state.group_cache["cell_codes"]


def _cell_table(state: CitizenState, approval: np.ndarray, listed: np.ndarray) -> np.ndarray:
    """Counts per cell and slot (cells × ``SLOTS``), int64.

    One count of one code per citizen replaces the count over every citizen's
    slots (int64 codes for n + users + listed, concatenated): ~13 ms less a
    month at a million citizens. Every slot is a sum of whole counts, so the table is unchanged.
    """
    cov = state.covariates
    # Categories 1–5 are non-negative, so an int8 array's uint8 view reads them without a cast.
    categories = approval.view(np.uint8) if approval.dtype == np.int8 else approval
    counts = np.zeros(_CODES, dtype=np.int64)
    _count_codes(categories, _static_codes(state), state.aware, listed, cov["advantages"], cov["disadvantages"], counts)
    counts = counts[_CODE_CATEGORY:].reshape(len(APPROVAL_CATEGORIES), _EXPERIENCES, CELLS)
    by_category = counts.sum(axis=1)
    table = np.empty((CELLS, SLOTS), dtype=np.int64)
    table[:, :5] = by_category.T
    table[:, 5:9] = counts[:, :4].sum(axis=0).T
    # Everyone in a cell whose listed bit is set is listed.
    table[:, 9] = by_category.sum(axis=0) * (np.arange(CELLS) & 1)
    return table


@numba.njit(cache=True)
def _count_codes(
    categories: np.ndarray,
    static_codes: np.ndarray,
    aware: np.ndarray,
    listed: np.ndarray,
    advantages: np.ndarray,
    disadvantages: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Count each citizen's code (category, experience, cell; see ``_EXPERIENCES``) into ``counts``.

    Compiled, one pass with no array of codes (NumPy's eleven passes over uint16 codes and a
    ``bincount``: ~2.8 → ~1 ms a month at a million citizens).
    """
    for citizen in range(categories.size):
        code = (
            np.int64(categories[citizen]) * _CODE_CATEGORY
            + static_codes[citizen]
            + 2 * aware[citizen]
            + listed[citizen]
            + CELLS * (advantages[citizen] == 1)
            + 2 * CELLS * (disadvantages[citizen] == 1)
        )
        counts[code] += 1


def metric_values(state: CitizenState, approval: np.ndarray) -> np.ndarray:
    """One month's metrics as a float64 vector in the order of ``METRIC_KEYS``.

    Citizens are counted once into a table over every combination of subgroup
    attributes (a few hundred cells); every group's counts are sums over that
    table, which keeps this cheap at a million citizens.
    """
    listed = state.listed
    totals = MEMBERSHIP @ _cell_table(state, approval, listed)
    counts = totals[:, :5].sum(axis=1)
    users = totals[:, 5:9].sum(axis=1)
    shares = _ratio(totals[:, :5], counts[:, None])
    out = np.empty((len(GROUPS), len(GROUP_METRICS)))  # the columns in the order of GROUP_METRICS
    out[:, :5] = shares
    out[:, 5] = shares[:, 3] + shares[:, 4]
    # BLAS sums a matrix-vector product in an order that depends on its shape:
    # one product per attribute, as the groups were always computed, keeps every bit.
    for block in BLOCKS:
        out[block, 6] = shares[block] @ CATEGORY_VALUES
    out[:, 7] = _ratio(totals[:, 6] + totals[:, 8], users)
    out[:, 8] = _ratio(totals[:, 7] + totals[:, 8], users)
    out[:, 9] = _ratio(totals[:, 9], counts)
    return np.concatenate([out.reshape(-1), _population_values(state, listed)])


def _population_values(state: CitizenState, listed: np.ndarray) -> np.ndarray:
    """The ``POPULATION_METRICS``, in their order."""
    n = state.n
    # The count of a boolean array over n is its mean to the last bit, without mean's overhead.
    counts = [np.count_nonzero(state.wrongly_listed), np.count_nonzero(state.redlisted_months_left > 0)]
    # The listed by their number of sanctions, once, instead of one pass per level.
    by_breadth = np.bincount(state.sanctions[listed], minlength=len(SANCTION_LEVELS) + 1)
    counts += [int(by_breadth[level:].sum()) for level, _ in SANCTION_LEVELS]
    out = [count / n for count in counts]
    users = _user_index(state)
    received = [np.count_nonzero(state.sesame_or_tencent[citizens]) for citizens in state.benefit_receivers]
    out += [count / users.size if users.size else float("nan") for count in received]
    out += [np.count_nonzero(state.aware) / n, np.count_nonzero(state.resident) / n]
    out.append(float(state.covariates["fairness"].mean()))
    out += [float(state.punitive_knowledge.mean()), float(state.enforcement_seen.mean())]
    moved = _moved_counts(state)
    out += [moved[MOVED_GROUPS.index(names)] / n for names in CHANNEL_COVARIATES.values()]
    return np.array(out, dtype=np.float64)


# The distinct covariates the channels write, and the distinct sets of them (channels writing the
# same covariates share one count), each set a mask of the covariates' bits.
MOVED_COVARIATES = tuple(dict.fromkeys(itertools.chain.from_iterable(CHANNEL_COVARIATES.values())))
MOVED_GROUPS = tuple(dict.fromkeys(CHANNEL_COVARIATES.values()))
_MOVED_MASKS = np.array(
    [sum(1 << MOVED_COVARIATES.index(name) for name in names) for names in MOVED_GROUPS], dtype=np.uint16
)
assert len(MOVED_COVARIATES) <= 16  # one bit each in a uint16


def _moved_counts(state: CitizenState) -> np.ndarray:
    """For each of ``MOVED_GROUPS``, how many citizens have any of its covariates away from their t = 0 value.

    Compiled: one pass per pair of dtypes marks each citizen's moved covariates in a bit
    field, and one more counts each set (~8 → ~3 ms a month at a million citizens: NumPy's
    twelve not_equals between float64 values and int8 t = 0 values cast every value).
    """
    bits = _bit_fields(state)
    bits.fill(0)
    by_dtypes: dict[tuple[np.dtype, np.dtype], list[str]] = {}
    for name in MOVED_COVARIATES:
        by_dtypes.setdefault((state.covariates[name].dtype, state.baseline[name].dtype), []).append(name)
    for names in by_dtypes.values():
        _mark_moved(
            tuple(state.covariates[name] for name in names),
            tuple(state.baseline[name] for name in names),
            np.array([1 << MOVED_COVARIATES.index(name) for name in names], dtype=np.uint16),
            bits,
        )
    return _count_any(bits, _MOVED_MASKS, 1 << len(MOVED_COVARIATES))


@numba.njit(cache=True)
def _mark_moved(current: tuple, initial: tuple, flags: np.ndarray, bits: np.ndarray) -> None:
    """Set each covariate's flag in ``bits`` where its value differs from the t = 0 value (NaN differs)."""
    for citizen in range(bits.size):
        marked = bits[citizen]
        for index in range(len(current)):
            marked |= flags[index] * np.uint16(current[index][citizen] != initial[index][citizen])
        bits[citizen] = marked


@numba.njit(cache=True)
def _count_any(bits: np.ndarray, masks: np.ndarray, values: int) -> np.ndarray:
    """How many citizens have any bit of each mask set (``bits``: below ``values``)."""
    # Through a histogram of the bit fields: a count per mask and citizen took ~3 ms, this ~0.4.
    histogram = np.zeros(values, dtype=np.int64)
    for citizen in range(bits.size):
        histogram[bits[citizen]] += 1
    counts = np.zeros(masks.size, dtype=np.int64)
    for value in np.flatnonzero(histogram):
        for index in range(masks.size):
            if value & masks[index]:
                counts[index] += histogram[value]
    return counts


def collect_metrics(state: CitizenState, approval: np.ndarray) -> dict[str, float]:
    """Flat dict ``"<group>|<metric>" → value`` for one month, with exactly the keys ``METRIC_KEYS``."""
    return dict(zip(METRIC_KEYS, metric_values(state, approval).tolist(), strict=True))


class MetricCollector(mesa.DataCollector):
    """Mesa's DataCollector with one scalar model reporter per key of ``METRIC_KEYS``.

    ``get_model_vars_dataframe()`` has one column per metric (``"all|share_approve"``,
    ``"urban=0|share_approve"``, ...), and ``history()`` reads the same columns
    back as a months × ``METRIC_KEYS`` matrix for the tidy results store. The
    model must have ``state`` and ``approval``.
    """

    def __init__(self) -> None:
        reporters = {key: partial(self._metric, index=index) for index, key in enumerate(METRIC_KEYS)}
        super().__init__(model_reporters=reporters)
        self._columns = [self.model_vars[key] for key in METRIC_KEYS]
        self._current = np.empty(0)
        self._current_of: tuple[int, int] | None = None

    def _metric(self, model, index: int) -> float:
        """Reporter of ``METRIC_KEYS[index]``: one pass over the citizens serves every reporter of a month."""
        # The month and the approval array (a new one each month) identify the state the values describe.
        month = (model.steps, id(model.approval))
        if month != self._current_of:
            self._current, self._current_of = metric_values(model.state, model.approval), month
        return float(self._current[index])

    def collect(self, model) -> None:
        """Record this month: what Mesa's own ``collect`` records with these reporters (tested).

        Mesa would call ~250 reporters and deep-copy each value; floats are
        immutable, and appending them directly saves ~0.4 ms a month (a third
        of a small run).
        """
        self._current, self._current_of = metric_values(model.state, model.approval), (model.steps, id(model.approval))
        for column, value in zip(self._columns, self._current.tolist(), strict=True):
            column.append(value)

    def history(self) -> np.ndarray:
        """The collected months × ``METRIC_KEYS``, as float64 (bit-identical to what was computed)."""
        return np.array(self._columns, dtype=np.float64).T.copy()
