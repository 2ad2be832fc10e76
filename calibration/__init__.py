"""Calibration of scsim to Kostka (2019): the paper's data, the synthetic sample, the approval models.

Runtime modules (used by every simulation): ``paper``, ``targets``, ``items``,
``design``, ``population``, ``sample``, ``published``, ``joint``, ``rules``,
``parameter_files`` and ``citizens``. Offline modules (refits and reports):
``fit_population``, ``fit_joint``, ``ologit_fit``, ``report`` and
``joint_report``; no runtime module imports them.
"""


class ConvergenceWarning(UserWarning):
    """An iterative fit (Levenberg–Marquardt, raking, a scalar search) stopped before it converged."""
