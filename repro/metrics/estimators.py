"""Estimators more than one family scores with."""

from __future__ import annotations

import numpy as np


def pass_at_k(n: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    """Unbiased pass@k per prompt from n samples with c correct: 1 − C(n−c, k)/C(n, k) (Chen et al. 2021, Eq. 1).

    n, c: (P,) integer arrays with n ≥ k. Computed as 1 − Π_{i=n−c+1}^{n} (1 − k/i), which is exact and stable.
    """
    n, c = np.asarray(n, int), np.asarray(c, int)
    if np.any(n < k):
        raise ValueError(f"pass@{k} needs at least {k} samples per prompt")
    out = np.empty(n.shape, float)
    for idx, (ni, ci) in enumerate(zip(n.tolist(), c.tolist(), strict=True)):
        out[idx] = 1.0 if ni - ci < k else 1.0 - float(np.prod(1.0 - k / np.arange(ni - ci + 1, ni + 1)))
    return out


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose match is ranked within the top k (ranks start at 1)."""
    return float((np.asarray(ranks) <= k).mean())
