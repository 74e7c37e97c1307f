"""The planted calibration family's tables."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Curve, PredictionTable, Strict


class PlantedItems(Strict):
    item: Series[int] = pa.Field(ge=0)
    label: Series[int] = pa.Field(isin=[0, 1])
    prob: Series[float] = pa.Field(ge=0.0, le=1.0)


class PlantedCurve(Curve):
    loss: Series[float]


PREDICTIONS = {"items": PredictionTable(PlantedItems, ("item",), ("prob",))}
CURVE = PlantedCurve
