"""AlpacaEval 2 metrics (specified only)."""

from __future__ import annotations

import pandas as pd

from repro.metrics import Metric


def lc_win_rate(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """AlpacaEval 2's length-controlled win rate (Dubois et al. 2024): a GLM of the judge's preferences with a
    length term, read with the length term at zero. Not implemented: no run in repro produces judgements."""
    raise NotImplementedError("LC win rate needs AlpacaEval 2's GLM over external-judge preferences")


# AlpacaEval 2 has 805 instructions. No mechanism diagnostic: the family has no run, so no curve to read one from.
METRICS: dict[str, Metric] = {
    "lc_win_rate": Metric(lc_win_rate, True, "AlpacaEval 2 length-controlled win rate, %", resolution=100 / 805),
}
