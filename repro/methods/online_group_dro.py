"""Online group DRO (Sagawa, Koh, Hashimoto & Liang 2020, arXiv 1911.08731, Algorithm 1, with their group
adjustments C/√n_g) over fixed, labelled groups. Not the RL post-training method GDRO of arXiv 2601.19280, whose
groups are online difficulty bins: that is :mod:`repro.methods.difficulty_gdro`.

Minimise the worst expected loss over G groups, max_q Σ_g q_g ℓ_g(θ), by alternating, on each minibatch,

    q_g ← q_g · exp(η_q · (ℓ_g + C/√n_g)),   q ← q / Σ_g q_g          (exponentiated-gradient ascent on q),
    θ ← θ − η_θ ∇_θ Σ_g q_g ℓ_g                                           (descent on the q-weighted loss),

where ℓ_g is the minibatch mean loss of group g (0 for a group absent from the batch, as in the official
code, ``compute_group_avg``), n_g the group's training-set size and C ≥ 0 the generalisation adjustment that
favours small groups. Sagawa et al. stress that group DRO only helps worst-group *test* performance with
strong regularisation (a stronger-than-typical ℓ2 penalty or early stopping): that is the caller's optimiser
setting, applied equally to every arm. Official defaults: η_q = 0.01 (``--robust_step_size``), C ∈ {0,…,5}
tuned on validation (``--generalization_adjustment``).
"""

from __future__ import annotations

import torch


def group_means(losses: torch.Tensor, groups: torch.Tensor, n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group mean loss and count in a minibatch. losses: (N,), groups: (N,) int in [0, G). Returns (G,), (G,)."""
    one_hot = (groups[None, :] == torch.arange(n_groups, device=groups.device)[:, None]).to(losses.dtype)
    counts = one_hot.sum(dim=1)
    return (one_hot @ losses) / counts.clamp(min=1), counts


def update_group_weights(
    q: torch.Tensor, group_loss: torch.Tensor, step_size: float, adjustment: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """One exponentiated-gradient step on q (G,) given minibatch group losses (G,); ``adjustment`` = C/√n_g."""
    q = q * torch.exp(step_size * (group_loss.detach() + adjustment))
    return q / q.sum()


def robust_loss(group_loss: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Σ_g q_g ℓ_g, differentiable in the losses (q is a constant here)."""
    return group_loss @ q.detach()
