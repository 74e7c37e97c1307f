"""Full-scale CARE on vision-language models (specified only)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from repro.families.care_warm_start.schemas import CareWarmStartCurve
from repro.tables import PredictionTable, Strict


class VlmBenchmarkAnswers(Strict):
    """Scored answers of a vision-language model on named benchmarks (full-scale CARE; specified only)."""

    benchmark: Series[str]
    item: Series[int] = pa.Field(ge=0)
    sample: Series[int] = pa.Field(ge=0)
    correct: Series[bool]


PREDICTIONS = {"answers": PredictionTable(VlmBenchmarkAnswers, ("benchmark", "item"), ("correct",))}
CURVE = CareWarmStartCurve
