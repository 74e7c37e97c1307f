"""Trusted metrics of the masked-LM pre-training: masked-word accuracy on English and on the target languages."""

from __future__ import annotations

import pandas as pd

from repro.metrics import Metric
from repro.tasks.xling_pairs import SOURCE


def _correct(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    masked = tables["masked"]
    return masked.assign(correct=masked["target"] == masked["prediction"])


def mlm_accuracy_source(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of English masked words predicted exactly (the same form; the restated first sentence holds the
    concept, its form is a coin flip, so an aligned model scores about 1/forms)."""
    frame = _correct(tables)
    return float(frame.loc[frame["language"] == SOURCE, "correct"].mean())


def mlm_accuracy_target(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """The same, averaged over the target languages."""
    frame = _correct(tables)
    return float(frame[frame["language"] != SOURCE].groupby("language")["correct"].mean().mean())


METRICS: dict[str, Metric] = {
    "mlm_accuracy_source": Metric(mlm_accuracy_source, True, "masked-word accuracy, English", resolution=1 / 256),
    "mlm_accuracy_target": Metric(mlm_accuracy_target, True, "masked-word accuracy, targets", resolution=1 / 256),
}
