"""Approval rules: the paper's ordered logits applied to citizens' covariates.

Each published model of Kostka (2019, Table 4) was fit on its own subsample:
respondents who were asked every item of the model's block and answered it
("I don't know" and "I'd rather not answer" were treated as missing, Table A3
note c). ``ApprovalModel`` knows its terms, and so which citizens it covers;
``ApprovalRule`` applies a chosen model to the citizens it covers and a
fallback model (Model 1 by default) to everyone else, and reports how many
fell back.

Covariates are passed as a mapping from the public column names (the schema
of ``scsim population``) to integer or float arrays. Inside the engine "not
asked" is the sentinel ``NOT_ASKED`` (−9); −1 is "I don't know" and −2
"I'd rather not answer", as in the public schema.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numba
import numpy as np

from sim.errors import UserError
from sim.ordered_logit import categorize, category_probabilities, check_cuts

NOT_ASKED = -9

Covariates = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Term:
    """One regressor of Table 4: the column it reads, which codes are valid, and the dummy's level."""

    column: str
    min_valid: int = 0
    level: int | None = None  # a dummy for this code of the column; None: the column's value

    def compute(self, covariates: Covariates) -> np.ndarray:
        """The regressor for every citizen, as float64."""
        if self.level is None:
            return np.asarray(covariates[self.column], dtype=float)
        return (np.asarray(covariates[self.column]) == self.level).astype(float)


# Term codings follow Section 3.2 and Table A3 of the paper; dummies are
# against the lowest category (income under 1,000 RMB, no formal education, West).
TERMS: dict[str, Term] = {
    "age": Term("age", 14),
    "income_2": Term("income_group", 1, 2),
    "income_3": Term("income_group", 1, 3),
    "male": Term("male", 0),
    "edu_2": Term("education", 1, 2),
    "edu_3": Term("education", 1, 3),
    "edu_4": Term("education", 1, 4),
    "urban": Term("urban", 0),
    "region_central": Term("region", 1, 2),
    "region_east": Term("region", 1, 3),
    # 0 = "no smartphone" was not part of Model 2's 1-6 scale (Table A3 note c).
    "smartphone_time": Term("smartphone_time", 1),
    "post_frequency": Term("post_frequency", 1),
    "ccp_member": Term("ccp_member", 0),
    "gov_confidence": Term("gov_confidence", 1),
    "sesame_score": Term("sesame_score_band", 1),
    "relative_score": Term("relative_score", 1),
    "transparency": Term("transparency", 1),
    "received_info": Term("received_info", 0),
    "auto_joined": Term("auto_joined", 0),
    "fairness": Term("fairness", 1),
    "advantages": Term("advantages", 0),
    "disadvantages": Term("disadvantages", 0),
    "accountability": Term("accountability", 1),
    "abiding_regulations": Term("abiding_regulations", 1),
    "quality_of_life": Term("quality_of_life", 1),
}


@numba.njit(cache=True)
def _add_term(total: np.ndarray, values: np.ndarray, beta: float, is_dummy: bool, level: float) -> None:
    """``total += beta × values`` (a dummy: ``beta × (values == level)``), product in float64 first.

    In place: the loop vectorises (adding into another array, which may be this one, took twice as long).
    """
    if is_dummy:
        for citizen in range(total.size):
            total[citizen] += np.float64(values[citizen] == level) * beta
    else:
        for citizen in range(total.size):
            total[citizen] += np.float64(values[citizen]) * beta


@numba.njit(cache=True)
def _first_term(
    total: np.ndarray, offset: np.ndarray, values: np.ndarray, beta: float, is_dummy: bool, level: float
) -> None:
    """``total = offset + beta × values`` (as ``_add_term``), ``offset`` another array than ``total``."""
    if is_dummy:
        for citizen in range(total.size):
            total[citizen] = offset[citizen] + np.float64(values[citizen] == level) * beta
    else:
        for citizen in range(total.size):
            total[citizen] = offset[citizen] + np.float64(values[citizen]) * beta


CUT_NAMES = ("cut1", "cut2", "cut3", "cut4")


class ModelSpecError(UserError):
    """Raised when a coefficient table cannot define a valid model."""


@dataclass(frozen=True)
class ApprovalModel:
    """An ordered logit over named terms.

    Attributes:
        name: Identifier, e.g. ``"model1"``.
        coefficients: Term name → coefficient.
        cuts: Four strictly increasing thresholds (Stata convention).
        education_none_as_low: Score "no formal education" as "low". Needed for
            Model 5, whose education coefficients (≈ −13) are a quasi-separation
            artefact of an almost empty base category: the few respondents
            with no formal education in that subsample all fall in one category.
        imputed_columns: Public column → column holding a value to use where the
            public one is missing. Used only for the fallback model, so that every
            citizen gets an approval (e.g. income refusers keep their latent
            income group).
        source_columns: Public column → column to read instead, for every
            citizen. The joint model reads each citizen's full state (what they
            would answer if asked), not the survey's branching.
    """

    name: str
    coefficients: Mapping[str, float]
    cuts: np.ndarray
    education_none_as_low: bool = False
    imputed_columns: Mapping[str, str] = field(default_factory=dict)
    source_columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.coefficients) - set(TERMS))
        if unknown:
            raise ModelSpecError(f"{self.name}: unknown term(s) {unknown}; allowed terms are {sorted(TERMS)}")
        for term, value in self.coefficients.items():
            if not np.isfinite(value):
                raise ModelSpecError(f"{self.name}: coefficient of {term} is not finite")
        object.__setattr__(self, "cuts", check_cuts(self.cuts, f"{self.name} cuts"))
        if self.cuts.size != len(CUT_NAMES):
            raise ModelSpecError(f"{self.name}: needs 4 cut points, got {self.cuts.size}")

    @property
    def terms(self) -> list[str]:
        return list(self.coefficients)

    @property
    def columns(self) -> list[str]:
        return sorted({TERMS[t].column for t in self.terms})

    def _resolved(self, covariates: Covariates, columns: Collection[str] | None = None) -> dict[str, np.ndarray]:
        columns = self.columns if columns is None else columns
        resolved = {col: np.asarray(covariates[self.source_columns.get(col, col)]) for col in columns}
        for col, substitute in self.imputed_columns.items():
            if col in resolved and substitute in covariates:
                missing = resolved[col] < TERMS_MIN_BY_COLUMN[col]
                resolved[col] = np.where(missing, np.asarray(covariates[substitute]), resolved[col])
        if self.education_none_as_low and "education" in resolved:
            resolved["education"] = np.maximum(resolved["education"], 2)
        return resolved

    def in_subsample(self, covariates: Covariates) -> np.ndarray:
        """Boolean mask of the citizens this model can score."""
        resolved = self._resolved(covariates)
        n = len(next(iter(resolved.values())))
        mask = np.ones(n, dtype=bool)
        for term in self.terms:
            spec = TERMS[term]
            mask &= resolved[spec.column] >= spec.min_valid
        return mask

    def linear_predictor(
        self,
        covariates: Covariates,
        terms: slice = slice(None),
        offset: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """xβ for every citizen (meaningful only inside the subsample).

        Args:
            covariates: Public columns (and any imputation or source columns).
            terms: The terms to add, a slice of ``terms`` in order (default all).
            offset: The sum of the terms before them, from an earlier call
                (default 0). Terms are added one at a time in order, so a sum
                split this way equals the whole sum to the last bit.
            out: A float64 array of n to write xβ into (default a new one); it may be ``offset``.
        """
        selected = list(self.coefficients.items())[terms]
        # Resolving only the columns these terms read saves work when xβ is split
        # (with no term, every column, which still gives n).
        columns = {TERMS[term].column for term, _ in selected}
        resolved = self._resolved(covariates, columns or self.columns)
        n = len(next(iter(resolved.values())))
        xb = np.empty(n) if out is None else out
        # The first term is added to a separate offset as it is read, not to a copy of it (saves an
        # 8 MB copy a month at a million citizens); the others in place.
        start = np.asarray(offset, dtype=np.float64) if offset is not None and offset is not xb and selected else xb
        if offset is None:
            xb.fill(0.0)
        elif start is xb and offset is not xb:
            np.copyto(xb, offset)
        # One compiled pass a term, in order: the product then the sum, as NumPy's multiply and add
        # gave them, with no temporary (~7.5 → ~3.5 ms a month for the ten movable terms at a million).
        for term, beta in selected:
            spec = TERMS[term]
            level = np.nan if spec.level is None else float(spec.level)
            values = resolved[spec.column]
            # The compiled pass reads numbers only (a column of Python objects is converted, as NumPy would).
            values = values if values.dtype.kind in "biuf" else values.astype(np.float64)
            if start is xb:
                _add_term(xb, values, float(beta), spec.level is not None, level)
            else:
                _first_term(xb, start, values, float(beta), spec.level is not None, level)
                start = xb
        return xb

    def leading_terms_without(self, columns: Collection[str]) -> int:
        """How many leading terms read none of ``columns`` (names as in the covariates passed)."""
        columns = set(columns)
        for index, term in enumerate(self.terms):
            column = TERMS[term].column
            if {self.source_columns.get(column, column), self.imputed_columns.get(column, column)} & columns:
                return index
        return len(self.terms)

    def design_matrix(self, covariates: Covariates) -> np.ndarray:
        """Regressors (n, terms), in the order of ``coefficients``."""
        resolved = self._resolved(covariates)
        return np.column_stack([TERMS[term].compute(resolved) for term in self.terms])

    def probabilities(self, covariates: Covariates) -> np.ndarray:
        """Category probabilities (n, 5) for every citizen."""
        return category_probabilities(self.linear_predictor(covariates), self.cuts)


TERMS_MIN_BY_COLUMN: dict[str, int] = {}
for _term in TERMS.values():
    TERMS_MIN_BY_COLUMN[_term.column] = max(TERMS_MIN_BY_COLUMN.get(_term.column, _term.min_valid), _term.min_valid)


@dataclass(frozen=True)
class ApprovalResult:
    """Approval categories and which model produced each."""

    approval: np.ndarray
    used_primary: np.ndarray
    n_fallback: int
    linear_predictor: np.ndarray


@dataclass(frozen=True)
class ApprovalRule:
    """A primary model applied on its subsample, with a fallback for the rest."""

    primary: ApprovalModel
    fallback: ApprovalModel

    def in_primary(self, covariates: Covariates) -> np.ndarray:
        return self.primary.in_subsample(covariates)

    def probabilities(self, covariates: Covariates) -> tuple[np.ndarray, np.ndarray]:
        """Category probabilities (n, 5) and the primary-model mask."""
        primary = self.in_primary(covariates)
        probs = self.fallback.probabilities(covariates)
        if primary.any():
            probs[primary] = self.primary.probabilities(covariates)[primary]
        return probs, primary

    def apply(self, covariates: Covariates, latent: np.ndarray) -> ApprovalResult:
        """Approval for every citizen, keeping each citizen's persistent ε.

        Args:
            covariates: Public columns (and any imputation columns).
            latent: Persistent standard-logistic draws, one per citizen.

        Returns:
            The approval categories, the primary mask and the fallback count.
        """
        primary = self.in_primary(covariates)
        xb_primary = self.primary.linear_predictor(covariates)
        xb_fallback = self.fallback.linear_predictor(covariates)
        approval = categorize(xb_fallback, latent, self.fallback.cuts)
        approval[primary] = categorize(xb_primary[primary], latent[primary], self.primary.cuts)
        xb = np.where(primary, xb_primary, xb_fallback)
        return ApprovalResult(approval, primary, int((~primary).sum()), xb)
