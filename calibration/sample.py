"""Turning latents into survey answers, weights and approval: the synthetic sample.

``realise`` applies thresholds to the latents of ``calibration.population``;
``generate_sample`` is the public entry point behind ``scsim population``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from calibration import design
from calibration.items import ADVANTAGE_COLUMNS, ITEMS, SCHEMA_COLUMNS, USAGE_COLUMNS
from calibration.joint import approval_covariates
from calibration.population import (
    GeneratorParams,
    Latents,
    apply_nonresponse,
    branch_masks,
    cut,
    fit_usage_thresholds,
    quantile_thresholds,
    seed_sequence,
    select_usage,
    simulate_latents,
)
from calibration.targets import Targets
from sim.approval import NOT_ASKED, ApprovalRule
from sim.errors import UserError
from sim.ordered_logit import draw_latent


def realise(
    latents: Latents, params: GeneratorParams, targets: Targets | None = None, consume: bool = False
) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Apply thresholds to latents and return the answer columns.

    Args:
        latents: Output of ``simulate_latents``.
        params: Generator parameters (thresholds are read from here unless fitting).
        targets: If given, unweighted target shares by variable and code; the
            thresholds are then fitted on these latents and returned.
        consume: Remove each latent from ``latents.z`` and ``latents.nonresponse``
            once realised, so the latents and the answers are never all held at
            once (saves ~200 B a citizen at the draw's peak). The latents cannot be
            realised again.

    Returns:
        (columns, thresholds). Columns use ``NOT_ASKED`` for items not asked.
    """
    fitting = targets is not None
    thresholds: dict[str, list[float]] = {} if fitting else params.thresholds
    z = latents.z
    n = latents.n
    columns: dict[str, np.ndarray] = {
        "age": latents.age,
        "male": latents.male.astype(np.int16),
        "region": latents.region.astype(np.int16),
    }

    if fitting:
        none, dont_know = targets["scs_none"][1], targets["scs_dont_know"][1]
        thresholds["engagement"] = list(
            quantile_thresholds(z["engagement"], np.array([none, dont_know, 1 - none - dont_know]))
        )
    engagement = cut(z["engagement"], thresholds["engagement"], (0, 1, 2))
    done = z.pop if consume else z.get
    done("engagement")
    user = engagement == 2
    columns["scs_none"] = (engagement == 0).astype(np.int16)
    columns["scs_dont_know"] = (engagement == 1).astype(np.int16)

    if fitting:
        usage = fit_usage_thresholds(z, user, {name: targets[name][1] for name in USAGE_COLUMNS})
        for name, value in usage.items():
            thresholds[name] = [value]
        pilot = targets["lives_in_pilot_locality"][1]
        thresholds["lives_in_pilot_locality"] = [float(np.quantile(z["lives_in_pilot_locality"], 1 - pilot))]
    chosen = select_usage(z, user, {name: thresholds[name][0] for name in USAGE_COLUMNS})
    for name in USAGE_COLUMNS:
        columns[name] = chosen[name].astype(np.int16)
        done(name)
    del chosen
    columns["lives_in_pilot_locality"] = (
        z["lives_in_pilot_locality"] > thresholds["lives_in_pilot_locality"][0]
    ).astype(np.int16)
    done("lives_in_pilot_locality")

    branches = branch_masks(columns)
    for item in ITEMS:
        asked = branches[item.asked_of]
        answer = np.full(n, NOT_ASKED, dtype=np.int16)
        nonresponse = np.zeros(n, dtype=np.int16)
        if item.nonresponse:
            key = f"{item.name}#nonresponse"
            if fitting:
                shares = [targets[item.name].get(code, 0.0) for code in item.nonresponse]
                latent = latents.nonresponse[item.name][asked]
                upper = np.cumsum(shares)
                thresholds[key] = [float(np.quantile(latent, 1 - u)) for u in upper]
            nonresponse = apply_nonresponse(item, latents.nonresponse[item.name], asked, thresholds[key])
            if consume:
                del latents.nonresponse[item.name]
        latent = z[item.name]
        if fitting:
            substantive = np.array([targets[item.name][code] for code in item.codes])
            answered = asked & (nonresponse == 0)
            thresholds[item.name] = list(quantile_thresholds(latent[answered], substantive / substantive.sum()))
        value = cut(latent, thresholds[item.name], item.codes)
        del latent
        done(item.name)
        answer[asked] = np.where(nonresponse[asked] != 0, nonresponse[asked], value[asked])
        columns[item.name] = answer
        # What each respondent would answer if asked: refusers still have an
        # income, non-users still have a view on fairness. The engine's citizen
        # state and the joint approval model read these.
        columns[f"{item.name}_full"] = value
    columns.update(advantage_types(latents, columns, params))
    return columns, thresholds


def advantage_types(latents: Latents, columns: dict[str, np.ndarray], params: GeneratorParams) -> dict[str, np.ndarray]:
    """The seven advantage types among users who received advantages.

    Table 5 (types by location) is withheld, so these shares are labelled
    assumptions (``assumptions_advantage_types.csv``), not calibrated values.
    Every citizen with ``advantages == 1`` gets at least one type.
    """
    shares = params.meta.get("advantage_type_shares", {})
    received = columns["advantages"] == 1
    asked = columns["advantages"] != NOT_ASKED
    urban = columns["urban"] == 1
    uniform = latents.uniforms[: len(ADVANTAGE_COLUMNS)]
    out: dict[str, np.ndarray] = {}
    # A running maximum instead of the stacked (types × n) margins: saves ~120 B a citizen at the
    # draw's peak. A later type wins only if strictly larger, as np.argmax keeps the first maximum.
    best = np.zeros(len(received), dtype=np.int8)
    best_margin = np.empty(len(received))
    any_type = np.zeros(len(received), dtype=bool)
    for k, name in enumerate(ADVANTAGE_COLUMNS):
        rural_share, urban_share = shares.get(name, (0.3, 0.3))
        p = np.where(urban, urban_share, rural_share)
        out[name] = uniform[k] < p
        any_type |= out[name]
        margin = np.subtract(p, uniform[k], out=p)
        if k == 0:
            best_margin[...] = margin
        else:
            larger = margin > best_margin
            best[larger] = k
            np.copyto(best_margin, margin, where=larger)
    del best_margin
    forced = received & ~any_type
    for k, name in enumerate(ADVANTAGE_COLUMNS):
        flag = (out[name] | (forced & (best == k))) & received
        # int16 straight away, not np.where's int64 (the same values).
        answer = flag.astype(np.int16)
        answer[~asked] = NOT_ASKED
        out[name] = answer
    return out


def survey_weights(columns: dict[str, np.ndarray], params: GeneratorParams, cap: float | None = None) -> np.ndarray:
    """Raking weights by age group × gender × region to Table A2's weighted column.

    Args:
        columns: The sample's columns (``age``, ``male``, ``region``).
        params: Generator parameters (the target margins).
        cap: Maximum weight; default the paper's (``design.rake``).
    """
    age_group = np.digitize(columns["age"], [31, 51]) + 1
    return design.rake(age_group, columns["male"], columns["region"], params.design_margins("weighted"), cap).weights


@dataclass
class SyntheticSample:
    """A synthetic survey sample: public columns plus engine-only columns."""

    columns: dict[str, np.ndarray]
    weights: np.ndarray
    approval_latent: np.ndarray
    n_outside_primary: int

    @property
    def n(self) -> int:
        return len(self.weights)

    def to_frame(self) -> pd.DataFrame:
        """The public schema: nullable integers, null = not asked."""
        data = {}
        for name in SCHEMA_COLUMNS:
            if name == "weight":
                data[name] = pd.Series(self.weights, dtype="float64")
                continue
            values = np.asarray(self.columns[name])
            series = pd.array(values.astype(np.int64), dtype="Int64")
            series[values == NOT_ASKED] = pd.NA
            data[name] = series
        return pd.DataFrame(data)


def generate_sample(
    n: int, seed: int | np.random.SeedSequence, rule: ApprovalRule, params: GeneratorParams | None = None
) -> SyntheticSample:
    """Draw ``n`` synthetic respondents with weights and approval.

    Args:
        n: Number of respondents (> 0).
        seed: Root seed or ``SeedSequence``; everything derives from its first
            two children (a given ``SeedSequence`` is copied, not advanced).
        rule: Approval rule (primary model and Model 1 fallback).
        params: Generator parameters; defaults to the shipped calibration.

    Returns:
        The sample. Identical for identical (n, seed, rule, params).
    """
    if n <= 0:
        raise UserError(f"n: must be a positive integer, got {n}")
    params = params or GeneratorParams.load()
    latent_ss, approval_ss = seed_sequence(seed).spawn(2)
    latents = simulate_latents(n, latent_ss, params)
    columns, _ = realise(latents, params, consume=True)
    del latents  # not read again: frees what is left of them before the weights and approval
    weights = survey_weights(columns, params)
    epsilon = draw_latent(np.random.default_rng(approval_ss), n)
    result = rule.apply(approval_covariates(columns), epsilon)
    columns["approval"] = result.approval.astype(np.int16)
    return SyntheticSample(columns, weights, epsilon, result.n_fallback)


def draw_citizens(sample: SyntheticSample, n: int, seed: int | np.random.SeedSequence) -> np.ndarray:
    """Indices of ``n`` citizens drawn from the sample with probability ∝ weight.

    Args:
        sample: The synthetic sample.
        n: Number of citizens (> 0).
        seed: Root seed or ``SeedSequence`` (copied, not advanced).
    """
    if n <= 0:
        raise UserError(f"n: must be a positive integer, got {n}")
    rng = np.random.default_rng(seed_sequence(seed))
    p = sample.weights / sample.weights.sum()
    return rng.choice(sample.n, size=n, replace=True, p=p)
