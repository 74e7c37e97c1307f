"""The scoring harness's output tables: one run's metrics and its review-profile rows."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Strict


class RunMetrics(Strict):
    """Metrics of one run, computed by trusted code from the run's predictions and curve."""

    metric: Series[str] = pa.Field(unique=True)
    value: Series[float] = pa.Field(nullable=False)
    source_sha256: Series[str] = pa.Field(str_length={"min_value": 64, "max_value": 64})

    @pa.check("value")
    def finite(cls, s: pd.Series) -> pd.Series:
        return s.abs() < float("inf")


class ProfileRows(Strict):
    """A run's review curves: y at x on each panel (e.g. R@1 at each severity of each perturbation)."""

    panel: Series[str]
    x: Series[float]
    y: Series[float]

    @pa.check("y")
    def finite(cls, s: pd.Series) -> pd.Series:
        return s.abs() < float("inf")
