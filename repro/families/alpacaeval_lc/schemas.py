"""AlpacaEval 2 judgements (specified, not implemented)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Curve, PredictionTable, Strict


class AlpacaEvalJudgements(Strict):
    """One row per AlpacaEval instruction: the judge's preference for the model over the reference output."""

    instruction: Series[int] = pa.Field(ge=0)
    model_length: Series[int] = pa.Field(ge=0)
    reference_length: Series[int] = pa.Field(ge=0)
    preference: Series[float] = pa.Field(ge=0.0, le=1.0)


class PreferenceTuningCurve(Curve):
    """Training curve of the preference tuning: the loss per logged step."""

    loss: Series[float]


PREDICTIONS = {"judgements": PredictionTable(AlpacaEvalJudgements, ("instruction",), ("preference",))}
CURVE = PreferenceTuningCurve
