"""CLIP's symmetric contrastive (InfoNCE) loss, per pair, so that pairs can be weighted.

Radford et al. 2021 (arXiv 2103.00020, Fig. 3 pseudocode); open_clip's ``ClipLoss``:
with L2-normalised features fᵢ (image) and gᵢ (text) and logit scale s = exp(t),

    ℓᵢ = ½ [ −log softmax_j(s·fᵢ·gⱼ)ᵢ  −  log softmax_j(s·gᵢ·fⱼ)ᵢ ]     (image→text and text→image),
    L_CLIP = (1/N) Σᵢ ℓᵢ.

``weighted_clip_loss`` is Σᵢ wᵢ ℓᵢ; with uniform weights wᵢ = 1/N it is exactly L_CLIP (parity test against
``open_clip.loss.ClipLoss``), and group DRO (repro.methods.online_group_dro) is the special case wᵢ = q_{g(i)}/n_{g(i)}.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_logits(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """(N, N) image→text logits s·fᵢ·gⱼ (the text→image logits are the transpose). Features: (N, D), normalised."""
    return logit_scale * image_features @ text_features.T


def per_pair_clip_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """(N,) ℓᵢ, the mean of the image→text and text→image cross-entropies of pair i (in-batch negatives)."""
    logits = clip_logits(image_features, text_features, logit_scale)
    labels = torch.arange(logits.shape[0], device=logits.device)
    image_to_text = F.cross_entropy(logits, labels, reduction="none")
    text_to_image = F.cross_entropy(logits.T, labels, reduction="none")
    return (image_to_text + text_to_image) / 2


def weighted_clip_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Σᵢ wᵢ ℓᵢ; ``weights`` (N,) (default uniform 1/N, which is open_clip's ClipLoss)."""
    losses = per_pair_clip_loss(image_features, text_features, logit_scale)
    if weights is None:
        return losses.mean()
    return (weights * losses).sum()
