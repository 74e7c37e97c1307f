"""The example family's tables: one prediction per evaluation item, and the SGD curve."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Curve, PredictionTable, Strict


class Items(Strict):
    item: Series[int] = pa.Field(ge=0)
    x: Series[float]
    y: Series[float]
    """The noisy label."""
    prediction: Series[float]


class ExampleCurve(Curve):
    loss: Series[float] = pa.Field(ge=0)
    w: Series[float]
    """The slope when the step's loss was computed (before its update)."""


PREDICTIONS = {"items": PredictionTable(Items, input_columns=("item",), output_columns=("prediction",))}
CURVE = ExampleCurve
