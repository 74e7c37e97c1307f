"""Robust training in a text encoder's embedding space (Huang et al., EMNLP 2021, arXiv 2104.08645).

The paper trains mBERT / XLM-R to tolerate noise in its input so that the imperfectly aligned embeddings of a
target language look like tolerated noise around English. Two families of methods (its abstract):

- **Adversarial training** (Madry et al. 2018's min–max, in the word-embedding space as FreeLB / Zhu et al. 2020):
  ``pgd_embedding_perturbation`` finds δ with ‖δ_t‖ ≤ ε·‖e_t‖ for every perturbed token t (a radius relative
  to the token's own embedding norm, so that ε means the same at every scale) by ``steps`` normalised-gradient
  ascent steps from δ = 0, each projected back onto the ball. The paper's PDF (norm, ε, steps, loss mix) was not
  retrievable here; the official code implements only the data-augmentation method (reference/papers.md §4.3).
- **Randomized smoothing** (Cohen et al. 2019), trained on noisy inputs: with random perturbations
  (``gaussian_embedding_noise``: isotropic Gaussian noise of RMS σ·‖e_t‖/√d per coordinate, so its expected norm
  is about σ·‖e_t‖), or with data augmentation (``repro.tasks.xling_pairs.substitute``: the official code's
  synonym-neighbour substitution).

The contrastive alignment objective of seed 001's question is ``info_nce``: CLIP's symmetric InfoNCE loss
(``repro.methods.contrastive``) between two views' pooled sentence representations, at temperature τ.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from repro.methods.contrastive import per_pair_clip_loss


def _token_norms(x: torch.Tensor) -> torch.Tensor:
    return x.norm(dim=-1, keepdim=True)


def pgd_embedding_perturbation(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    embeds: torch.Tensor,
    mask: torch.Tensor,
    epsilon: float,
    steps: int,
    step_size: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """δ (same shape as ``embeds`` (n, T, d)) approximately maximising ``loss_fn(embeds + δ)`` (a scalar) subject
    to ‖δ_t‖ ≤ ε·‖e_t‖ on tokens where ``mask`` (n, T) is true, 0 elsewhere. Each of ``steps`` steps moves every
    token by ``step_size``·‖e_t‖ (default ε/steps·2, capped by the projection) along its gradient's direction, then
    projects. Returns (δ detached, the loss at embeds + δ, detached). ``embeds`` is treated as a constant."""
    if epsilon < 0 or steps < 1:
        raise ValueError("need epsilon >= 0 and steps >= 1")
    base = embeds.detach()
    radius = epsilon * _token_norms(base) * mask[..., None]
    alpha = (step_size if step_size is not None else 2.0 * epsilon / steps) * _token_norms(base) * mask[..., None]
    delta = torch.zeros_like(base)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = loss_fn(base + delta)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            direction = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            delta = delta + alpha * direction
            scale = (radius / delta.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
            delta = delta * scale
    with torch.no_grad():
        final = loss_fn(base + delta)
    return delta.detach(), final.detach()


def perturbation_ratio(delta: torch.Tensor, embeds: torch.Tensor, mask: torch.Tensor, epsilon: float) -> float:
    """Mean over perturbed tokens of ‖δ_t‖ / (ε·‖e_t‖): 1 when every token's perturbation reaches its budget,
    0 when none is applied."""
    if epsilon == 0 or not mask.any():
        return 0.0
    ratio = delta.norm(dim=-1) / (epsilon * embeds.detach().norm(dim=-1)).clamp_min(1e-12)
    return float(ratio[mask].mean())


def gaussian_embedding_noise(
    embeds: torch.Tensor, mask: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Noise for randomized smoothing: N(0, (σ·‖e_t‖/√d)²) per coordinate on tokens where ``mask`` is true."""
    d = embeds.shape[-1]
    scale = sigma * _token_norms(embeds.detach()) / d**0.5 * mask[..., None]
    return torch.randn(embeds.shape, generator=generator, dtype=embeds.dtype) * scale


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between views ``a`` and ``b`` (n, d), pair i positive, the batch's other items negative:
    CLIP's loss on L2-normalised features with logit scale 1/τ (equal to open_clip's ``ClipLoss`` there).
    Chance level (features carrying no information): log n."""
    scale = torch.tensor(1.0 / temperature, dtype=a.dtype)
    return per_pair_clip_loss(F.normalize(a, dim=-1), F.normalize(b, dim=-1), scale).mean()
