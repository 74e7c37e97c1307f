"""Tables of the multilingual masked-LM pre-training run."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Curve, PredictionTable, Strict


class MaskedTokens(Strict):
    """One masked word per held-out pair of each language: a word of the second sentence (which restates the first,
    in independently drawn forms), masked, and the model's most likely token for it."""

    language: Series[str]
    item: Series[int] = pa.Field(ge=0)
    position: Series[int] = pa.Field(ge=0)
    target: Series[int] = pa.Field(ge=0)
    prediction: Series[int] = pa.Field(ge=0)


class MlmCurve(Curve):
    loss: Series[float] = pa.Field(ge=0.0)
    """Masked-LM cross-entropy (nats per masked token)."""


PREDICTIONS = {"masked": PredictionTable(MaskedTokens, ("language", "item"), ("prediction",))}
CURVE = MlmCurve
