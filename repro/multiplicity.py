"""Adjustment of p-values across a paper's claims (re-exported by repro.stats): Holm's step-down for the family-wise
error (with Shaffer's cap for claims tested in both directions), Benjamini–Hochberg for the false discovery rate;
and a paper's Holm family at one scale as one file (what every verdict of the family reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from repro.files import read_json, write_json, write_text


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


def family_member(decision: dict[str, Any]) -> dict[str, Any]:
    """What Holm needs of one decision (``repro decide``'s JSON): its claim and its two one-sided p-values (None
    when an earlier gate stopped it: it counts as p = 1)."""
    d = decision.get("decision")
    return {
        "claim_id": decision["claim_id"],
        "p_verify": None if d is None else d["p_verify"],
        "p_falsify": None if d is None else d["p_falsify"],
    }


def write_family(out: Path, decisions: list[Path], paper: str, scale: str, log: str | None = None) -> None:
    """One file per paper and scale with every family member's p-values, in the given order. Each verdict of the
    family reads this file, not the N decisions: N inputs to the workflow instead of N² (repro decide's files stay
    the evidence; the verdict card names the family's claims)."""
    members = []
    for path in decisions:
        try:
            members.append(family_member(read_json(path)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a decision of repro decide ({type(exc).__name__}: {exc})") from None
    write_json(out, {"paper": paper, "scale": scale, "members": members})
    if log is not None:
        write_text(Path(log), f"{paper} [{scale}]: Holm family of {len(members)} reproduction claims -> {out}\n")
