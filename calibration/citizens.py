"""Citizens for the simulation: drawn from the synthetic survey sample in proportion to weight."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from calibration.joint import JointParams, joint_state
from calibration.parameter_files import JOINT_FILE, params_path
from calibration.population import GeneratorParams, seed_sequence
from calibration.rules import approval_rule
from calibration.sample import draw_citizens, generate_sample
from calibration.targets import a2_targets
from sim.approval import ApprovalModel
from sim.state import COVARIATES, Population, compact_copy


def check_parameter_files() -> None:
    """Load and check both calibrated parameter files (``$SCSIM_PARAMS_DIR`` or the shipped ones).

    A run can call this before it starts work, so that a bad file fails at
    once, as one line, rather than after progress output.

    Raises:
        ParameterFileError: For the first problem found.
    """
    GeneratorParams.load()
    JointParams.load()


def band_shares(variable: str) -> np.ndarray:
    """Stationary score-band distribution: Table A2 (unweighted), among those reporting a band."""
    shares = a2_targets("unweighted_pct")[variable]
    values = np.array([shares[code] for code in sorted(shares) if code > 0])
    return values / values.sum()


def build_population(
    n: int, seed: int | np.random.SeedSequence, generator: GeneratorParams | None = None
) -> Population:
    """``n`` citizens with their full t = 0 state, drawn ∝ survey weight from a synthetic sample of size n.

    Args:
        n: Number of citizens (> 0).
        seed: Root seed or ``SeedSequence`` (copied, not advanced): its first
            child drives the synthetic sample, its second the draw of citizens.
        generator: The sample generator (e.g. an ensemble member's); default
            the shipped one, or ``$SCSIM_PARAMS_DIR``'s.
    """
    sample_ss, draw_ss = seed_sequence(seed).spawn(2)
    # The sample's approval column is not used: citizens carry covariates and
    # the engine scores approval itself.
    sample = generate_sample(n, sample_ss, approval_rule("model1"), generator)
    index = draw_citizens(sample, n, draw_ss)
    columns = sample.columns
    state = joint_state(columns)
    # The answers are small whole numbers: int8 where that holds them exactly (saves 27 B a citizen).
    return Population(
        covariates={name: compact_copy(np.asarray(state[name])[index]) for name in COVARIATES},
        uses_sesame=compact_copy(columns["uses_sesame"][index]),
        uses_tencent=compact_copy(columns["uses_tencent"][index]),
        uses_other_commercial=compact_copy(columns["uses_other_commercial"][index]),
        lives_in_pilot_locality=compact_copy(columns["lives_in_pilot_locality"][index]),
        gov_pilot_participant=compact_copy(columns["gov_pilot_participant"][index]),
        tencent_score_band=compact_copy(columns["tencent_score_band_full"][index]),
        sesame_band_shares=band_shares("sesame_score_band"),
        tencent_band_shares=band_shares("tencent_score_band"),
    )


_joint_params_cache: dict[tuple[str, int, int, int], JointParams] = {}


def _loaded_joint_params() -> JointParams:
    """``JointParams.load()``, read and checked once per process while the file is unchanged.

    Keyed by the file's path (``$SCSIM_PARAMS_DIR`` is read at each call), inode,
    modification time and size, so another directory or an edited file is read afresh.
    """
    path = params_path(JOINT_FILE)
    try:
        stat = path.stat()
    except OSError:
        return JointParams.load(path)  # the loader reports the problem as one line
    key = (str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if key not in _joint_params_cache:
        _joint_params_cache.clear()
        _joint_params_cache[key] = JointParams.load(path)
    return _joint_params_cache[key]


def engine_approval_model(params: JointParams | None = None, rng: np.random.Generator | None = None) -> ApprovalModel:
    """The joint model as the engine reads it (public covariate names).

    Args:
        params: Calibrated joint parameters (default: shipped, or ``$SCSIM_PARAMS_DIR``).
        rng: If given, one draw from the calibrated parameter uncertainty.
    """
    # Reading and validating the file took ~0.6 ms a run; a sweep runs thousands.
    params = params or _loaded_joint_params()
    model = params.draw(rng) if rng is not None else params.model()
    return replace(model, source_columns={})
