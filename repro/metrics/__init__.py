"""What a trusted metric is; the metrics themselves live with their family (``repro/families/<name>/metrics.py``).

Experiments never compute their headline metrics (docs/design.md §4): they write per-item predictions
and a training curve; a family's ``METRICS`` dict turns those into numbers, and :mod:`repro.metrics.scoring` is
the harness that runs them on a run's files. Each metric declares its direction and its resolution, which the
verdict's negative-control gate uses. Estimators more than one family uses are in :mod:`repro.metrics.estimators`.

Mechanism diagnostics are metrics too, marked ``mechanism=True``: they show whether a method's mechanism engaged
at this scale (e.g. how far group DRO's weights moved from uniform).
They are computed for every arm; an arm without the mechanism gets the "not engaged" value (0 divergence, a ratio
of 1), so a treatment that only pretends to run its method fails the claim's ``mechanism`` check.

Signature of a metric: ``fn(tables, curve) -> float`` where ``tables`` maps a family's prediction
table names to validated DataFrames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Metric:
    fn: Callable[[dict[str, pd.DataFrame], pd.DataFrame], float]
    higher_is_better: bool
    description: str
    resolution: float
    """The smallest difference between two arms' means, in the metric's own units, that its evaluation can honestly
    resolve (what the negative-control gate requires a gap to exceed). Sampled metrics: at least one evaluation
    item's worth at the ci scale's evaluation-set size (pass@8 over N prompts: 1/N); exact or continuous metrics
    (expected utility over a known distribution, KL): about 1% of the metric's natural range."""

    mechanism: bool = False
    """A mechanism diagnostic: a claim's ``mechanism`` block may name it (its docstring says what value means
    "engaged")."""

    def __post_init__(self) -> None:
        if not self.resolution > 0:
            raise ValueError(f"a metric's resolution must be positive, not {self.resolution!r}")


@dataclass(frozen=True)
class Profile:
    """A per-run curve family for review plots: ``fn(tables, curve)`` returns rows (panel, x, y)."""

    fn: Callable[[dict[str, pd.DataFrame], pd.DataFrame], pd.DataFrame]
    x_label: str
    y_label: str
    """Review profiles are computed with the metrics, stored in metrics.json, averaged per arm by the verdict and
    drawn on its plot."""


class MetricsError(RuntimeError):
    """The run's artifacts cannot be scored (failed run, missing or tampered table, schema failure)."""
