"""Trusted metrics of CARE's supervised warm start, shared by the RL runs and the full-scale VLM family: accuracy
per benchmark and its macro mean, from the scored answer table."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from repro.metrics import Metric

# ci tests 100 items per benchmark (care_rlvr ``test_items_per_benchmark``; the item, not each of its 3 sampled
# answers, is the unit): 100/100 = 1 point per benchmark, 100/600 of a point for the macro mean over six.
CARE_TEST_ITEMS = 100


def _benchmark_accuracy(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Accuracy in percent per benchmark: the mean of ``correct`` over the benchmark's items and samples."""
    answers = tables["answers"]
    return answers.groupby("benchmark")["correct"].mean() * 100.0


def macro_accuracy(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Macro-averaged accuracy (percent): the unweighted mean of the per-benchmark accuracies (CARE's headline)."""
    return float(_benchmark_accuracy(tables).mean())


def benchmark_accuracy(benchmark: str) -> Callable[[dict[str, pd.DataFrame], pd.DataFrame], float]:
    """The accuracy (percent) on one benchmark; NaN (a metrics error) when the run has no such benchmark."""

    def fn(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
        return float(_benchmark_accuracy(tables).get(benchmark, float("nan")))

    fn.__doc__ = f"Accuracy (percent) on benchmark {benchmark!r}."
    return fn


MACRO_ACCURACY = Metric(
    macro_accuracy,
    True,
    "macro-averaged accuracy over the benchmarks, percent",
    resolution=100 / (6 * CARE_TEST_ITEMS),
)

METRICS: dict[str, Metric] = {"macro_accuracy": MACRO_ACCURACY}
