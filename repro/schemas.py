"""Contracts of the tables the verdict stage reads and writes: property instances and the verdict summary
(pandera ``DataFrameModel``, strict and coercing). Run metrics and review profiles are in
:mod:`repro.metrics.tables`; each family's prediction tables and curve in its package
(``repro/families/<name>/schemas.py``).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Strict, TableError, validate

__all__ = ["VERDICTS", "PropertyInstances", "TableError", "VerdictRow", "validate"]

VERDICTS = ("verified", "falsified", "inconclusive", "invalid", "error", "not_run", "not_testable")


class PropertyInstances(Strict):
    """One row per checked instance. ``control`` rows are deliberately perturbed instances that must
    *violate* the identity: they show the check can fail (sensitivity)."""

    instance: Series[int] = pa.Field(ge=0)
    control: Series[bool]
    lhs: Series[float] = pa.Field(nullable=False)
    rhs: Series[float] = pa.Field(nullable=False)
    abs_err: Series[float] = pa.Field(ge=0.0)

    @pa.dataframe_check
    def abs_err_consistent(cls, df: pd.DataFrame) -> pd.Series:
        return (df["abs_err"] - (df["lhs"] - df["rhs"]).abs()).abs() <= 1e-9 * (1 + df["abs_err"].abs())


class VerdictRow(Strict):
    """One row of ``results/verdicts-<scale>.tsv``."""

    claim_id: Series[str]
    paper: Series[str]
    kind: Series[str] = pa.Field(isin=["reproduction", "property", "derivation", "textual"])
    scale: Series[str] = pa.Field(isin=["ci", "reduced", "full"])
    hypothesis: Series[str]
    verdict: Series[str] = pa.Field(isin=list(VERDICTS))
    reason: Series[str]
    metric: Series[str] = pa.Field(nullable=True)
    effect: Series[float] = pa.Field(nullable=True)
    effect_label: Series[str] = pa.Field(nullable=True)
    """What ``effect`` measures: a reproduction's treatment − baseline (metric), a property's largest error, ..."""
    ci_low: Series[float] = pa.Field(nullable=True)
    ci_high: Series[float] = pa.Field(nullable=True)
    theta: Series[float] = pa.Field(nullable=True)
    margin: Series[float] = pa.Field(nullable=True)
    n_seeds: Series[float] = pa.Field(nullable=True)
    p_verify: Series[float] = pa.Field(nullable=True)
    p_falsify: Series[float] = pa.Field(nullable=True)
    p_verify_adjusted: Series[float] = pa.Field(nullable=True)
    p_falsify_adjusted: Series[float] = pa.Field(nullable=True)
    mde: Series[float] = pa.Field(nullable=True)
    seeds_needed: Series[float] = pa.Field(nullable=True)
    rule_changed: Series[bool]
    fragile: Series[bool]
    seed_document: Series[str] = pa.Field(nullable=True)
    seed_relevance: Series[str] = pa.Field(nullable=True)
    claim_file: Series[str] = pa.Field(nullable=True)
    """The claim file the verdict was decided from, as the workflow named it."""
    claim_sha256: Series[str] = pa.Field(nullable=True)
    """Its content hash then: ``repro status`` flags a verdict whose claim file has changed since (stale)."""
