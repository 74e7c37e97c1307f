"""Trusted metrics of the planted calibration family."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from repro.metrics import Metric


def accuracy(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of items whose thresholded probability (≥ ½ → 1) equals the label."""
    items = tables["items"]
    return float(((items["prob"] >= 0.5).astype(int) == items["label"]).mean())


def log_loss(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mean binary cross-entropy in nats, probabilities clipped to [1e-7, 1 − 1e-7]."""
    items = tables["items"]
    p = items["prob"].clip(1e-7, 1 - 1e-7).to_numpy()
    y = items["label"].to_numpy()
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def training_loss_drop(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (planted): the relative fall of the training loss, (first logged − last logged) / first.
    Engaged: clearly above 0 (the optimiser lowered the loss); 0 for a run that never updates, negative if the loss
    rose."""
    loss = curve["loss"].to_numpy(dtype=float)
    return float((loss[0] - loss[-1]) / loss[0])


# The planted family evaluates 512 items.
METRICS: dict[str, Metric] = {
    "accuracy": Metric(accuracy, True, "classification accuracy", resolution=1 / 512),
    "log_loss": Metric(log_loss, False, "binary cross-entropy, nats", resolution=0.01 * math.log(2)),
    "training_loss_drop": Metric(
        training_loss_drop,
        True,
        "relative fall of the training loss (mechanism diagnostic)",
        resolution=0.01,
        mechanism=True,
    ),
}
