"""How verdicts look wherever they are shown (cards, the HTML report, plots, ``repro status``): the colour of each
verdict and the formatting of numbers."""

from __future__ import annotations

import math

COLORS = {
    "verified": "#1a7f37",
    "falsified": "#cf222e",
    "inconclusive": "#9a6700",
    "invalid": "#8250df",
    "error": "#57606a",
    "not_run": "#6e7781",
    "not_testable": "#6e7781",
}


def fmt(x, digits: int = 4) -> str:
    """A number to ``digits`` significant digits; "–" for none (None or NaN); anything else as ``str``."""
    if x is None:
        return "–"
    if isinstance(x, float):
        if math.isnan(x):
            return "–"
        return f"{x:.{digits}g}"
    return str(x)
