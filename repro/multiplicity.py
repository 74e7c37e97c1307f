"""Adjustment of p-values across a paper's claims (re-exported by repro.stats): Holm's step-down for the family-wise
error (with Shaffer's cap for claims tested in both directions), Benjamini–Hochberg for the false discovery rate."""

from __future__ import annotations

import numpy as np


def holm(pvalues: list[float], max_true: int | None = None) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error), same order as given.

    ``max_true`` caps the number of null hypotheses that can be true at once (Shaffer 1986, method 1): the k-th
    smallest p-value (k from 1) is multiplied by min(m − k + 1, max_true) instead of m − k + 1. Used for claims
    tested in both directions: a claim's "verify" null (effect ≤ 0) and "falsify" null (effect ≥ δ) cannot both
    hold, so of 2m such hypotheses at most m are true.
    """
    p = np.asarray(pvalues, float)
    m = p.size
    cap = m if max_true is None else max_true
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, min(m - rank, cap) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()


def benjamini_hochberg(pvalues: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (false discovery rate), same order as given."""
    p = np.asarray(pvalues, float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 1.0
    for rank in range(m - 1, -1, -1):
        idx = order[rank]
        running = min(running, p[idx] * m / (rank + 1))
        adjusted[idx] = running
    return adjusted.tolist()
