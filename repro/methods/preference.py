"""Offline preference-optimisation losses: DPO and MallowsPO-θ, and the entropy dispersion estimate.

References
- DPO: Rafailov et al. 2023, arXiv 2305.18290, Eq. 7:
  L_DPO = −E log σ(β log π(y_w|x)/π_ref(y_w|x) − β log π(y_l|x)/π_ref(y_l|x)).
- MallowsPO-θ: Chen et al. 2024, arXiv 2405.14953 (Mallows-θ objective; survey Eq. 53; official code
  ``mallows_dpo`` in haoxian-chen/MallowsPO ``mallowsPO_trainer.py``):
  L_θ = −E log σ(c(x) · [β log π(y_w|x)/π_ref(y_w|x) − β log π(y_l|x)/π_ref(y_l|x)]),
  c(x) = −log ϕ(x), the neg-log dispersion of the prompt's preferences. DPO is the special case
  c(x) ≡ 1 (ϕ ≡ e⁻¹); any other constant c is DPO with β' = c·β.
- Dispersion estimate (official code): H̄(x) = mean per-token entropy of π_ref normalised by log|V|,
  c(x) = −ϕ*·log H̄(x) with ϕ* = ``neg_log_dispersion_mean`` (0.29 by default).
- With one free log-ratio h(a) = log π(a|x)/π_ref(a|x) per action (a tabular policy), both losses are a
  Bradley–Terry negative log-likelihood in k·h (k = β for DPO, c(x)·β for MallowsPO-θ); its finite minimiser
  exists iff each context's win graph is strongly connected (:func:`finite_optimum_exists`), and is then
  h = ŝ/k + const with ŝ the context's Bradley–Terry MLE.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def dpo_loss(
    chosen_logratios: torch.Tensor, rejected_logratios: torch.Tensor, beta: float | torch.Tensor
) -> torch.Tensor:
    """Per-pair DPO sigmoid loss (Rafailov et al. 2023, Eq. 7).

    chosen_logratios, rejected_logratios: (..., N) log π(y|x) − log π_ref(y|x) summed over the response.
    beta: a float or a tensor broadcastable to (..., N) (e.g. (B, 1) for a β sweep).
    Returns (..., N) losses.
    """
    return -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))


def mallows_theta_loss(
    chosen_logratios: torch.Tensor,
    rejected_logratios: torch.Tensor,
    beta: float | torch.Tensor,
    neg_log_dispersion: torch.Tensor,
) -> torch.Tensor:
    """Per-pair MallowsPO-θ loss (Chen et al. 2024, Mallows-θ objective; code ``mallows_dpo``).

    neg_log_dispersion: (N,) c(x) = −log ϕ(x) for each pair's prompt, c > 0.
    Returns (..., N) losses: −log σ(c(x)·β·(chosen_logratios − rejected_logratios)).
    """
    return -F.logsigmoid(neg_log_dispersion * beta * (chosen_logratios - rejected_logratios))


def preference_loss(
    variant: str,
    chosen_logratios: torch.Tensor,
    rejected_logratios: torch.Tensor,
    beta: float | torch.Tensor,
    neg_log_dispersion: torch.Tensor | None = None,
) -> torch.Tensor:
    """Named loss variants; each branch cites its equation."""
    if variant == "dpo":
        # Rafailov et al. 2023, Eq. 7.
        return dpo_loss(chosen_logratios, rejected_logratios, beta)
    elif variant == "mallows_theta":
        # Chen et al. 2024, MallowsPO-θ: dispersion-weighted DPO.
        if neg_log_dispersion is None:
            raise ValueError("mallows_theta needs neg_log_dispersion c(x)")
        return mallows_theta_loss(chosen_logratios, rejected_logratios, beta, neg_log_dispersion)
    else:
        raise ValueError(f"unknown preference loss {variant!r}")


def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """H(p)/log K for each row of probs (..., K); in [0, 1]."""
    k = probs.shape[-1]
    logs = torch.where(probs > 0, probs.log(), torch.zeros_like(probs))
    return -(probs * logs).sum(-1) / math.log(k)


def entropy_dispersion(reference_probs: torch.Tensor, phi_star: float = 0.29, floor: float = 1e-6) -> torch.Tensor:
    """MallowsPO's dispersion estimate from the reference model's entropy (official code).

    reference_probs: (C, K) next-token distributions of π_ref (one step per context in a bandit).
    Returns (C,) ĉ(x) = −ϕ*·log H̄(x), H̄ the entropy normalised by log K, clamped to [floor, 1 − floor]
    so that a one-hot or uniform reference gives a finite, positive estimate.
    """
    h = normalized_entropy(reference_probs).clamp(floor, 1 - floor)
    return -phi_star * torch.log(h)


def finite_optimum_exists(wins: np.ndarray) -> np.ndarray:
    """Whether each context's empirical DPO / MallowsPO-θ loss has a finite minimiser in a tabular policy.

    wins: (C, K, K) label counts, ``wins[x, a, b]`` = labels preferring a over b in context x. Returns (C,) bool.
    The loss Σ wins[a, b]·(−log σ(k·(h_a − h_b))) is a Bradley–Terry likelihood in k·h; it has a finite
    minimiser iff the directed graph a → b (a beat b at least once) is strongly connected (Zermelo 1929;
    Ford 1957; Hunter 2004, Assumption 1). Otherwise some set of actions never loses to the rest, and the loss
    keeps falling as their log-ratios grow without bound (a separable fit: no β gives a finite optimum).
    """
    k = wins.shape[-1]
    reach = (wins > 0) | np.eye(k, dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(k))))):  # paths of length up to 2^i after i squarings
        reach = np.einsum("xab,xbc->xac", reach.astype(np.int64), reach.astype(np.int64)) > 0
    return reach.all(axis=(1, 2))
