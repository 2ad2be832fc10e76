"""Survey experiments in silico: information given to a random share of citizens, treated against control.

A ``Treatment`` reaches a random ``share`` of the citizens in its subgroup (not
already drawn by an earlier treatment) at
``month`` (and for ``persistence_months`` more) with one kind of information:

* ``repression_info`` sets knowledge of punitive uses to 1, as Xu, Kostka &
  Cao (2022, Journal of Politics) did by revealing the SCS's repressive
  potential to a random half of 750 students;
* ``social_order_frame`` sets the memory of deserved punishment seen to 1, as
  their frame stressing the SCS's social-order function did.

Both then fade as the channel's own state does (``sim.perceptions``). Like a
survey experiment, the effect is the difference in approval between the
treated and the rest of the subgroup (the control), overall and within
subgroups fixed before treatment. Approval is compared as the mean scale
position, (approval − 1) / 4, which Xu et al.'s 0–10 support maps onto as
support / 10 (``relative_change``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.errors import ParameterError
from sim.state import COVARIATES, CitizenState

KINDS = ("repression_info", "social_order_frame")
MAX_MONTH = 600  # the last month a scenario may name (experiments.scenario uses it too)
# Subgroups fixed the month before treatment: prior knowledge of punitive uses (more likely than not)
# and awareness of living in a pilot (Section 4: 11% of residents).
SUBGROUPS = ("all", "knew_punitive_uses", "did_not_know", "aware_of_pilot", "not_aware_of_pilot")


class Bounds(BaseModel):
    """An inclusive range of a covariate's values."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    min: float | int
    max: float | int

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min > self.max:
            raise ParameterError(f"min ({self.min:g}) must not exceed max ({self.max:g})")
        return self


class Treatment(BaseModel):
    """One information treatment (a ``[[treatments]]`` block of a scenario)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_\-]+$")]
    kind: Literal["repression_info", "social_order_frame"]
    share: Annotated[float, Field(gt=0, lt=1, description="share of the subgroup treated (the rest is the control)")]
    month: Annotated[int, Field(ge=1, le=MAX_MONTH, description="month the information is given")]
    persistence_months: Annotated[
        int, Field(ge=0, le=MAX_MONTH, description="further months it is given again before it fades")
    ] = 0
    subgroup: dict[str, Bounds] = Field(default_factory=dict, description="covariate → {min, max}: who may be drawn")

    @model_validator(mode="after")
    def _known_covariates(self) -> Treatment:
        unknown = sorted(set(self.subgroup) - set(COVARIATES))
        if unknown:
            raise ParameterError(f"subgroup.{unknown[0]}: not a covariate (one of {', '.join(COVARIATES)})")
        return self

    def active(self, month: int) -> bool:
        return self.month <= month <= self.month + self.persistence_months

    def eligible(self, state: CitizenState) -> np.ndarray:
        """Who may be drawn: the subgroup by t = 0 covariates (everyone if none is given)."""
        mask = np.ones(state.n, dtype=bool)
        for name, bounds in self.subgroup.items():
            values = state.baseline[name]
            mask &= (values >= bounds.min) & (values <= bounds.max)
        return mask


@dataclass
class Arms:
    """One treatment's treated and control citizens (indices) and their subgroup codes."""

    treatment: Treatment
    treated: np.ndarray
    control: np.ndarray
    groups: dict[str, np.ndarray] | None = None  # subgroup → mask over treated ++ control, set before treatment


def assign(treatments: Sequence[Treatment], state: CitizenState, seed: np.random.SeedSequence) -> list[Arms]:
    """Draw each treatment's treated citizens; the arms are disjoint, with one control.

    Treatment k (its own child of ``seed``) draws ``share`` of its subgroup's
    citizens not drawn by an earlier treatment; its control is everyone in its
    subgroup whom no treatment draws, as in a multi-arm survey experiment.
    """
    drawn_by_any = np.zeros(state.n, dtype=bool)
    chosen = []
    for treatment, child in zip(treatments, seed.spawn(len(treatments)), strict=True):
        eligible = treatment.eligible(state)
        drawn = eligible & ~drawn_by_any
        drawn[drawn] = np.random.default_rng(child).random(int(drawn.sum())) < treatment.share
        drawn_by_any |= drawn
        chosen.append((treatment, eligible, drawn))
    arms = []
    for treatment, eligible, drawn in chosen:
        treated, control = np.flatnonzero(drawn), np.flatnonzero(eligible & ~drawn_by_any)
        if treated.size == 0 or control.size == 0:
            raise ParameterError(
                f"treatments.{treatment.name}: {treated.size} treated and {control.size} control citizens; each arm "
                "needs at least one (widen the subgroup, change the share or raise n)"
            )
        arms.append(Arms(treatment, treated, control))
    return arms


def informed_this_month(arms: Sequence[Arms], month: int) -> dict[str, np.ndarray]:
    """Kind → the citizens a treatment informs this month."""
    reached: dict[str, list[np.ndarray]] = {}
    for arm in arms:
        if arm.treatment.active(month):
            reached.setdefault(arm.treatment.kind, []).append(arm.treated)
    return {kind: np.concatenate(parts) for kind, parts in reached.items()}


def fix_subgroups(arms: Sequence[Arms], state: CitizenState, month: int) -> None:
    """Before a treatment's month is simulated: each participant's subgroups, from what they know then."""
    for arm in arms:
        if arm.treatment.month == month and arm.groups is None:
            people = np.concatenate([arm.treated, arm.control])
            knew = state.punitive_knowledge[people] >= 0.5
            aware = state.aware[people]
            arm.groups = {
                "all": np.ones(people.size, dtype=bool),
                "knew_punitive_uses": knew,
                "did_not_know": ~knew,
                "aware_of_pilot": aware,
                "not_aware_of_pilot": ~aware,
            }


def record(arms: Sequence[Arms], approval: np.ndarray, month: int) -> list[dict[str, float | int | str]]:
    """This month's treated and control means of approval, by subgroup, for every treatment already given."""
    rows: list[dict[str, float | int | str]] = []
    for arm in arms:
        if arm.groups is None:
            continue
        treated_count = arm.treated.size
        values = np.concatenate([approval[arm.treated], approval[arm.control]]).astype(np.float64)
        for subgroup, mask in arm.groups.items():
            in_treated, in_control = mask[:treated_count], mask[treated_count:]
            rows.append({
                "treatment": arm.treatment.name, "kind": arm.treatment.kind, "month": month,
                "months_since": month - arm.treatment.month, "subgroup": subgroup,
                "n_treated": int(in_treated.sum()), "n_control": int(in_control.sum()),
                "treated_mean": _mean(values[:treated_count][in_treated]),
                "control_mean": _mean(values[treated_count:][in_control]),
            })  # fmt: skip
    return rows


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def scale_position(mean_approval: float | np.ndarray) -> float | np.ndarray:
    """Mean approval (1–5) as a position on the scale, 0–1: (approval − 1) / 4."""
    return (np.asarray(mean_approval) - 1) / 4


def relative_change(treated_mean: float | np.ndarray, control_mean: float | np.ndarray) -> float | np.ndarray:
    """Treated against control, as a relative change in mean scale position (Xu et al. 2022's "12% lower")."""
    control = scale_position(control_mean)
    return (scale_position(treated_mean) - control) / control


def unique_names(treatments: Sequence[Treatment]) -> None:
    names = [t.name for t in treatments]
    if len(set(names)) != len(names):
        raise ParameterError(f"treatments: names must differ, got {', '.join(names)}")
