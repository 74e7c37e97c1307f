"""CARE tables shared by the warm start, the RL runs and the full-scale VLM family."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Curve, PredictionTable, Strict


class CareAnswers(Strict):
    """One sampled answer per (benchmark, item, sample) of a synthetic visual-reasoning test set, scored by the
    task's verifier. ``prediction_token`` is the answer span's single token id (−1 when the span is missing
    or not one token)."""

    benchmark: Series[str] = pa.Field(isin=["count", "filter", "compare", "arith", "twostep", "distractor"])
    item: Series[int] = pa.Field(ge=0)
    sample: Series[int] = pa.Field(ge=0)
    target: Series[str]
    response: Series[str]
    prediction_token: Series[int] = pa.Field(ge=-1)
    correct: Series[bool]


class CareWarmStartCurve(Curve):
    loss: Series[float] = pa.Field(ge=0.0)
    """Cross-entropy of the demonstrations' response tokens (nats per token)."""


PREDICTIONS = {"answers": PredictionTable(CareAnswers, ("benchmark", "item"), ("prediction_token",))}
CURVE = CareWarmStartCurve
