"""Trusted metrics of CARE's RL runs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.families.care_warm_start.metrics import CARE_TEST_ITEMS, MACRO_ACCURACY, benchmark_accuracy
from repro.metrics import Metric

PATH_BLOCKS = 8
"""Consecutive blocks of RL steps whose mean training reward the path-efficiency (smoothness) metric reads."""


def training_reward_auc(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Training efficiency: the mean over RL steps of the rollouts' verifier reward as sampled (percent), i.e.
    the area under the training-accuracy curve. Each step's prompts are fresh draws, so each point estimates
    the policy's accuracy at that step; a policy that learns sooner has a larger area."""
    return float(curve["reward_mean"].mean() * 100.0)


def training_reward_path_efficiency(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Training smoothness: the path efficiency of the training-reward curve, in [−1, 1].

    The steps are cut into PATH_BLOCKS consecutive blocks with mean rewards m_1..m_B; the metric is
    (m_B − m_1) / Σ_b |m_{b+1} − m_b|: 1 for a monotone rise, near 0 for oscillation without progress, −1 for a
    monotone fall (Kaufman's efficiency ratio). A curve that never moves makes no progress: 0.
    """
    rewards = curve["reward_mean"].to_numpy(dtype=float)
    blocks = np.array([b.mean() for b in np.array_split(rewards, min(PATH_BLOCKS, rewards.size))])
    travelled = float(np.abs(np.diff(blocks)).sum())
    return 0.0 if travelled == 0.0 else float((blocks[-1] - blocks[0]) / travelled)


def training_reward_trend(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Training smoothness as steady progress: Spearman's ρ between RL step and the step's training reward, in
    [−1, 1] — 1 when every step is at least as good as the one before, near 0 for a curve that oscillates without
    progress (for a stationary curve ρ has sd ≈ 1/√(steps − 1), a sixth of the 8-block path efficiency's on
    64 steps). A curve that never moves: 0."""
    rewards = curve["reward_mean"].to_numpy(dtype=float)
    ranks = pd.Series(rewards).rank().to_numpy()  # average ranks for ties, as Spearman's ρ defines them
    if rewards.size < 2 or np.ptp(ranks) == 0.0:
        return 0.0
    steps = np.arange(rewards.size, dtype=float)
    return float(np.corrcoef(steps, ranks)[0, 1])


def failure_signal_share(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of the learning signal that comes from failures: Σ|A| on rollouts the verifier failed as sampled
    (hard negatives, rescue pseudo-anchors) plus on RGR repairs of failures, over Σ|A| of all trained
    responses, pooled over steps. A run with no learning signal at all takes none from failures: 0."""
    total = float(curve["advantage_mass"].sum())
    from_failures = float(curve["advantage_mass_failed"].sum() + curve["advantage_mass_repaired"].sum())
    return 0.0 if total == 0.0 else from_failures / total


def zero_signal_group_fraction(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of prompt groups, over all RL steps, whose responses all have advantage 0 (no gradient)."""
    return float(curve["zero_signal_groups"].sum() / curve["groups"].sum())


def rgr_repair_success_rate(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Verified repairs per RGR attempt over training (0 when the run attempts no repair)."""
    attempts = float(curve["rgr_attempts"].sum())
    return 0.0 if attempts == 0.0 else float(curve["rgr_repairs"].sum()) / attempts


def rgr_extra_decode_fraction(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Extra decodes during training (RGR re-decodes) per sampled policy rollout."""
    return float(curve["extra_decodes"].sum() / curve["policy_decodes"].sum())


def train_seconds_per_step(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Median wall time of an RL step in seconds (machine- and load-dependent; compare runs of one session)."""
    return float(curve["step_seconds"].median())


def anchored_group_fraction(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (CARE's anchor): the share of prompt groups, over all RL steps, whose advantages came
    from an anchored subgroup (a positive anchor and at least one hard negative). Engaged: clearly above 0; GRPO
    and the untrained control anchor nothing: 0."""
    return float(curve["anchored_groups"].sum() / curve["groups"].sum())


def rescue_rate(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (CARE's all-negative rescue): rescued groups per all-negative group over training.
    Engaged: near 1 (CARE rescues every all-negative group of ≥ 2 rollouts); GRPO rescues none: 0. A run that
    never met an all-negative group had nothing to rescue: 0."""
    all_negative = float(curve["all_negative_groups"].sum())
    return 0.0 if all_negative == 0.0 else float(curve["rescued_groups"].sum()) / all_negative


def rgr_repaired_group_fraction(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (RGR): the share of prompt groups, over all RL steps, in which a verified repair
    replaced a failure. Engaged: clearly above 0; runs without RGR: 0."""
    return float(curve["rgr_repairs"].sum() / curve["groups"].sum())


# Resolutions: accuracies as in care_warm_start.metrics (CARE_TEST_ITEMS per benchmark). Training-curve metrics:
# ci trains 64 steps × 16 prompt groups = 1,024 groups; bounded ratios get 1% of their range.
CARE_TRAINING_GROUPS = 64 * 16

METRICS: dict[str, Metric] = {
    "macro_accuracy": MACRO_ACCURACY,
    **{
        f"accuracy_{b}": Metric(
            benchmark_accuracy(b),
            True,
            f"accuracy on the synthetic {b!r} benchmark, percent",
            resolution=100 / CARE_TEST_ITEMS,
        )
        for b in ("count", "filter", "compare", "arith", "twostep", "distractor")
    },
    "training_reward_auc": Metric(
        training_reward_auc,
        True,
        "mean training reward over RL steps (area under the curve), percent",
        resolution=100 / CARE_TRAINING_GROUPS,  # one prompt group's worth of the training draws
    ),
    "training_reward_path_efficiency": Metric(
        training_reward_path_efficiency,
        True,
        f"path efficiency of the training-reward curve ({PATH_BLOCKS} blocks)",
        resolution=0.02,  # 1% of [−1, 1]
    ),
    "training_reward_trend": Metric(
        training_reward_trend,
        True,
        "Spearman rank correlation of training reward with RL step (steady progress)",
        resolution=0.02,  # 1% of [−1, 1]
    ),
    "failure_signal_share": Metric(
        failure_signal_share, True, "share of advantage mass from failed rollouts", resolution=0.01
    ),
    "zero_signal_group_fraction": Metric(
        zero_signal_group_fraction,
        False,
        "share of prompt groups with no learning signal",
        resolution=1 / CARE_TRAINING_GROUPS,
    ),
    "rgr_repair_success_rate": Metric(
        rgr_repair_success_rate, True, "verified RGR repairs per attempt", resolution=0.01
    ),
    "rgr_extra_decode_fraction": Metric(
        rgr_extra_decode_fraction,
        False,
        "extra training decodes per policy rollout",
        resolution=0.01 / 8,  # at most one re-decode per group of G = 8: 1% of [0, 1/8]
    ),
    "train_seconds_per_step": Metric(
        train_seconds_per_step,
        False,
        "median RL step wall time, seconds",
        resolution=0.005,  # about 1% of a ci step (0.2–0.5 s on two CPU cores)
    ),
    "anchored_group_fraction": Metric(
        anchored_group_fraction,
        True,
        "share of prompt groups with an anchored CARE subgroup (mechanism diagnostic)",
        resolution=1 / CARE_TRAINING_GROUPS,
        mechanism=True,
    ),
    "rescue_rate": Metric(
        rescue_rate,
        True,
        "rescued groups per all-negative group (mechanism diagnostic)",
        resolution=0.01,
        mechanism=True,
    ),
    "rgr_repaired_group_fraction": Metric(
        rgr_repaired_group_fraction,
        True,
        "share of prompt groups with a failure replaced by a verified RGR repair (mechanism diagnostic)",
        resolution=1 / CARE_TRAINING_GROUPS,
        mechanism=True,
    ),
}
