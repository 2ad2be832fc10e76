"""A fast Newton–Raphson fitter for ordered logits, with soft labels.

Indirect inference refits the paper's seven ordered logits thousands of times,
so calling statsmodels inside the loop is too slow. This fitter maximises

    Σ_i w_i Σ_k P_ik log p_ik(β, cuts),   p_ik = Λ(cut_k − x_iβ) − Λ(cut_{k−1} − x_iβ),

where P_ik are either one-hot observed categories (an ordinary fit) or the
model's expected category probabilities ("soft labels": the pseudo-true
binding function, smooth in the parameters). The gradient and Hessian are
analytic; the Hessian with respect to the K−1 linear indices a_ik = cut_k − x_iβ
is tridiagonal, which keeps each step O(n p²). It is tested against statsmodels'
``OrderedModel`` (Stata convention, as in Table 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit


@dataclass(frozen=True)
class OrderedLogitFit:
    """Estimates, standard errors (from the inverse Hessian) and convergence."""

    beta: np.ndarray
    cuts: np.ndarray
    covariance: np.ndarray
    loglik: float
    iterations: int
    converged: bool

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))


def _index_derivatives(
    a: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Log-likelihood per row and its derivatives with respect to a_ik."""
    n, m = a.shape
    F = expit(a)
    u = F * (1 - F)
    v = u * (1 - 2 * F)
    padded = np.hstack([np.zeros((n, 1)), F, np.ones((n, 1))])
    p = np.clip(np.diff(padded, axis=1), 1e-15, None)
    ratio = labels / p
    loglik = np.sum(labels * np.log(p), axis=1)
    gradient = u * (ratio[:, :m] - ratio[:, 1:])
    ratio2 = labels / p**2
    diagonal = v * (ratio[:, :m] - ratio[:, 1:]) - u**2 * (ratio2[:, :m] + ratio2[:, 1:])
    off_diagonal = labels[:, 1:m] * u[:, :-1] * u[:, 1:] / p[:, 1:m] ** 2
    return loglik, gradient, diagonal, off_diagonal, p


def fit_ordered_logit(
    X: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None = None,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> OrderedLogitFit:
    """Maximum-likelihood ordered logit (Stata convention) by Newton–Raphson.

    Args:
        X: Regressors (n, p), no constant (the cuts play its role).
        labels: Either integer categories 1..K (n,) or soft labels (n, K) summing to 1.
        weights: Optional observation weights (probability weights).
        start: Optional (beta, cuts) warm start.
        max_iter: Maximum Newton steps.
        tol: Convergence tolerance on the largest absolute step.

    Returns:
        The fit; ``covariance`` is the inverse of the (weighted) negative Hessian.
    """
    X = np.asarray(X, dtype=float)
    n, k = X.shape
    labels = np.asarray(labels)
    if labels.ndim == 1:
        categories = int(labels.max())
        labels = np.eye(categories)[labels.astype(int) - 1]
    labels = labels.astype(float)
    m = labels.shape[1] - 1
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if start is None:
        cumulative = np.clip(np.cumsum(w @ labels)[:-1] / w.sum(), 1e-6, 1 - 1e-6)
        beta, cuts = np.zeros(k), np.log(cumulative / (1 - cumulative))
    else:
        beta, cuts = np.asarray(start[0], dtype=float).copy(), np.asarray(start[1], dtype=float).copy()

    def evaluate(beta: np.ndarray, cuts: np.ndarray):
        a = cuts[None, :] - (X @ beta)[:, None]
        return _index_derivatives(a, labels)

    loglik_rows, grad_a, diag_a, off_a, _ = evaluate(beta, cuts)
    loglik = float(w @ loglik_rows)
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        gradient = np.concatenate([-(X.T @ (w * grad_a.sum(axis=1))), w @ grad_a])
        # Row sums of the tridiagonal Hessian in a give the β–cut and β–β blocks.
        row_sums = diag_a.copy()
        row_sums[:, :-1] += off_a
        row_sums[:, 1:] += off_a
        total = row_sums.sum(axis=1)
        hessian = np.empty((k + m, k + m))
        hessian[:k, :k] = (X * (w * total)[:, None]).T @ X
        hessian[:k, k:] = -(X.T @ (w[:, None] * row_sums))
        hessian[k:, :k] = hessian[:k, k:].T
        cut_block = np.diag(w @ diag_a)
        if m > 1:
            off = w @ off_a
            cut_block[np.arange(m - 1), np.arange(1, m)] = off
            cut_block[np.arange(1, m), np.arange(m - 1)] = off
        hessian[k:, k:] = cut_block
        try:
            step = np.linalg.solve(hessian, -gradient)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hessian, -gradient, rcond=None)[0]
        scale = 1.0
        for _ in range(30):
            new_beta, new_cuts = beta + scale * step[:k], cuts + scale * step[k:]
            if np.all(np.diff(new_cuts) > 0):
                rows, g_new, d_new, o_new, _ = evaluate(new_beta, new_cuts)
                new_loglik = float(w @ rows)
                if new_loglik >= loglik - 1e-10 * abs(loglik):
                    break
            scale /= 2
        else:
            break
        beta, cuts = new_beta, new_cuts
        loglik, grad_a, diag_a, off_a = new_loglik, g_new, d_new, o_new
        if np.max(np.abs(scale * step)) < tol:
            converged = True
            break
    covariance = np.linalg.pinv(-hessian)
    return OrderedLogitFit(beta, cuts, covariance, loglik, iterations, converged)
