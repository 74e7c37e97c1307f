"""Percentile-bootstrap statistics behind verdicts (re-exported by repro.stats): the probability that the treatment
beats the baseline, and a cross-check of a mean's t-interval. Pure functions of arrays, explicit random state."""

from __future__ import annotations

import numpy as np


def probability_of_improvement(
    a: np.ndarray, b: np.ndarray, paired: bool, rng: np.random.Generator, n_boot: int = 2000, alpha: float = 0.05
) -> tuple[float, float, float]:
    """P̂(A > B) with a percentile-bootstrap (1 − 2α) interval.

    Paired: (1/n) Σ 1(aᵢ > bᵢ) + ½·1(aᵢ = bᵢ). Unpaired: Mann–Whitney U / (n·m).
    a, b: (n,) and (n,) or (m,). Returns (estimate, lo, hi).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)

    def stat(x: np.ndarray, y: np.ndarray) -> float:
        if paired:
            return float(np.mean((x > y) + 0.5 * (x == y)))
        return float(np.mean((x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])))

    est = stat(a, b)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        ia = rng.integers(0, a.size, a.size)
        ib = ia if paired else rng.integers(0, b.size, b.size)
        boots[i] = stat(a[ia], b[ib])
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return est, float(lo), float(hi)


def bootstrap_mean_interval(
    x: np.ndarray, rng: np.random.Generator, n_boot: int = 5000, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap (1 − 2α) interval of the mean; a cross-check only for n ≥ 10."""
    x = np.asarray(x, float)
    idx = rng.integers(0, x.size, (n_boot, x.size))
    means = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)
