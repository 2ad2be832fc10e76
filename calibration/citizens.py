"""Citizens for the simulation: drawn from the synthetic survey sample in proportion to weight."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from calibration.fit_population import a2_targets
from calibration.joint import JointParams, joint_state
from calibration.published import approval_rule
from calibration.sample import draw_citizens, generate_sample
from sim.approval import ApprovalModel
from sim.state import COVARIATES, Population


def band_shares(variable: str) -> np.ndarray:
    """Stationary score-band distribution: Table A2 (unweighted), among those reporting a band."""
    shares = a2_targets("unweighted_pct")[variable]
    values = np.array([shares[code] for code in sorted(shares) if code > 0])
    return values / values.sum()


def build_population(n: int, seed: int | np.random.SeedSequence) -> Population:
    """``n`` citizens with their full t = 0 state, drawn ∝ survey weight from a synthetic sample of size n."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sample_ss, draw_ss = root.spawn(2)
    sample = generate_sample(n, int(sample_ss.generate_state(1)[0]), approval_rule("model1"))
    index = draw_citizens(sample, n, int(draw_ss.generate_state(1)[0]))
    columns = sample.columns
    state = joint_state(columns)
    return Population(
        covariates={name: np.asarray(state[name])[index] for name in COVARIATES},
        uses_sesame=columns["uses_sesame"][index],
        uses_tencent=columns["uses_tencent"][index],
        uses_other_commercial=columns["uses_other_commercial"][index],
        lives_in_pilot_locality=columns["lives_in_pilot_locality"][index],
        gov_pilot_participant=columns["gov_pilot_participant"][index],
        tencent_score_band=columns["tencent_score_band_full"][index],
        sesame_band_shares=band_shares("sesame_score_band"),
        tencent_band_shares=band_shares("tencent_score_band"),
    )


def engine_approval_model(params: JointParams | None = None, rng: np.random.Generator | None = None) -> ApprovalModel:
    """The joint model as the engine reads it (public covariate names).

    Args:
        params: Calibrated joint parameters (default: shipped).
        rng: If given, one draw from the calibrated parameter uncertainty.
    """
    params = params or JointParams.load()
    model = params.draw(rng) if rng is not None else params.model()
    return replace(model, source_columns={})
