"""The registry of approval rules: the joint model (default) or a published model.

A rule is a primary model and the Model 1 fallback for everyone outside the
primary model's subsample (``sim.approval.ApprovalRule``). This module joins
the Table 4 models (``calibration.published``) and the joint model
(``calibration.joint``); neither of those imports it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from calibration.joint import JointParams
from calibration.published import DEFAULT_MODEL, IMPUTED_INCOME, MODEL_NAMES, load_models
from sim.approval import ApprovalRule
from sim.errors import UserError

DEFAULT_RULE = "default"


def default_rule(path: Path | None = None) -> ApprovalRule:
    """The default approval rule of the simulation: the joint model, for everyone.

    Args:
        path: Joint parameter file; default as ``JointParams.load``.
    """
    model = JointParams.load(path).model()
    return ApprovalRule(primary=model, fallback=model)


def approval_rule(name: str = DEFAULT_RULE, path: Path | None = None) -> ApprovalRule:
    """The rule applying published model ``name`` on its subsample, Model 1 elsewhere.

    Args:
        name: ``"default"`` (the joint approval model, ``default_rule``) or
            ``"model1"`` … ``"model7"``.
        path: Alternative Table 4 CSV for the published models.

    Raises:
        UserError: For an unknown model name.
    """
    if name == DEFAULT_RULE:
        return default_rule()
    if name not in MODEL_NAMES:
        allowed = ", ".join((DEFAULT_RULE, *MODEL_NAMES))
        raise UserError(f"model: unknown model {name!r}; allowed: {allowed}")
    models = load_models(path)
    # Model 1 scores everyone outside the chosen model's subsample; income
    # refusers keep the income group the generator drew for them.
    fallback = replace(models[DEFAULT_MODEL], imputed_columns=IMPUTED_INCOME)
    return ApprovalRule(primary=models[name], fallback=fallback)
