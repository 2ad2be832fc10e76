"""The seven published approval models of Kostka (2019, Table 4).

Cells lost in the PDF extraction are handled explicitly (``status`` in
``table4_ordered_logit.csv``):

* **Urban, Models 3, 4, 5, 7** (coefficient lost, SE kept): imputed with the
  mean of the three published urban coefficients (Models 1, 2, 6: 0.326, 0.320,
  0.348). The cut points were estimated with urban in the model, so dropping
  the term would shift every prediction by about 0.33 × 84% urban.
* **Education = high, Model 2** (coefficient lost): Model 2's medium
  coefficient plus Model 1's high-minus-medium gap (1.380 − 1.141).
* **Model 5 education artefact**: coefficients near −13 against an almost
  empty "no formal education" base (quasi-separation). Model 5 scores "none"
  as "low", which keeps its predictions for everyone else unchanged.
* **Garbled cut1 values** are used as read; the report checks each model's
  implied approval distribution against Table A2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from calibration.paper import DataFileError, read_table
from sim.approval import CUT_NAMES, ApprovalModel, ModelSpecError
from sim.ordered_logit import CutpointError

DEMOGRAPHICS = (
    "age", "income_2", "income_3", "male", "edu_2", "edu_3", "edu_4",
    "urban", "region_central", "region_east",
)  # fmt: skip

# Table 4: each model is demographics plus one block (Section 4.3).
MODEL_BLOCKS: dict[int, tuple[str, ...]] = {
    1: (),
    2: ("smartphone_time", "post_frequency"),
    3: ("ccp_member", "gov_confidence"),
    4: ("sesame_score", "relative_score"),
    5: ("transparency", "received_info", "auto_joined", "fairness"),
    6: ("advantages", "disadvantages"),
    7: ("accountability", "abiding_regulations", "quality_of_life"),
}

MODEL_NAMES = tuple(f"model{k}" for k in MODEL_BLOCKS)
DEFAULT_MODEL = "model1"
# Model 1, the fallback of ``calibration.rules.approval_rule``, scores income
# refusers with the income group the generator drew for them.
IMPUTED_INCOME = {"income_group": "income_group_imputed"}
PUBLISHED_URBAN_MODELS = (1, 2, 6)


def model_terms(model: int) -> tuple[str, ...]:
    """Regressors of a published model, in Table 4 order."""
    return (*DEMOGRAPHICS, *MODEL_BLOCKS[model])


def _coefficient_table(path: Path | None) -> pd.DataFrame:
    if path is None:
        return read_table("table4_ordered_logit.csv", ("model", "term", "coef", "se"))
    return read_table(path.name, ("model", "term", "coef", "se"), directory=path.parent)


def impute_missing(table: pd.DataFrame) -> pd.DataFrame:
    """Fill the coefficients lost in extraction, as documented in this module."""
    table = table.copy()
    coef = table.set_index(["model", "term"])["coef"].copy()  # a Series of its own, not a view to write through

    def lost(model: int, term: str) -> bool:
        return (model, term) in coef.index and pd.isna(coef[(model, term)])

    urban = np.mean([coef[(m, "urban")] for m in PUBLISHED_URBAN_MODELS])
    for model in MODEL_BLOCKS:
        if lost(model, "urban"):
            coef[(model, "urban")] = urban
    if lost(2, "edu_4"):
        coef[(2, "edu_4")] = coef[(2, "edu_3")] + coef[(1, "edu_4")] - coef[(1, "edu_3")]
    table["coef"] = coef.to_numpy()
    return table


def load_models(path: Path | None = None) -> dict[str, ApprovalModel]:
    """Build the seven published models from the coefficient table.

    Args:
        path: Alternative CSV (tests); defaults to the shipped Table 4.

    Raises:
        DataFileError: If a model lacks a term or a cut point, or its cuts are
            not strictly increasing.
    """
    raw = _coefficient_table(path)
    source = path or Path("table4_ordered_logit.csv")
    try:
        raw["model"] = raw["model"].astype(int)
    except (TypeError, ValueError) as err:
        raise DataFileError(f"{source}: column 'model' must hold integers 1-7") from err
    for model in MODEL_BLOCKS:
        present = set(raw.loc[raw["model"] == model, "term"])
        missing = [t for t in (*model_terms(model), *CUT_NAMES) if t not in present]
        if missing:
            raise DataFileError(f"{source}: model {model} is missing term(s) {missing}")
    table = impute_missing(raw)
    models = {}
    for model in MODEL_BLOCKS:
        rows = table[table["model"] == model].set_index("term")["coef"].astype(float)
        terms = model_terms(model)
        if rows[list(terms)].isna().any():
            lost = [t for t in terms if pd.isna(rows[t])]
            raise DataFileError(f"{source}: model {model} has no coefficient for {lost}")
        try:
            models[f"model{model}"] = ApprovalModel(
                name=f"model{model}",
                coefficients={t: float(rows[t]) for t in terms},
                cuts=np.array([rows[c] for c in CUT_NAMES], dtype=float),
                education_none_as_low=(model == 5),
            )
        except (CutpointError, ModelSpecError) as err:
            raise DataFileError(f"{source}: {err}") from err
    return models
