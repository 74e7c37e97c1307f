"""Adjustment of p-values across a paper's claims (re-exported by repro.stats): Holm's step-down for the family-wise
error (with Shaffer's cap for claims tested in both directions), Benjamini–Hochberg for the false discovery rate;
and a paper's Holm family at one scale as one file (what every verdict of the family reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from repro.files import read_json, write_json


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


def write_family(out: Path, decisions: list[Path], paper: str, scale: str) -> None:
    """The p-values of a paper's Holm family at one scale (rule family_pvalues): every member's, in the given
    order, in one file that only rule holm_family reads. (A job with the N decisions as inputs whose output N
    verdicts read costs Snakemake N² comparisons when it builds the DAG; this one has one reader.)"""
    members = []
    for path in decisions:
        try:
            members.append(family_member(read_json(path)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a decision of repro decide ({type(exc).__name__}: {exc})") from None
    write_json(out, {"paper": paper, "scale": scale, "members": members})


def holm_family(members: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Holm-adjusted (verify, falsify) p-values of each family member (:func:`family_member`), in order. Each claim
    contributes both one-sided p-values; a claim stopped by an earlier gate contributes p = 1 (it stays in the
    family: its size is fixed by the claims, not by their outcomes). Shaffer's cap: at most one true null per
    claim."""
    pvalues: list[float] = []
    for member in members:
        stopped = member["p_verify"] is None
        pvalues += [1.0, 1.0] if stopped else [member["p_verify"], member["p_falsify"]]
    adjusted = holm(pvalues, max_true=len(members))
    return [(adjusted[2 * i], adjusted[2 * i + 1]) for i in range(len(members))]


def write_holm(out: Path, pvalues_file: Path) -> None:
    """A paper's Holm family at one scale (rule holm_family, what each of its verdicts reads): the members of
    ``pvalues_file`` (:func:`write_family`) with their Holm-adjusted p-values, the paper's multiplicity at a
    glance."""
    try:
        family = read_json(pvalues_file)
        adjusted = holm_family(family["members"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{pvalues_file}: not a family's p-values ({type(exc).__name__}: {exc})") from None
    members = [
        {**member, "p_verify_adjusted": verify, "p_falsify_adjusted": falsify}
        for member, (verify, falsify) in zip(family["members"], adjusted, strict=True)
    ]
    write_json(out, {**family, "members": members})
