"""Calibration property for the verdict machinery: (a + b)² = a² + 2ab + b².

``plant`` switches to a false identity ((a + b)² = a² + b², expected: falsified) or to a stub that
returns the same trivial instance every time (expected: invalid).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from repro.properties import PropertyCheck, rows


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    plant: Literal["none", "false_identity", "trivial_instances"] = "none"


def measure(params: Params, instances: int, rng: np.random.Generator, runs: list) -> pd.DataFrame:
    a, b = rng.normal(size=instances), rng.normal(size=instances)
    if params.plant == "trivial_instances":
        a, b = np.zeros(instances), np.zeros(instances)
    rhs = a**2 + b**2 if params.plant == "false_identity" else a**2 + 2 * a * b + b**2
    main = rows((a + b) ** 2, rhs, control=False)
    ca, cb = rng.uniform(1, 2, 8), rng.uniform(1, 2, 8)
    controls = rows((ca + cb) ** 2, ca**2 + cb**2, control=True, start=instances)
    return pd.concat([main, controls], ignore_index=True)


PLANTED_IDENTITY = PropertyCheck(params=Params, measure=measure, equation="(a + b)² = a² + 2ab + b²")
