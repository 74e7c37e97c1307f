"""Trusted metrics of GDRO for RLVR: mean@8, pass@8, per-tier pass@8 and the mechanism diagnostics."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import pandas as pd

from repro.families.gdro_rlvr.schemas import GDRO_MAX_BINS
from repro.metrics import Metric
from repro.metrics.estimators import pass_at_k

# ------------------------------------------------------------------ pass@k / mean@k (GDRO, arXiv 2601.19280)

GDRO_K = 8
"""k of mean@k and pass@k (GDRO §5: "each prompt is evaluated with 8 sampled completions")."""


_LAST: list = [None, None]
"""The last samples table scored (a weak reference) and its per-prompt frame: a run's metrics all score one table."""


def _per_prompt(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per held-out prompt: its tier, sample count n, correct count c and unbiased pass@k (a copy: callers may
    change it)."""
    samples = tables["samples"]
    if _LAST[0] is None or _LAST[0]() is not samples:
        grouped = samples.groupby("prompt_id").agg(tier=("tier", "first"), n=("correct", "size"), c=("correct", "sum"))
        per = grouped.assign(pass_k=pass_at_k(grouped["n"].to_numpy(), grouped["c"].to_numpy(), GDRO_K))
        _LAST[:] = [weakref.ref(samples), per]
    return _LAST[1].copy()


def mean_at_8(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """mean@8: the share of correct samples, averaged over prompts (each prompt has 8 samples)."""
    per = _per_prompt(tables)
    return float((per["c"] / per["n"]).mean())


def pass_at_8(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """pass@8 (unbiased estimator), averaged over the held-out prompts."""
    return float(_per_prompt(tables)["pass_k"].mean())


def worst_tier_pass_at_8(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """The lowest per-tier pass@8 (worst-group robustness, the GDRO objective's target)."""
    return float(_per_prompt(tables).groupby("tier")["pass_k"].mean().min())


def _tier_pass_at_8(tier: int) -> Callable[[dict[str, pd.DataFrame], pd.DataFrame], float]:
    def metric(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
        per = _per_prompt(tables)
        if tier not in set(per["tier"]):
            raise ValueError(f"no held-out prompts of tier {tier}")
        return float(per.loc[per["tier"] == tier, "pass_k"].mean())

    metric.__doc__ = f"pass@8 over the held-out prompts of difficulty tier {tier}."
    return metric


GDRO_TIERS = 6
"""Per-tier pass@8 metrics are registered for tiers 0 … 5 (the gdro_rlvr task's six tiers)."""


def _reallocation_tv(curve: pd.DataFrame, per_bin: str) -> float:
    """Mean over RL steps of the total-variation distance between the bins' shares of the step's training signal
    and their shares of its prompts: ½ Σ_b |s_b·v_b / Σ_c s_c·v_c − s_b|, with s_b the bin's prompt share
    (``share_bin{b}``) and v_b what each of its prompts received (``{per_bin}_bin{b}``: advantage multiplier or
    rollouts). 0 when every prompt receives the same (GRPO's uniform treatment); the share of the signal the
    adversary moved across bins otherwise. Warm-start rows (no RL, ``reward`` null) are not steps; a run without
    RL steps moved nothing: 0."""
    steps = curve[curve["reward"].notna()]
    if steps.empty:
        return 0.0
    share = np.nan_to_num(steps[[f"share_bin{b}" for b in range(GDRO_MAX_BINS)]].to_numpy(dtype=float))
    value = steps[[f"{per_bin}_bin{b}" for b in range(GDRO_MAX_BINS)]].to_numpy(dtype=float)
    mass = np.where(share > 0, share * value, 0.0)
    signal = mass / mass.sum(axis=1, keepdims=True)
    return float((0.5 * np.abs(signal - share).sum(axis=1)).mean())


def advantage_weight_tv_from_uniform(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (Prompt-GDRO, §3.2): how far the bin weights applied to the advantages (Eq. 16) moved
    the learning signal away from GRPO's equal weight per prompt, as a total-variation distance in [0, 1), mean over
    RL steps (see ``_reallocation_tv``). Engaged: clearly above 0; exactly 0 for GRPO and Rollout-GDRO (every
    multiplier 1) and for a step whose prompts share one bin."""
    return _reallocation_tv(curve, "weight")


def rollout_budget_tv_from_uniform(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (Rollout-GDRO, §3.3): how far the rollout allocation moved the step's rollout budget
    away from n̄ per prompt, as a total-variation distance in [0, 1), mean over RL steps (see ``_reallocation_tv``).
    Engaged: clearly above 0; exactly 0 for GRPO and Prompt-GDRO (n̄ rollouts for every prompt)."""
    return _reallocation_tv(curve, "rollouts")


# Resolutions: ci evaluates 6 tiers × 64 held-out prompts (gdro_rlvr ``eval_per_tier``); a prompt is the
# evaluation item (its 8 samples are not independent), so 1/384 overall and 1/64 per tier. The diagnostics are
# total-variation distances on [0, 1]: 1% of the range.
METRICS: dict[str, Metric] = {
    "pass_at_8": Metric(pass_at_8, True, "pass@8 (unbiased estimator) over held-out prompts", resolution=1 / (6 * 64)),
    "mean_at_8": Metric(mean_at_8, True, "mean@8: share of correct samples (8 per prompt)", resolution=1 / (6 * 64)),
    "worst_tier_pass_at_8": Metric(worst_tier_pass_at_8, True, "lowest per-tier pass@8", resolution=1 / 64),
    **{
        f"pass_at_8_tier{t}": Metric(_tier_pass_at_8(t), True, f"pass@8 on difficulty tier {t}", resolution=1 / 64)
        for t in range(GDRO_TIERS)
    },
    "advantage_weight_tv_from_uniform": Metric(
        advantage_weight_tv_from_uniform,
        True,
        "TV distance of Prompt-GDRO's advantage weighting from equal weights per prompt (mechanism diagnostic)",
        resolution=0.01,
        mechanism=True,
    ),
    "rollout_budget_tv_from_uniform": Metric(
        rollout_budget_tv_from_uniform,
        True,
        "TV distance of Rollout-GDRO's rollout allocation from n̄ per prompt (mechanism diagnostic)",
        resolution=0.01,
        mechanism=True,
    ),
}
