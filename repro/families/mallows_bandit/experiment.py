"""Synthetic contextual-bandit selection with Mallows preference dispersion (MallowsPO, arXiv 2405.14953).

The paper's abstract: MallowsPO enhances DPO "from synthetic bandit selection to controllable
generation and dialogues". Its bandit's exact dimensions could not be retrieved
(reference/papers.md §2.4), so this family is faithful in spirit, and every deviation is a
parameter:

- C contexts × K actions; each context has a central ranking (its true utility: 1 for the best
  action down to 0) and its own dispersion ϕ(x) ~ U(ϕ_low, ϕ_high).
- Every unordered action pair of every context is labelled by ``labels_per_pair`` fresh annotators, each
  drawing a full ranking from Mallows(σ₀(x), ϕ(x)) with Kendall distance; held-out pairs likewise.
  Enough labels per pair that each context's win graph is strongly connected, so that each β's loss has a
  finite minimiser (:func:`repro.methods.preference.finite_optimum_exists`; the policy table records it).
- The reference policy is an "SFT" fit: the Laplace-smoothed distribution of D demonstrating
  annotators' top choices. Its entropy is what MallowsPO's dispersion estimate reads.
- A tabular policy (one logit per β × context × action, initialised at log π_ref) minimises DPO or
  MallowsPO-θ — c(x) from the oracle −log ϕ(x) or the entropy estimate — on the full data set, once per β
  of a sweep, by damped Newton per (β, context) block to a gradient-norm tolerance. The loss is convex in the
  logits, so the run reads each β's optimum, not an optimiser's transient; Newton also keeps the c(x)-scale of
  each context's loss (Adam's per-coordinate normalisation made the first update of every arm the same).
  Each label enters the loss once (labels of one pair summed), exactly the paper's loss: no term is added.
- Methods are compared on the utility–KL frontier traced by the β sweep rather than at one β, where they
  would differ mostly in effective temperature.
- ``dispersion_normalization: mean_one`` rescales c(x) to mean 1 over contexts, so that DPO
  (c ≡ 1) and MallowsPO-θ spend the same average β and differ only in how they distribute it
  (the paper's scalar ϕ* plays this role for the entropy estimate).
- Negative control: ``shuffle_labels`` replaces every label by a coin flip.

The run writes the learned policy per (β, context, action) with the final gradient of the loss, and the
policies' log-probability margins on the held-out pairs; :mod:`repro.families.mallows_bandit.metrics` scores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from repro.tasks.mallows import make_preference_bandit

NOT_IMPLEMENTED = None

BETA_SWEEP = tuple(round(0.05 * 2 ** (i / 4), 6) for i in range(41))
"""0.05 … 51.2 in steps of 2^¼: the frontier between two swept β is then straight to about 2e-4 utility (pilot)."""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    loss: Literal["dpo", "mallows_theta"] = "dpo"
    """Preference loss: DPO (Rafailov et al. 2023, Eq. 7) or MallowsPO-θ (Chen et al. 2024)."""
    dispersion: Literal["none", "oracle", "entropy"] = "none"
    """c(x) for MallowsPO-θ: oracle −log ϕ(x), or −ϕ*·log H̄(π_ref) (official code's estimate)."""
    dispersion_normalization: Literal["mean_one", "none"] = "mean_one"
    """Rescale c(x) to mean 1 over contexts (equal average β across arms), or use it raw."""
    phi_star: float = Field(0.29, gt=0)
    """ϕ*, the estimate's scale (official code default ``neg_log_dispersion_mean`` = 0.29)."""
    betas: tuple[float, ...] = Field(BETA_SWEEP, min_length=2)
    """KL strengths β swept (one independent policy each); large β anchors the frontier near π_ref."""
    contexts: int = Field(32, ge=2)
    """C, number of contexts (prompts)."""
    actions: int = Field(8, ge=2)
    """K, actions per context."""
    phi_low: float = Field(0.1, gt=0, lt=1)
    """Lowest per-context dispersion ϕ(x) (nearly deterministic annotators)."""
    phi_high: float = Field(0.9, gt=0, lt=1)
    """Highest per-context dispersion ϕ(x) (nearly random annotators)."""
    labels_per_pair: int = Field(96, ge=1)
    """Annotator labels of every action pair of every context. 96 makes a context whose win graph is not strongly
    connected (no finite optimum) rare: about 3e-7 per context over ϕ ~ U(0.1, 0.9), from the exact pairwise
    marginals."""
    demos: int = Field(16, ge=1)
    """Top-choice demonstrations per context that the reference policy is fit on."""
    reference_smoothing: float = Field(1.0, gt=0)
    """Laplace pseudo-count of the reference fit."""
    heldout_pairs: int = Field(64, ge=1)
    """Held-out annotator pairs per context (evaluation only)."""
    newton_steps: int = Field(100, ge=1)
    """Most damped-Newton iterations (converged runs stop far earlier, at ``grad_tol``)."""
    grad_tol: float = Field(1e-10, gt=0)
    """Stop when every β's gradient norm ‖∇_logits L_β‖₂ (L_β the mean loss over labels) is at most this."""
    shuffle_labels: bool = False
    """Negative control: every training label replaced by a coin flip."""

    @model_validator(mode="after")
    def _coherent(self) -> Params:
        if (self.loss == "dpo") != (self.dispersion == "none"):
            raise ValueError("dispersion must be 'none' exactly when loss is 'dpo'")
        if self.phi_low > self.phi_high:
            raise ValueError("phi_low must not exceed phi_high")
        if any(b <= 0 for b in self.betas) or len(set(self.betas)) != len(self.betas):
            raise ValueError("betas must be distinct and positive")
        return self


SCALES = {
    "ci": {},
    "reduced": {"contexts": 64},
    "full": {"contexts": 256, "actions": 16, "demos": 32, "heldout_pairs": 128},
}


def _neg_log_dispersion(params: Params, dispersion: np.ndarray, reference):
    """c(x) per context, (C,) float64 tensor; ``reference`` is π_ref as a (C, K) tensor."""
    import torch

    from repro.methods.preference import entropy_dispersion

    if params.dispersion == "none":
        return torch.ones(reference.shape[0], dtype=torch.float64)
    elif params.dispersion == "oracle":
        c = -torch.log(torch.as_tensor(dispersion, dtype=torch.float64))
    elif params.dispersion == "entropy":
        c = entropy_dispersion(reference, params.phi_star)
    else:
        raise ValueError(f"unknown dispersion {params.dispersion!r}")
    return c / c.mean() if params.dispersion_normalization == "mean_one" else c


@dataclass(frozen=True)
class Labels:
    """The training labels grouped by (context, winner, loser): ``weight`` labels each, ``total`` in all."""

    x: object  # (P,) int64 tensors
    winner: object
    loser: object
    weight: object  # (P,) float64 tensor
    total: float
    wins: np.ndarray  # (C, K, K) counts


def run(params: Params, seed: int, rec) -> None:
    import torch  # heavy imports stay inside run(): validating claims and scoring runs never need them

    from repro.methods.preference import finite_optimum_exists

    rng = np.random.default_rng(seed)
    task = make_preference_bandit(
        contexts=params.contexts,
        actions=params.actions,
        phi_low=params.phi_low,
        phi_high=params.phi_high,
        labels_per_pair=params.labels_per_pair,
        demos=params.demos,
        heldout_pairs=params.heldout_pairs,
        rng=rng,
    )
    reference = _reference_policy(params, task)
    log_reference = reference.log()
    c = _neg_log_dispersion(params, task.dispersion, reference)
    labels = _training_labels(params, task, rng)
    betas = torch.tensor(params.betas, dtype=torch.float64)[:, None]  # (B, 1)

    policy = _tabular_policy(log_reference, len(params.betas))
    rec.snapshot_weights("init", policy)
    _minimise(params, policy, log_reference, labels, betas, c, rec)
    rec.snapshot_weights("final", policy)

    _, grad, _ = _derivatives(params, policy.logits.detach(), log_reference, labels, betas, c, hessian=False)
    with torch.no_grad():
        logp = torch.log_softmax(policy.logits, dim=-1)
    exists = finite_optimum_exists(labels.wins)
    rec.write_predictions("policy", _policy_table(params, task, logp, reference, c, grad, exists))
    rec.write_predictions("heldout_pairs", _heldout_table(params, task, logp))


def _tabular_policy(log_reference, n_betas: int):
    """One logit per (β, context, action): B independent tabular policies, initialised at log π_ref."""
    import torch

    policy = torch.nn.Module()
    policy.logits = torch.nn.Parameter(log_reference.expand(n_betas, -1, -1).clone())
    return policy


def _derivatives(params: Params, logits, log_reference, labels: Labels, betas, c, hessian: bool = True):
    """Each (β, context) block's share of the mean loss over labels, (B, C); its gradient in the logits, (B, C, K)
    (autograd through log-softmax); and, if asked, its Hessian, (B, C, K, K).

    Both losses depend on the logits only through each pair's margin Δ = (chosen − rejected) log-ratio
    = z_w − z_l − log π_ref(w)/π_ref(l), so the Hessian is the Laplacian Σ_p ℓ''(Δ_p)(e_w − e_l)(e_w − e_l)ᵀ,
    with ℓ'' the loss's own second derivative in Δ (autograd), c(x) included.
    """
    import torch

    from repro.methods.preference import preference_loss

    n_b, n_c, n_k = logits.shape
    z = logits.detach().clone().requires_grad_(True)
    logp = torch.log_softmax(z, dim=-1)
    chosen = logp[:, labels.x, labels.winner] - log_reference[labels.x, labels.winner]  # (B, P)
    rejected = logp[:, labels.x, labels.loser] - log_reference[labels.x, labels.loser]
    per_pair = preference_loss(params.loss, chosen, rejected, betas, c[labels.x]) * labels.weight / labels.total
    blocks = torch.zeros(n_b, n_c, dtype=torch.float64).index_add(1, labels.x, per_pair)
    (grad,) = torch.autograd.grad(blocks.sum(), z)
    if not hessian:
        return blocks.detach(), grad, None
    margin = (chosen - rejected).detach().requires_grad_(True)
    loss = preference_loss(params.loss, margin, torch.zeros_like(margin), betas, c[labels.x])
    (first,) = torch.autograd.grad(loss.sum(), margin, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), margin)
    curvature = second * labels.weight / labels.total  # (B, P)
    win, lose = labels.x * n_k + labels.winner, labels.x * n_k + labels.loser  # flat (context, action) ids
    hess = torch.zeros(n_b, n_c * n_k * n_k, dtype=torch.float64)
    for row, col, sign in ((win, win, 1.0), (lose, lose, 1.0), (win, lose, -1.0), (lose, win, -1.0)):
        flat = (row // n_k) * n_k * n_k + (row % n_k) * n_k + col % n_k
        hess.index_add_(1, flat, sign * curvature)
    return blocks.detach(), grad, hess.view(n_b, n_c, n_k, n_k)


def _minimise(params: Params, policy, log_reference, labels: Labels, betas, c, rec) -> None:
    """Damped Newton on every (β, context) block to ``grad_tol``, with an Armijo backtracking step per block.

    The logits' common shift is free (softmax), so the Newton system adds the all-ones direction, along which
    the gradient vanishes: (H + tr(H)/K·11ᵀ/K + 1e-13·tr(H)/K·I) d = −g gives the step within the identified
    directions (the tiny ridge only guards a context whose win graph is disconnected).
    """
    import torch

    n_k = params.actions
    ones = torch.ones(n_k, n_k, dtype=torch.float64) / n_k
    for step in rec.progress(range(params.newton_steps + 1), desc=f"{params.loss}/{params.dispersion}"):
        f, g, hess = _derivatives(params, policy.logits, log_reference, labels, betas, c)
        grad_norm = g.pow(2).sum(dim=(1, 2)).sqrt()  # per β
        with torch.no_grad():
            logp = torch.log_softmax(policy.logits, dim=-1)
            kl = (logp.exp() * (logp - log_reference)).sum(-1).mean()
            margins = logp[:, labels.x, labels.winner] - logp[:, labels.x, labels.loser]
            accuracy = ((margins > 0).double() * labels.weight).sum() / (labels.total * len(params.betas))
        rec.log_curve(
            step,
            loss=f.sum(1).mean().item(),
            train_pair_accuracy=accuracy.item(),
            kl_to_reference=max(kl.item(), 0.0),
            grad_norm=grad_norm.max().item(),
        )
        if grad_norm.max().item() <= params.grad_tol or step == params.newton_steps:
            return
        scale = hess.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(1e-300)[..., None, None] / n_k
        system = hess + scale * ones + 1e-13 * scale * torch.eye(n_k, dtype=torch.float64)
        direction = torch.linalg.solve(system, -g.unsqueeze(-1)).squeeze(-1)
        _backtrack(params, policy, log_reference, labels, betas, c, f, (g * direction).sum(-1), direction)


def _backtrack(params, policy, log_reference, labels, betas, c, f, slope, direction) -> None:
    """Take the largest step t ∈ {1, ½, ¼, …} per block that decreases its loss by at least 10⁻⁴·t·|slope|."""
    import torch

    t = torch.ones_like(f)
    start = policy.logits.detach().clone()
    for _ in range(50):
        trial = start + t[..., None] * direction
        f_trial, _, _ = _derivatives(params, trial, log_reference, labels, betas, c, hessian=False)
        short = f_trial > f + 1e-4 * t * slope + 1e-15 * f.abs()  # the last term: rounding of f itself
        if not short.any():
            break
        t = torch.where(short, t / 2, t)
    with torch.no_grad():
        policy.logits.copy_(start + t[..., None] * direction)


def _reference_policy(params: Params, task):
    """π_ref, (C, K) float64: the Laplace-smoothed distribution of the demonstrators' top choices."""
    import torch

    counts = np.stack([np.bincount(row, minlength=params.actions) for row in task.demos]).astype(float)
    return torch.as_tensor(
        (counts + params.reference_smoothing) / (params.demos + params.actions * params.reference_smoothing)
    )


def _training_labels(params: Params, task, rng: np.random.Generator) -> Labels:
    """The labels grouped by (context, winner, loser); coin-flip labels under ``shuffle_labels``."""
    import torch

    x, winner, loser = task.train.T
    if params.shuffle_labels:
        flip = rng.random(x.size) < 0.5
        winner, loser = np.where(flip, loser, winner), np.where(flip, winner, loser)
    wins = np.zeros((params.contexts, params.actions, params.actions))
    np.add.at(wins, (x, winner, loser), 1.0)
    gx, gw, gl = np.nonzero(wins)
    return Labels(
        *(torch.as_tensor(v) for v in (gx, gw, gl)),
        weight=torch.as_tensor(wins[gx, gw, gl]),
        total=float(x.size),
        wins=wins,
    )


def _policy_table(params: Params, task, logp, reference, c, grad, exists) -> pd.DataFrame:
    """The learned policy per (β, context, action), beside π_ref, the true utility, the dispersion, the final
    gradient of the loss and whether the context's loss has a finite optimum."""
    n_betas = len(params.betas)
    b, ctx, act = np.meshgrid(params.betas, np.arange(params.contexts), np.arange(params.actions), indexing="ij")
    return pd.DataFrame(
        {
            "beta": b.ravel(),
            "context": ctx.ravel(),
            "action": act.ravel(),
            "policy_prob": logp.exp().numpy().ravel(),
            "reference_prob": reference.expand(n_betas, -1, -1).numpy().ravel(),
            "true_utility": np.tile(task.utility.ravel(), n_betas),
            "dispersion": np.tile(np.repeat(task.dispersion, params.actions), n_betas),
            "neg_log_dispersion": np.tile(np.repeat(c.numpy(), params.actions), n_betas),
            "loss_grad": grad.numpy().ravel(),
            "optimum_exists": np.tile(np.repeat(exists, params.actions), n_betas),
        }
    )


def _heldout_table(params: Params, task, logp) -> pd.DataFrame:
    """The policy's log-probability margin on each held-out annotator pair, per β."""
    n_betas = len(params.betas)
    hx, ha, hb, pref = task.heldout.T
    margins = (logp[:, hx, ha] - logp[:, hx, hb]).numpy()  # (B, M)
    return pd.DataFrame(
        {
            "beta": np.repeat(params.betas, hx.size),
            "context": np.tile(hx, n_betas),
            "action_a": np.tile(ha, n_betas),
            "action_b": np.tile(hb, n_betas),
            "a_preferred": np.tile(pref.astype(bool), n_betas),
            "logprob_margin": margins.ravel(),
        }
    )
