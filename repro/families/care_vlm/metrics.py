"""Metrics of full-scale CARE on vision-language models (specified only): macro accuracy and the two public
benchmarks. MathVista testmini has 1,000 items, MMMU-Pro standard 1,730. No mechanism diagnostic: its curve carries
no CARE bookkeeping."""

from __future__ import annotations

from repro.families.care_warm_start.metrics import MACRO_ACCURACY, benchmark_accuracy
from repro.metrics import Metric

METRICS: dict[str, Metric] = {
    "macro_accuracy": MACRO_ACCURACY,
    "mathvista_accuracy": Metric(
        benchmark_accuracy("mathvista"), True, "MathVista accuracy, percent", resolution=100 / 1000
    ),
    "mmmu_pro_standard_accuracy": Metric(
        benchmark_accuracy("mmmu_pro_standard"),
        True,
        "MMMU-Pro (standard) accuracy, percent",
        resolution=100 / 1730,
    ),
}
