"""GRPO: group-normalised advantages, the clipped surrogate, the KL penalty and the per-response loss.

The one GRPO implementation in repro; Prompt-GDRO, Rollout-GDRO and CARE build on it.

References
- Shao et al. 2024 (DeepSeekMath, arXiv 2402.03300): GRPO.
- Panaganti et al. 2026 (GDRO, arXiv 2601.19280v1) §2, as used by its claims:
  Eq. 3  A_{i,j} = (r_{i,j} − μ_i)/(σ_i + ε), μ_i, σ_i the mean and *population* std of prompt i's n rewards;
  Eq. 4–5  ρ_{i,j,t} = π_θ(y_t|·)/π_old(y_t|·), J^CLIP_{i,j} = (1/L_{i,j}) Σ_t min(ρA, clip(ρ, 1−ε_low, 1+ε_high)A);
  Eq. 6  ℓ_{i,j} = −J^CLIP_{i,j} + β_KL · D_KL(π_θ ‖ π_ref);   Eq. 7  ℓ(x_i) = (1/n) Σ_j ℓ_{i,j};
  App. A: ε_low = 0.2, ε_high = 0.28, β_KL = 0.001, advantages clipped to [−5, 5].
- KL estimator: k3 = exp(log π_ref − log π) − (log π_ref − log π) − 1 per token (Schulman 2020), the
  estimator of TRL's GRPOTrainer and verl's ``low_var_kl`` (which additionally clamps it to [−10, 10]).
- TRL's GRPOTrainer (``scale_rewards="group"``, ``loss_type="grpo"``) is the special case
  ``std="sample", eps=1e-4``, no advantage clipping, ``aggregation="sequence_mean"`` (tests/test_grpo.py).
"""

from __future__ import annotations

import torch


def group_advantages(rewards: torch.Tensor, std: str = "population", eps: float = 1e-6) -> torch.Tensor:
    """Group-normalised advantages (GDRO Eq. 3).

    rewards: (P, G) — P prompts × G rollouts. ``std``: "population" (the paper) or "sample" (Bessel-corrected,
    TRL's). Returns (P, G). Groups whose rewards are all equal get advantage 0.
    """
    if rewards.dim() != 2:
        raise ValueError("rewards must be (prompts, rollouts)")
    mean = rewards.mean(dim=1, keepdim=True)
    if std == "population":
        sd = rewards.std(dim=1, unbiased=False, keepdim=True)
    elif std == "sample":
        sd = rewards.std(dim=1, unbiased=True, keepdim=True)
    else:
        raise ValueError(f"unknown std {std!r}")
    return (rewards - mean) / (sd + eps)


def clip_advantages(advantages: torch.Tensor, bound: float = 5.0) -> torch.Tensor:
    """Advantage clipping to [−bound, bound] (GDRO App. A: [−5, 5])."""
    return advantages.clamp(-bound, bound)


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(π_θ ‖ π_ref): exp(Δ) − Δ − 1 with Δ = log π_ref − log π_θ (≥ 0)."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def clipped_surrogate(
    logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, eps_low: float = 0.2, eps_high: float = 0.28
) -> torch.Tensor:
    """Per-token clipped objective min(ρA, clip(ρ, 1 − ε_low, 1 + ε_high)A) (GDRO Eqs. 4–5; DAPO's clip-higher).

    logp, old_logp: (B, T) per-token log-probabilities under π_θ and π_old.
    advantages: (B,) per response or (B, T) per token (CARE's region-weighted advantages).
    Returns (B, T) (to be maximised).
    """
    if advantages.dim() == 1:
        advantages = advantages[:, None]
    ratio = torch.exp(logp - old_logp)
    return torch.minimum(ratio * advantages, ratio.clamp(1 - eps_low, 1 + eps_high) * advantages)


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    beta_kl: float = 0.001,
    aggregation: str = "sequence_mean",
) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO loss and per-response losses ℓ_{i,j} (GDRO Eq. 6).

    logp, old_logp, ref_logp: (B, T); mask: (B, T) 1 on completion tokens; advantages: (B,) or (B, T).
    ``aggregation``: "sequence_mean" — each response's token mean, then the mean over responses (Eqs. 6–7; TRL's
    ``loss_type="grpo"``); "token_mean" — all tokens of the batch weighted equally (DAPO; verl's token-mean).
    Returns (scalar loss, (B,) per-response losses). ``ref_logp`` may be None when ``beta_kl`` is 0.
    """
    per_token = -clipped_surrogate(logp, old_logp, advantages, eps_low=eps_low, eps_high=eps_high)
    if beta_kl != 0.0:
        if ref_logp is None:
            raise ValueError("beta_kl > 0 needs ref_logp")
        per_token = per_token + beta_kl * kl_k3(logp, ref_logp)
    mask = mask.to(per_token.dtype)
    lengths = mask.sum(dim=1).clamp(min=1.0)
    per_response = (per_token * mask).sum(dim=1) / lengths
    if aggregation == "sequence_mean":
        loss = per_response.mean()
    elif aggregation == "token_mean":
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    return loss, per_response


def ragged_group_advantages(
    rewards: torch.Tensor, group: torch.Tensor, n_groups: int, std: str = "population", eps: float = 1e-6
) -> torch.Tensor:
    """Eq. 3 for groups of unequal size (Rollout-GDRO gives each prompt its own rollout count n_b).

    rewards: (R,) one per rollout; group: (R,) int64 prompt index in [0, n_groups). Returns (R,), equal to
    :func:`group_advantages` applied to each group separately. ``std="sample"`` needs every group of size ≥ 2.
    """
    counts = torch.bincount(group, minlength=n_groups).to(rewards.dtype)
    mean = torch.zeros(n_groups, dtype=rewards.dtype).index_add_(0, group, rewards) / counts
    centered = rewards - mean[group]
    sq = torch.zeros(n_groups, dtype=rewards.dtype).index_add_(0, group, centered**2)
    if std == "population":
        sd = torch.sqrt(sq / counts)
    elif std == "sample":
        sd = torch.sqrt(sq / (counts - 1))
    else:
        raise ValueError(f"unknown std {std!r}")
    return centered / (sd[group] + eps)
