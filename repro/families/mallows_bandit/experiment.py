"""Synthetic contextual-bandit selection with Mallows preference dispersion (MallowsPO, arXiv 2405.14953).

The paper's abstract: MallowsPO enhances DPO "from synthetic bandit selection to controllable
generation and dialogues". Its bandit's exact dimensions could not be retrieved
(reference/papers.md §2.4), so this family is faithful in spirit, and every deviation is a
parameter:

- C contexts × K actions; each context has a central ranking (its true utility: 1 for the best
  action down to 0) and its own dispersion ϕ(x) ~ U(ϕ_low, ϕ_high).
- Preference pairs (uniform action pairs) are labelled by fresh annotators, each drawing a full
  ranking from Mallows(σ₀(x), ϕ(x)) with Kendall distance; held-out pairs likewise.
- The reference policy is an "SFT" fit: the Laplace-smoothed distribution of D demonstrating
  annotators' top choices. Its entropy is what MallowsPO's dispersion estimate reads.
- A tabular policy (one logit per context × action, initialised at log π_ref) is trained full-batch
  with Adam on DPO or MallowsPO-θ with c(x) from the oracle −log ϕ(x) or the entropy estimate,
  once per β of a sweep (the β's are trained jointly but independently: disjoint parameters and an
  element-wise optimiser), so that methods can be compared on the utility–KL frontier rather than at
  one β, where they would differ mostly in effective temperature.
- ``dispersion_normalization: mean_one`` rescales c(x) to mean 1 over contexts, so that DPO
  (c ≡ 1) and MallowsPO-θ spend the same average β and differ only in how they distribute it
  (the paper's scalar ϕ* plays this role for the entropy estimate).
- Negative control: ``shuffle_labels`` replaces every label by a coin flip.

The run writes the learned policy per (context, action) and its log-probability margins on the
held-out pairs; :mod:`repro.families.mallows_bandit.metrics` scores them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from repro.tasks.mallows import make_preference_bandit

NOT_IMPLEMENTED = None


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
    betas: tuple[float, ...] = Field((0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 20.0), min_length=2)
    """KL strengths β swept (one independent policy each); large β anchors the frontier near π_ref."""
    contexts: int = Field(32, ge=2)
    """C, number of contexts (prompts)."""
    actions: int = Field(8, ge=2)
    """K, actions per context."""
    phi_low: float = Field(0.1, gt=0, lt=1)
    """Lowest per-context dispersion ϕ(x) (nearly deterministic annotators)."""
    phi_high: float = Field(0.9, gt=0, lt=1)
    """Highest per-context dispersion ϕ(x) (nearly random annotators)."""
    train_pairs: int = Field(32, ge=1)
    """Labelled preference pairs per context."""
    demos: int = Field(16, ge=1)
    """Top-choice demonstrations per context that the reference policy is fit on."""
    reference_smoothing: float = Field(1.0, gt=0)
    """Laplace pseudo-count of the reference fit."""
    heldout_pairs: int = Field(64, ge=1)
    """Held-out annotator pairs per context (evaluation only)."""
    steps: int = Field(1000, ge=1)
    """Full-batch Adam steps (enough for the tabular policies to converge at ci scale)."""
    lr: float = Field(0.1, gt=0)
    """Adam learning rate on the logits."""
    shuffle_labels: bool = False
    """Negative control: every training label replaced by a coin flip."""
    curve_every: int = Field(10, ge=1)
    """Log a curve row every this many steps (and at the last step)."""

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
    "reduced": {"contexts": 64, "train_pairs": 64, "steps": 1500},
    "full": {"contexts": 256, "actions": 16, "train_pairs": 128, "demos": 32, "heldout_pairs": 128, "steps": 3000},
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


def run(params: Params, seed: int, rec) -> None:
    import torch  # heavy imports stay inside run(): validating claims and scoring runs never need them

    from repro.methods.preference import preference_loss

    rng = np.random.default_rng(seed)
    task = make_preference_bandit(
        contexts=params.contexts,
        actions=params.actions,
        phi_low=params.phi_low,
        phi_high=params.phi_high,
        train_pairs=params.train_pairs,
        demos=params.demos,
        heldout_pairs=params.heldout_pairs,
        rng=rng,
    )
    reference = _reference_policy(params, task)
    log_reference = reference.log()
    c = _neg_log_dispersion(params, task.dispersion, reference)
    x, winner, loser = _training_pairs(params, task, rng)

    betas = torch.tensor(params.betas, dtype=torch.float64)[:, None]  # (B, 1)
    logits = torch.nn.Parameter(log_reference.expand(len(params.betas), -1, -1).clone())  # (B, C, K)
    optimizer = torch.optim.Adam([logits], lr=params.lr)
    rec.snapshot_weights("init", optimizer)
    for step in rec.progress(range(params.steps), desc=f"{params.loss}/{params.dispersion}"):
        logp = torch.log_softmax(logits, dim=-1)
        chosen = logp[:, x, winner] - log_reference[x, winner]  # (B, N)
        rejected = logp[:, x, loser] - log_reference[x, loser]
        # Summing the per-β means trains the B policies independently (their parameters are disjoint).
        loss = preference_loss(params.loss, chosen, rejected, betas, c[x]).mean(dim=1).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % params.curve_every == 0 or step == params.steps - 1:
            with torch.no_grad():
                kl = (logp.exp() * (logp - log_reference)).sum(-1).mean()
                rec.log_curve(
                    step,
                    loss=loss.item() / len(params.betas),
                    train_pair_accuracy=(chosen > rejected).double().mean().item(),
                    kl_to_reference=max(kl.item(), 0.0),
                )
    rec.snapshot_weights("final", optimizer)

    with torch.no_grad():
        logp = torch.log_softmax(logits, dim=-1)
    rec.write_predictions("policy", _policy_table(params, task, logp, reference, c))
    rec.write_predictions("heldout_pairs", _heldout_table(params, task, logp))


def _reference_policy(params: Params, task):
    """π_ref, (C, K) float64: the Laplace-smoothed distribution of the demonstrators' top choices."""
    import torch

    counts = np.stack([np.bincount(row, minlength=params.actions) for row in task.demos]).astype(float)
    return torch.as_tensor(
        (counts + params.reference_smoothing) / (params.demos + params.actions * params.reference_smoothing)
    )


def _training_pairs(params: Params, task, rng: np.random.Generator):
    """(context, winner, loser) tensors of the labelled training pairs; coin-flip labels under ``shuffle_labels``."""
    import torch

    x, winner, loser = (torch.as_tensor(col) for col in task.train.T)
    if params.shuffle_labels:
        flip = torch.as_tensor(rng.random(x.numel()) < 0.5)
        winner, loser = torch.where(flip, loser, winner), torch.where(flip, winner, loser)
    return x, winner, loser


def _policy_table(params: Params, task, logp, reference, c) -> pd.DataFrame:
    """The learned policy per (β, context, action), beside π_ref, the true utility and the dispersion."""
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
