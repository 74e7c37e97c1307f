"""GDRO (arXiv 2601.19280) tables: held-out samples, the per-step training log, the curve."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Curve, PredictionTable, Strict

GDRO_MAX_BINS = 10
"""Curves carry per-bin columns for up to 10 difficulty bins (the paper's B = 10; the code's 3/6-bin cases fit)."""


class GdroSamples(Strict):
    """Held-out evaluation: one row per (prompt, sample); its metrics module computes mean@k, pass@k and per-tier
    pass@k from it."""

    prompt_id: Series[int] = pa.Field(ge=0)
    uid: Series[str]
    tier: Series[int] = pa.Field(ge=0)
    sample: Series[int] = pa.Field(ge=0)
    correct: Series[bool]
    completion_length: Series[int] = pa.Field(ge=0)
    """Completion tokens up to and including EOS (all generated tokens if EOS never came)."""
    completion: Series[str]


class GdroTrainPrompts(Strict):
    """Training log: one row per (RL step, prompt) — the prompt's difficulty bin, the rollouts it received
    and the advantage multiplier applied to them (property checks read the realised budget from here)."""

    step: Series[int] = pa.Field(ge=0)
    uid: Series[str]
    tier: Series[int] = pa.Field(ge=0)
    bin: Series[int] = pa.Field(ge=0, lt=GDRO_MAX_BINS)
    """The bin the method acted on (allocation bin for Rollout-GDRO, g_t(x) otherwise)."""
    rollouts: Series[int] = pa.Field(ge=1)
    weight: Series[float] = pa.Field(ge=0.0)
    """Multiplier on the prompt's advantages (1 unless Prompt-GDRO)."""
    reward_mean: Series[float] = pa.Field(ge=-1.0, le=1.0)


class GdroCurve(Curve):
    """Per step: SFT loss for the warm start; reward, loss, KL, adversary state, rollout allocation and WSE for RL.
    Columns that do not apply to a run (RL columns of the warm start, bins that are empty) are null."""

    sft_loss: Series[float] = pa.Field(nullable=True)
    reward: Series[float] = pa.Field(nullable=True, ge=-1.0, le=1.0)
    loss: Series[float] = pa.Field(nullable=True)
    kl: Series[float] = pa.Field(nullable=True)
    adversary_signal: Series[float] = pa.Field(nullable=True)
    """Mean |ℓ(x_i)| of the step's prompt losses (Eq. 7): the scale of what the adversaries see."""
    mean_rollouts: Series[float] = pa.Field(nullable=True)
    min_rollouts: Series[float] = pa.Field(nullable=True)
    max_rollouts: Series[float] = pa.Field(nullable=True)
    mu: Series[float] = pa.Field(nullable=True)
    """Rollout-GDRO's shadow price (Eq. 21)."""
    wse: Series[float] = pa.Field(nullable=True)
    """Σ_b q̂(b) σ̂_b/√n_b (Eq. 33) under the realised allocation."""
    wse_uniform: Series[float] = pa.Field(nullable=True)
    """The same with n_b ≡ n̄ (the compute-matched uniform allocation)."""
    share_bin0: Series[float] = pa.Field(nullable=True)
    share_bin1: Series[float] = pa.Field(nullable=True)
    share_bin2: Series[float] = pa.Field(nullable=True)
    share_bin3: Series[float] = pa.Field(nullable=True)
    share_bin4: Series[float] = pa.Field(nullable=True)
    share_bin5: Series[float] = pa.Field(nullable=True)
    share_bin6: Series[float] = pa.Field(nullable=True)
    share_bin7: Series[float] = pa.Field(nullable=True)
    share_bin8: Series[float] = pa.Field(nullable=True)
    share_bin9: Series[float] = pa.Field(nullable=True)
    weight_bin0: Series[float] = pa.Field(nullable=True)
    weight_bin1: Series[float] = pa.Field(nullable=True)
    weight_bin2: Series[float] = pa.Field(nullable=True)
    weight_bin3: Series[float] = pa.Field(nullable=True)
    weight_bin4: Series[float] = pa.Field(nullable=True)
    weight_bin5: Series[float] = pa.Field(nullable=True)
    weight_bin6: Series[float] = pa.Field(nullable=True)
    weight_bin7: Series[float] = pa.Field(nullable=True)
    weight_bin8: Series[float] = pa.Field(nullable=True)
    weight_bin9: Series[float] = pa.Field(nullable=True)
    q_bin0: Series[float] = pa.Field(nullable=True)
    q_bin1: Series[float] = pa.Field(nullable=True)
    q_bin2: Series[float] = pa.Field(nullable=True)
    q_bin3: Series[float] = pa.Field(nullable=True)
    q_bin4: Series[float] = pa.Field(nullable=True)
    q_bin5: Series[float] = pa.Field(nullable=True)
    q_bin6: Series[float] = pa.Field(nullable=True)
    q_bin7: Series[float] = pa.Field(nullable=True)
    q_bin8: Series[float] = pa.Field(nullable=True)
    q_bin9: Series[float] = pa.Field(nullable=True)
    rollouts_bin0: Series[float] = pa.Field(nullable=True)
    rollouts_bin1: Series[float] = pa.Field(nullable=True)
    rollouts_bin2: Series[float] = pa.Field(nullable=True)
    rollouts_bin3: Series[float] = pa.Field(nullable=True)
    rollouts_bin4: Series[float] = pa.Field(nullable=True)
    rollouts_bin5: Series[float] = pa.Field(nullable=True)
    rollouts_bin6: Series[float] = pa.Field(nullable=True)
    rollouts_bin7: Series[float] = pa.Field(nullable=True)
    rollouts_bin8: Series[float] = pa.Field(nullable=True)
    rollouts_bin9: Series[float] = pa.Field(nullable=True)


PREDICTIONS = {
    "samples": PredictionTable(GdroSamples, ("prompt_id",), ("correct", "completion_length")),
    "train_prompts": PredictionTable(GdroTrainPrompts, ("step", "uid"), ("reward_mean",)),
}
CURVE = GdroCurve
