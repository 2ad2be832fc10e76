"""Synthetic survey sample: a Gaussian factor copula with ordinal thresholds.

Method (details and assumptions in ``calibration/README.md``):

1. Design cells (age group × gender × region) are drawn from the unweighted
   joint distribution built in ``calibration.design``; age in years within group.
2. Two correlated latent factors, ``ses`` (socio-economic and digital
   resources) and ``att`` (attitude to SCS and the state), whose means shift
   with age and gender. Each item loads on its own factor and, for the 16
   items the joint calibration frees, on the other one (``cross_loadings``).
3. Every item j has a Gaussian latent Z_j = λ_j·F_factor(j) + c_j·ℓ + e_j,
   where ℓ is the standardised log raking weight of the respondent's design cell.
   ℓ carries exactly the information that the gap between Table A2's weighted
   and unweighted columns holds about item j.
4. Ordinal answers cut Z_j at thresholds that reproduce Table A2's unweighted
   column among the respondents who were asked. "Don't know"/"rather not answer"
   come from a separate non-response latent sharing a person-level reticence trait.
5. SCS use is a multi-select: an engagement latent splits none / don't know /
   user, and each user selects the systems whose latents pass their thresholds
   (at least one). Sesame and Tencent share a substitution term, since the text's
   19% using both is below what independence would give.
6. Raking weights to Table A2's weighted margins, capped at 2.0.

Thresholds are computed once on a large reference draw (``fit_population``)
and shipped; any sample is then a draw from one fixed distribution.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from scipy.special import ndtri

from calibration import design, paper
from calibration.items import ADVANTAGE_COLUMNS, ITEMS, Item
from calibration.parameter_files import (
    POPULATION_FILE,
    Checker,
    params_path,
    read_json,
    strict_adapter,
    strict_schema,
    validate_types,
)

USAGE_LATENTS = ("uses_sesame", "uses_tencent", "uses_other_commercial", "gov_pilot_participant")

# The latents with a factor loading, with a loading on the log raking weight,
# and (freed by the joint calibration) with a loading on the other factor: the
# socio-economic items on attitude and the attitude items on resources. The
# cross-loadings carry the correlations that make demographic coefficients
# shrink from Model 1 to the block models (e.g. income once perceived functions enter).
LOADED = (*[item.name for item in ITEMS], "engagement", "uses_sesame", "uses_tencent")
WEIGHT_LOADED = (
    *[item.name for item in ITEMS],
    "engagement",
    *USAGE_LATENTS,
    *[f"{item.name}#nonresponse" for item in ITEMS if item.nonresponse],
)
CROSS_LOADED = (
    "income_group", "education", "urban", "smartphone_time", "post_frequency", "ccp_member",
    "gov_confidence", "relative_score", "transparency", "received_info", "fairness",
    "advantages", "disadvantages", "accountability", "abiding_regulations", "quality_of_life",
)  # fmt: skip
DESIGN_LEVELS = {"age_group": len(design.AGE_GROUPS), "male": len(design.GENDERS), "region": len(design.REGIONS)}


def threshold_counts() -> dict[str, int]:
    """How many thresholds each latent is cut at (``realise``)."""
    counts = {item.name: len(item.codes) - 1 for item in ITEMS}
    counts.update({f"{item.name}#nonresponse": len(item.nonresponse) for item in ITEMS if item.nonresponse})
    counts["engagement"] = 2  # none / don't know / user
    counts.update(dict.fromkeys(USAGE_LATENTS, 1))
    counts["lives_in_pilot_locality"] = 1
    return counts


@cache
def standardisation() -> tuple[float, float, float]:
    """(age mean, age SD, share of men) that centre the covariates of the factor means.

    Age uses Table A3's weighted mean and SD; gender uses Table A2's unweighted
    share of men (58.26%). Centring only moves the factor means' intercepts,
    but the shipped loadings and thresholds were fitted on latents centred on
    exactly these figures, so they must stay as read (not, say, the sample's
    own moments).
    """
    male_share = float(paper.a2_shares("male", "unweighted_pct")[1])
    return paper.a3_moment("age", "mean"), paper.a3_moment("age", "sd"), male_share


def seed_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    """A fresh ``SeedSequence`` for ``seed``.

    A given ``SeedSequence`` is copied: spawning advances its child counter, so
    spawning from the caller's object would make repeated calls differ.
    """
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
    return np.random.SeedSequence(seed)


@dataclass
class GeneratorParams:
    """Parameters of the synthetic-sample generator (one JSON file ships with the package)."""

    old_west_deficit: float = 0.3
    old_west_female_deficit: float = 0.5
    age_tilts: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    ses_on_age: float = 0.0
    ses_on_male: float = 0.0
    att_on_age: float = 0.0
    factor_correlation: float = 0.3
    reticence_loading: float = 0.5
    st_substitution: float = 0.5
    pilot_link: float = 0.8
    loadings: dict[str, float] = field(default_factory=dict)
    cross_loadings: dict[str, float] = field(default_factory=dict)
    weight_loadings: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, list[float]] = field(default_factory=dict)
    margins_unweighted: dict[str, list[float]] = field(default_factory=dict)
    margins_weighted: dict[str, list[float]] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Write the parameters as JSON (NaN and infinity are refused: ``load`` would reject them)."""
        Path(path).write_text(json.dumps(asdict(self), indent=1, sort_keys=True, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path: Path | None = None) -> GeneratorParams:
        """Read and check a parameter file.

        Args:
            path: The file; default ``population_v2.json`` in ``$SCSIM_PARAMS_DIR``
                or, if that is not set, in the shipped ``calibration/params``.

        Raises:
            ParameterFileError: One line naming the file and the field, for a
                file that is missing, unreadable, not JSON, or has a missing,
                extra, mistyped, non-finite or inconsistent field.
        """
        path = params_path(POPULATION_FILE) if path is None else Path(path)
        data = read_json(path)
        check_generator_file(data, path)
        return cls(**data)

    def design_margins(self, column: str) -> design.DesignMargins:
        source = self.margins_unweighted if column == "unweighted" else self.margins_weighted
        return design.DesignMargins(
            np.asarray(source["age_group"]),
            np.asarray(source["male"]),
            np.asarray(source["region"]),
        )

    def cell_shares(self) -> np.ndarray:
        return design.unweighted_cell_shares(
            self.design_margins("unweighted"), self.old_west_deficit, self.old_west_female_deficit
        ).reshape(-1)

    def cell_log_weights(self) -> np.ndarray:
        """Standardised log raking weight of each of the 18 design cells (population level)."""
        shares = self.cell_shares()
        cells = np.arange(18)
        weight = design.rake(
            cells // 6 + 1,
            (cells // 3) % 2,
            cells % 3 + 1,
            self.design_margins("weighted"),
            base_weight=shares,
        ).weights
        log_w = np.log(weight)
        mean = shares @ log_w
        return (log_w - mean) / np.sqrt(shares @ (log_w - mean) ** 2)


@dataclass
class Latents:
    """Design variables and the Gaussian latents of one synthetic sample.

    ``z`` and ``nonresponse`` hold one array per latent, so ``realise`` can free
    each once it is realised.
    """

    age_group: np.ndarray
    male: np.ndarray
    region: np.ndarray
    age: np.ndarray
    log_weight: np.ndarray
    z: dict[str, np.ndarray]
    nonresponse: dict[str, np.ndarray]
    uniform_seed: np.random.SeedSequence
    _uniforms: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.age)

    @property
    def uniforms(self) -> np.ndarray:
        """(advantage types, n) uniforms, drawn from their own stream at the first read.

        Drawn late, not with the latents: they are read last, after ``realise`` has
        freed the item latents (saves 64 B a citizen at the draw's peak, with the
        eighth row that was drawn and never read).
        """
        if self._uniforms is None:
            self._uniforms = np.random.default_rng(self.uniform_seed).random((len(ADVANTAGE_COLUMNS), self.n))
        return self._uniforms


LATENT_NAMES = (
    *[item.name for item in ITEMS],
    "engagement",
    *USAGE_LATENTS,
    "lives_in_pilot_locality",
)


def simulate_latents(n: int, seed: int | np.random.SeedSequence, params: GeneratorParams) -> Latents:
    """Draw design cells, factors and item latents (no thresholds applied yet).

    Each block draws from its own child of one ``SeedSequence``, so common random
    numbers hold across parameter values during calibration.
    """
    # A copy of a given SeedSequence keeps common random numbers across repeated calls.
    design_ss, factor_ss, item_ss, nonresponse_ss, extra_ss = seed_sequence(seed).spawn(5)
    rng = np.random.default_rng(design_ss)
    cell = rng.choice(18, size=n, p=params.cell_shares())
    age_group = (cell // 6 + 1).astype(np.int8)
    male = ((cell // 3) % 2).astype(np.int8)
    region = (cell % 3 + 1).astype(np.int8)
    age = design.draw_age(rng, age_group, np.asarray(params.age_tilts))
    log_weight = params.cell_log_weights()[cell]
    del cell

    rng = np.random.default_rng(factor_ss)
    xi = rng.standard_normal((2, n))
    age_mean, age_sd, male_mean = standardisation()
    age_std = (age - age_mean) / age_sd
    rho = params.factor_correlation
    factors = {
        "ses": params.ses_on_age * age_std + params.ses_on_male * (male - male_mean) + xi[0],
        "att": params.att_on_age * age_std + rho * xi[0] + np.sqrt(1 - rho**2) * xi[1],
    }
    del xi, age_std
    rng = np.random.default_rng(item_ss)
    # One array per latent, drawn in turn: the same numbers as one (latents + 1, n) draw, but
    # each latent can be freed on its own once realised (``realise(..., consume=True)``).
    noise = [rng.standard_normal(n) for _ in range(len(LATENT_NAMES) + 1)]
    z: dict[str, np.ndarray] = {}
    factor_of = {item.name: item.factor for item in ITEMS}
    factor_of.update({"engagement": "ses", "uses_sesame": "ses", "uses_tencent": "ses", "uses_other_commercial": "ses"})
    # Each latent is built in place in its own noise array (the same additions in the same
    # order): saves a second float64 array per latent, ~270 B a citizen at the draw's peak.
    for k, name in enumerate(LATENT_NAMES):
        value = noise[k]
        value += params.weight_loadings.get(name, 0.0) * log_weight
        if name in factor_of:
            own = factor_of[name]
            other = "att" if own == "ses" else "ses"
            value += params.loadings.get(name, 0.0) * factors[own]
            value += params.cross_loadings.get(name, 0.0) * factors[other]
        z[name] = value
    del factors
    substitution = noise.pop()
    del noise
    substitution *= params.st_substitution
    z["uses_sesame"] += substitution
    z["uses_tencent"] -= substitution
    del substitution
    z["gov_pilot_participant"] += params.pilot_link * z["lives_in_pilot_locality"]

    rng = np.random.default_rng(nonresponse_ss)
    reticence = rng.standard_normal(n)
    r = params.reticence_loading
    nonresponse = {}
    for item in ITEMS:
        if item.nonresponse:
            shift = params.weight_loadings.get(f"{item.name}#nonresponse", 0.0) * log_weight
            nonresponse[item.name] = r * reticence + np.sqrt(1 - r**2) * rng.standard_normal(n) + shift
    return Latents(age_group, male, region, age, log_weight, z, nonresponse, extra_ss)


def cut(latent: np.ndarray, thresholds: np.ndarray, codes: tuple[int, ...]) -> np.ndarray:
    """Map a latent to ordinal codes given K−1 increasing thresholds."""
    index = np.searchsorted(np.asarray(thresholds), latent, side="right")
    return np.asarray(codes, dtype=np.int16)[index]


def quantile_thresholds(latent: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Thresholds putting ``shares`` (low to high, summing to 1) of ``latent`` in each category."""
    cumulative = np.clip(np.cumsum(shares)[:-1], 1e-9, 1 - 1e-9)
    if latent.size == 0:
        return ndtri(cumulative)
    return np.quantile(latent, cumulative)


def select_usage(z: dict[str, np.ndarray], user: np.ndarray, thresholds: dict[str, float]) -> dict[str, np.ndarray]:
    """Multi-select among users: systems whose latent passes its threshold, at least one."""
    # Written row by row into one array (the same differences): saves the four temporaries np.stack would copy.
    margin = np.empty((len(USAGE_LATENTS), len(user)))
    for row, name in zip(margin, USAGE_LATENTS, strict=True):
        np.subtract(z[name], thresholds[name], out=row)
    chosen = margin > 0
    forced = user & ~chosen.any(axis=0)
    # The best system only of the users forced to pick one (argmax over all would copy the margins).
    chosen[np.argmax(margin[:, forced], axis=0), np.flatnonzero(forced)] = True
    chosen &= user[None, :]
    return {name: chosen[k] for k, name in enumerate(USAGE_LATENTS)}


def fit_usage_thresholds(
    z: dict[str, np.ndarray], user: np.ndarray, targets: dict[str, float], iterations: int = 30
) -> dict[str, float]:
    """Thresholds of the usage latents so that each system's share among all matches target.

    The at-least-one rule adds forced selections, so the nominal share of each
    latent is adjusted by fixed-point iteration.
    """
    n_user = max(int(user.sum()), 1)
    share_all_users = n_user / len(user)
    nominal = {name: targets[name] / share_all_users for name in USAGE_LATENTS}
    thresholds: dict[str, float] = {}
    for _ in range(iterations):
        for name in USAGE_LATENTS:
            p = float(np.clip(nominal[name], 1e-4, 1 - 1e-4))
            thresholds[name] = float(np.quantile(z[name][user], 1 - p))
        chosen = select_usage(z, user, thresholds)
        for name in USAGE_LATENTS:
            achieved = chosen[name].mean()
            nominal[name] -= (achieved - targets[name]) / share_all_users
    return thresholds


def branch_masks(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Who was asked what (see ``calibration.items.BRANCHES``)."""
    sesame = columns["uses_sesame"] == 1
    tencent = columns["uses_tencent"] == 1
    other = columns["uses_other_commercial"] == 1
    return {
        "all": np.ones_like(sesame),
        "sesame_users": sesame,
        "tencent_users": tencent,
        "sesame_or_tencent_users": sesame | tencent,
        "commercial_users": sesame | tencent | other,
        "gov_pilot_participants": columns["gov_pilot_participant"] == 1,
    }


def apply_nonresponse(item: Item, nonresponse: np.ndarray, asked: np.ndarray, cutoffs: list[float]) -> np.ndarray:
    """Non-response codes (−1, −2) or 0 for answered, given cutoffs on the non-response latent."""
    out = np.zeros(len(nonresponse), dtype=np.int16)
    upper = np.inf
    for code, cutoff in zip(item.nonresponse, cutoffs, strict=True):
        out[asked & (nonresponse > cutoff) & (nonresponse <= upper)] = code
        upper = cutoff
    return out


def check_generator_file(data: object, path: Path) -> None:
    """Types, names, lengths and orderings of a ``population_v2.json`` (``GeneratorParams.load``)."""
    validate_types(strict_schema(GeneratorParams), data, path)
    check = Checker(path)
    check.length("age_tilts", data["age_tilts"], len(design.AGE_GROUPS))
    for name, low, high, open_low in (
        ("factor_correlation", -1.0, 1.0, False),
        ("reticence_loading", -1.0, 1.0, False),
        ("old_west_deficit", 0.0, 1.0, True),
        ("old_west_female_deficit", 0.0, 1.0, True),
    ):
        check.within(name, data[name], low, high, open_low)
    check.exact_keys("loadings", data["loadings"], LOADED)
    check.exact_keys("cross_loadings", data["cross_loadings"], CROSS_LOADED)
    check.exact_keys("weight_loadings", data["weight_loadings"], WEIGHT_LOADED)
    counts = threshold_counts()
    check.exact_keys("thresholds", data["thresholds"], counts)
    for name, count in counts.items():
        values = data["thresholds"][name]
        check.length(f"thresholds.{name}", values, count)
        # Non-response cutoffs are read from the top (``apply_nonresponse``):
        # the first code lies above the first cutoff, the next between the two.
        check.monotone(f"thresholds.{name}", values, decreasing=name.endswith("#nonresponse"))
    for margins in ("margins_unweighted", "margins_weighted"):
        check.exact_keys(margins, data[margins], DESIGN_LEVELS)
        for name, count in DESIGN_LEVELS.items():
            check.length(f"{margins}.{name}", data[margins][name], count)
            check.shares(f"{margins}.{name}", data[margins][name])
    # ``meta`` is free-form JSON, except the advantage-type shares that ``realise`` reads.
    shares = data["meta"].get("advantage_type_shares")
    if shares is not None:
        where = "meta.advantage_type_shares"
        validate_types(strict_adapter(dict[str, list[float]]), shares, path, prefix=where)
        check.exact_keys(where, shares, ADVANTAGE_COLUMNS)
        for name, pair in shares.items():
            check.length(f"{where}.{name}", pair, 2)
            for k, value in enumerate(pair):
                check.within(f"{where}.{name}.{k}", value, 0.0, 1.0)
