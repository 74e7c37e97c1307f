"""The example family's metrics, computed from the run's files: the only list of names its claims may use."""

from __future__ import annotations

import pandas as pd

from repro.metrics import Metric


def mse(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mean squared error of the predictions on the evaluation items."""
    items = tables["items"]
    return float(((items["prediction"] - items["y"]) ** 2).mean())


def slope_moved(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic: |w_last − w_first| over the logged steps. Engaged: clearly above 0; a run that never
    updates w: exactly 0."""
    return float(abs(curve["w"].iloc[-1] - curve["w"].iloc[0]))


# Resolutions: a tenth of the label-noise variance (0.1² at ci) for the error, 1% of the true slope for |Δw|.
METRICS: dict[str, Metric] = {
    "mse": Metric(mse, False, "mean squared error on the evaluation items", resolution=1e-3),
    "slope_moved": Metric(slope_moved, True, "|Δw| over training (diagnostic)", resolution=0.02, mechanism=True),
}
