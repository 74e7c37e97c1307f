"""CARE RL runs: the warm start's answer table and a curve with CARE's bookkeeping."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from repro.families.care_warm_start.schemas import CareAnswers
from repro.tables import Curve, PredictionTable


class CareCurve(Curve):
    """One row per RL step. Masses are Σ|A_i| over the step's responses (response-level advantages after
    all scaling); "failed" rollouts are those the verifier scored 0 as sampled."""

    loss: Series[float]
    reward_mean: Series[float] = pa.Field(ge=0.0, le=1.0)
    """Mean verifier reward of the step's rollouts as sampled (before any RGR repair)."""
    kl: Series[float] = pa.Field(ge=0.0)
    groups: Series[int] = pa.Field(ge=0)
    all_negative_groups: Series[int] = pa.Field(ge=0)
    all_negative_signalled: Series[int] = pa.Field(ge=0)
    """All-negative groups with a nonzero advantage (never under GRPO; all of them under CARE's rescue)."""
    all_positive_groups: Series[int] = pa.Field(ge=0)
    zero_signal_groups: Series[int] = pa.Field(ge=0)
    rescued_groups: Series[int] = pa.Field(ge=0)
    """All-negative groups given CARE's rescue subgroup (pseudo-anchor and diverse negatives)."""
    anchored_groups: Series[int] = pa.Field(ge=0)
    """Groups with a positive whose advantages come from CARE's anchored subgroup (anchor and ≥ 1 hard negative);
    never under GRPO or the untrained control."""
    advantage_mass: Series[float] = pa.Field(ge=0.0)
    advantage_mass_failed: Series[float] = pa.Field(ge=0.0)
    """Σ|A| on failed rollouts kept in the batch (hard negatives, rescue pseudo-anchors)."""
    advantage_mass_repaired: Series[float] = pa.Field(ge=0.0)
    """Σ|A| on RGR repairs that replaced a failure."""
    rgr_attempts: Series[int] = pa.Field(ge=0)
    rgr_repairs: Series[int] = pa.Field(ge=0)
    policy_decodes: Series[int] = pa.Field(ge=0)
    """Rollouts sampled for the step (prompts × G)."""
    extra_decodes: Series[int] = pa.Field(ge=0)
    """Additional decodes for the step (RGR re-decodes)."""
    step_seconds: Series[float] = pa.Field(ge=0.0)
    rgr_seconds: Series[float] = pa.Field(ge=0.0)
    """Wall time of the step spent building, decoding and scoring RGR repairs."""

    @pa.dataframe_check
    def subgroups_within_groups(cls, df: pd.DataFrame) -> pd.Series:
        return df["anchored_groups"] + df["rescued_groups"] <= df["groups"]


PREDICTIONS = {"answers": PredictionTable(CareAnswers, ("benchmark", "item"), ("prediction_token",))}
CURVE = CareCurve
