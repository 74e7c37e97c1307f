"""Difficulty-group DRO for RL post-training (GDRO): the online pass@k difficulty classifier, Prompt-GDRO and
Rollout-GDRO. Not Sagawa et al.'s online group DRO over fixed groups, which is :mod:`repro.methods.online_group_dro`.

Panaganti et al. 2026, "Group Distributionally Robust Optimization-Driven Reinforcement Learning for LLM
Reasoning", arXiv 2601.19280v1 (equation numbers below are the paper's). Both adversaries sit on top of the GRPO
pieces in :mod:`repro.methods.grpo` and read the per-response loss ℓ_{i,j} of Eq. 6 through the prompt loss of
Eq. 7, ℓ(x_i) = (1/n) Σ_j ℓ_{i,j}.

Where the official code (github.com/kishanpb/verl-gdro, reference/papers.md §1.3) departs from the paper, the
code's behaviour is a named option; the default everywhere is the paper's equation:

- ``PromptGDRO(weighting="code")``: per-sample weight = normalised q_t(b) over the bins present (γ mix
  included), rescaled to batch mean 1 and capped, the EMA started at the first observation, and the bin loss
  always divided by its batch share (paper: Eq. 16's unnormalised ω, S_0 = 0, share normalisation with a floor).
  ``PromptGDRO(standardize=True)`` is the code's ``use_zscore`` option (z-scored bin scores in Eq. 14).
- ``RolloutGDRO(arm_score="code")``: cumulative arm scores ``+= mean loss − μ(n − n̄)`` exponentiated with a
  *positive* sign (favouring arms that saw higher loss); paper: exponential weights on the penalised arm loss
  L_b(n) = −Ĵ_b(n) + μn of Eq. 20 (lower is better), smoothed by an EMA (App. A.2.2).
- Which bins Rollout-GDRO allocates by (step N's prompts classified from their history, or step N−1's bin
  list applied by position) and whether training samples at temperature 1.0 are experiment parameters.
- Prompt-GDRO weights and Rollout-GDRO are separate games (the paper's framing; the Rollout script also runs
  with ``gdro_apply_weights=False``), so Rollout-GDRO never reweights advantages.

Also here: the theory of §4 used by the property checks (Lemma 4.1's entropic value and softmax best response,
Theorem 4.2's square-root allocation, the shadow-price best response, the variance proxy and the WSE
diagnostic of Eq. 33).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

PAPER_BIN_EDGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Inner edges a_1 … a_{B−1} of the 10 accuracy bins (App. A: accbin_0 = [0, 0.1), …, accbin_9 = [0.9, 1])."""


# ------------------------------------------------------------------ §3.1 online pass@k classifier


class PassAtKClassifier:
    """Dynamic difficulty bins from online pass@k (§3.1, Eqs. 10–11, with hysteresis).

    ``record(uids, correct)`` appends the any-of-k indicator c_t(x) of each prompt (any hashable uid) seen at step t;
    ``estimate`` is the sliding-window mean over the last ``history`` visits (Eq. 10; all visits if fewer): counts
    of past visits, not an EMA (official ``PassKOnlineClassifier``: a deque of the last ``passk_history_len``
    indicators, falling back to cumulative correct/seen counts);
    ``assign(uids)`` maps prompts to bins 0 … B−1 by the inner ``edges`` (Eq. 11; bin 0 = lowest pass rate).
    Hysteresis: a prompt leaves its previous bin only when its estimate crosses that bin's boundary by more
    than ``hysteresis`` (§3.1). A prompt with no history gets accuracy 0, i.e. bin 0 (the official code's
    convention; the paper's "available history" is empty for it).

    Order within a step: a step's prompts are assigned from their history *before* the step's own indicators are
    recorded (official ``ray_trainer.py``: ``classify_batch`` runs before the update, ``update_with_passk`` after it).
    Recording first would put a prompt in bin 0 only when all of this step's rollouts failed, i.e. exactly when its
    GRPO advantages are 0, so up-weighting the hardest bin could never change an update.
    """

    def __init__(self, edges: tuple[float, ...] = PAPER_BIN_EDGES, history: int = 50, hysteresis: float = 0.03):
        if list(edges) != sorted(edges) or not all(0.0 < e < 1.0 for e in edges):
            raise ValueError("edges must be increasing and inside (0, 1)")
        if history < 1 or not 0.0 <= hysteresis < 0.5:
            raise ValueError("history must be ≥ 1 and hysteresis in [0, 0.5)")
        self.edges = np.asarray(edges, float)
        self.history = history
        self.hysteresis = hysteresis
        self._window: dict[int, deque] = {}
        self._bin: dict[int, int] = {}

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1

    def record(self, uids, correct) -> None:
        for uid, ok in zip(np.asarray(uids).tolist(), np.asarray(correct).tolist(), strict=True):
            self._window.setdefault(uid, deque(maxlen=self.history)).append(1.0 if ok else 0.0)

    def estimate(self, uid) -> float:
        window = self._window.get(uid)
        return float(np.mean(window)) if window else 0.0

    def raw_bin(self, accuracy: float) -> int:
        return int(np.searchsorted(self.edges, accuracy, side="right"))

    def assign(self, uids) -> np.ndarray:
        """g_t(x) for each uid, (N,) int; updates the hysteresis state."""
        out = np.empty(len(uids), dtype=np.int64)
        bounds = np.concatenate([[0.0], self.edges, [1.0]])
        for i, uid in enumerate(np.asarray(uids).tolist()):
            acc = self.estimate(uid)
            new = self.raw_bin(acc)
            prev = self._bin.get(uid)
            if prev is not None and new != prev:
                leaves_up = new > prev and acc >= bounds[prev + 1] + self.hysteresis
                leaves_down = new < prev and acc < bounds[prev] - self.hysteresis
                if not (leaves_up or leaves_down):
                    new = prev
            self._bin[uid] = new
            out[i] = new
        return out


# ------------------------------------------------------------------ §3.2 Prompt-GDRO


def bin_means(bins: np.ndarray, values: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean of ``values`` and per-bin count, (B,) each; the mean is NaN for empty bins."""
    counts = np.bincount(bins, minlength=n_bins).astype(float)
    sums = np.bincount(bins, weights=values, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan), counts


@dataclass
class PromptGDRO:
    """EMA-debiased exponential-weights adversary over B bins, realised as advantage reweighting (§3.2).

    Eq. 12–13  S_t(b) ← (1−β) S_{t−1}(b) + β·ℓ̄_t(b), ℓ̄_t(b) the mean prompt loss of bin b in the batch;
               bins absent from the batch keep their score. ``share_normalize`` divides ℓ̄_t(b) by the bin's batch
               share q̂_t(b) (floored), App. A.2.1's "loss normalised by class share", which §3.2 calls optional.
               Turning it off (the gdro_rlvr ci/reduced scales do) is the other reading of §3.2: ℓ̄_t(b) already
               estimates L_b of Eq. 9 free of the bin's frequency (the EMA is a mean over the bin's visits, not a
               sum: the paper's "EMA-debiased ... without frequency bias"), and dividing it by q̂_t(b) makes the
               score estimate L_b/q̂_b instead, multiplying a one-prompt bin's (noisy, either-signed) loss by the
               batch size (×32 at ci).
    Eq. 14     ω_t(b) = exp(η_q · clip(S_t(b), −C, C)).
    Eq. 15     q_t(b) = (1−γ) ω_t(b)/Σ_j ω_t(j) + γ/B.
    Eq. 16     A_{i,j} ← A_{i,j} · min{ω_t(g_t(x_i)), ω_max}.
    App. A.2.1: B = 10, η_q = 0.65, γ = 0.01, β = 0.12, ω_max = 15. C is not stated; the default 10 lets the
    cap ω_max bind first (e^{0.65·10} ≫ 15).

    ``standardize`` (the official code's ``use_zscore``: ``compute_weights`` centres the bins' scores on their
    mean, divides by their sd floored at ``z_std_floor`` and caps at ±``z_cap``) replaces S_t(b) in Eq. 14 by its
    z-score over the bins observed so far (unobserved bins: 0). Eq. 14 fixes η_q for the scale of the paper's loss
    signal; the z-score makes the exponent scale-free, so η_q = 0.65 and the cap 3 bound ω in [e^{−1.95}, e^{1.95}]
    whatever the scale of ℓ (at ci ℓ(x_i) is the clipped surrogate's drift within a step, ≈5e-4, where
    exp(0.65·S) ≈ 1 and the adversary could not move).
    """

    n_bins: int
    eta: float = 0.65
    gamma: float = 0.01
    ema: float = 0.12
    weight_cap: float = 15.0
    score_clip: float = 10.0
    share_normalize: bool = True
    share_floor: float = 0.01
    standardize: bool = False
    z_cap: float = 3.0
    z_std_floor: float = 1e-6
    weighting: str = "paper"
    scores: np.ndarray = field(init=False)
    observed: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.weighting not in ("paper", "code"):
            raise ValueError(f"unknown weighting {self.weighting!r}")
        self.scores = np.zeros(self.n_bins)
        self.observed = np.zeros(self.n_bins, dtype=bool)

    def exponent_scores(self) -> np.ndarray:
        """The score Eq. 14 exponentiates: S_t(b) clipped to ±C, or its z-score over observed bins. (B,)"""
        if not self.standardize:
            return np.clip(self.scores, -self.score_clip, self.score_clip)
        if not self.observed.any():
            return np.zeros(self.n_bins)
        seen = self.scores[self.observed]
        z = (self.scores - seen.mean()) / max(float(seen.std()), self.z_std_floor)
        return np.where(self.observed, np.clip(z, -self.z_cap, self.z_cap), 0.0)

    def bin_weights(self) -> np.ndarray:
        """ω_t(b), Eq. 14. (B,)"""
        return np.exp(self.eta * self.exponent_scores())

    def distribution(self, active: np.ndarray | None = None) -> np.ndarray:
        """q_t(b), Eq. 15, over all bins, or (code) over the ``active`` bins only (0 elsewhere). (B,)"""
        mask = np.ones(self.n_bins, bool) if active is None else np.asarray(active, bool)
        omega = np.where(mask, self.bin_weights(), 0.0)
        return np.where(mask, (1 - self.gamma) * omega / omega.sum() + self.gamma / mask.sum(), 0.0)

    def sample_weights(self, bins: np.ndarray) -> np.ndarray:
        """Advantage multiplier of each prompt (N,) from its bin g_t(x_i)."""
        if self.weighting == "paper":  # Eq. 16
            return np.minimum(self.bin_weights()[bins], self.weight_cap)
        elif self.weighting == "code":  # normalised q over present bins, batch mean 1, then the cap
            active = np.bincount(bins, minlength=self.n_bins) > 0
            w = self.distribution(active)[bins]
            return np.minimum(w / w.mean(), self.weight_cap)
        else:
            raise ValueError(f"unknown weighting {self.weighting!r}")

    def update(self, bins: np.ndarray, prompt_losses: np.ndarray) -> None:
        """Eqs. 12–13 with the prompt losses ℓ(x_i) (N,) of the step's batch."""
        means, counts = bin_means(bins, prompt_losses, self.n_bins)
        present = counts > 0
        share = counts / counts.sum()
        if self.weighting == "code":  # loss_norm_by_class divides by the raw share
            signal = np.where(present, means / np.where(present, share, 1.0), 0.0)
        elif self.share_normalize:
            signal = np.where(present, means / np.maximum(share, self.share_floor), 0.0)
        else:
            signal = np.where(present, means, 0.0)
        if self.weighting == "code":  # EMA initialised with the first observation
            first = present & ~self.observed
            self.scores[first] = signal[first]
            update = present & ~first
        else:
            update = present
        self.scores[update] = (1 - self.ema) * self.scores[update] + self.ema * signal[update]
        self.observed |= present


# ------------------------------------------------------------------ §3.3 Rollout-GDRO


def exact_budget_allocation(
    log_probs: np.ndarray, counts: np.ndarray, arms: np.ndarray, target: int, center: float
) -> np.ndarray:
    """The joint arm choice of maximal probability with Σ_b c_b·n_b = target exactly (§3.3.2's DP).

    log_probs: (A, K) log p_b(n) of the A active bins over K arms; counts: (A,) prompts per bin;
    arms: (K,) rollout counts; target: total rollouts. Dynamic programming over the running total; exact ties
    in joint probability go to the choice closest to the uniform allocation (smallest Σ_b c_b |n_b − center|).
    Returns the chosen arm index per active bin, (A,). Raises if no combination meets the target.
    """
    counts = np.asarray(counts, np.int64)
    arms = np.asarray(arms, np.int64)
    n_active, k = log_probs.shape
    size = target + 1
    score = np.full(size, -np.inf)
    deviation = np.full(size, np.inf)
    score[0], deviation[0] = 0.0, 0.0
    choice = np.full((n_active, size), -1, dtype=np.int64)
    for j in range(n_active):
        best_score = np.full(size, -np.inf)
        best_dev = np.full(size, np.inf)
        for a in range(k):
            step = int(arms[a] * counts[j])
            if step >= size:
                continue
            cand_score = np.full(size, -np.inf)
            cand_dev = np.full(size, np.inf)
            cand_score[step:] = score[: size - step] + log_probs[j, a]
            cand_dev[step:] = deviation[: size - step] + counts[j] * abs(arms[a] - center)
            tie = np.isclose(cand_score, best_score, rtol=1e-12, atol=1e-12) & np.isfinite(cand_score)
            better = (cand_score > best_score) & ~tie | (tie & (cand_dev < best_dev))
            best_score = np.where(better, cand_score, best_score)
            best_dev = np.where(better, cand_dev, best_dev)
            choice[j] = np.where(better, a, choice[j])
        score, deviation = best_score, best_dev
    if not np.isfinite(score[target]):
        raise ValueError(f"no combination of arms {arms.tolist()} over counts {counts.tolist()} totals {target}")
    picked = np.empty(n_active, dtype=np.int64)
    total = target
    for j in range(n_active - 1, -1, -1):
        picked[j] = choice[j, total]
        total -= int(arms[picked[j]] * counts[j])
    return picked


@dataclass
class RolloutGDRO:
    """Per-bin exponential-weights (EXP3P-style) choice of rollout counts under an exact mean budget (§3.3).

    Arms n ∈ {n_min … n_max} (App. A.2.2: 2 … 12, "multiplier 3.0× base"), mean budget n̄ = 4.
    Eq. 17–18  Ĵ_b(θ; n_b) = −(1/|B_b|) Σ_{x_i∈B_b} (1/n_b) Σ_{j≤n_b} ℓ_{i,j}.
    Eq. 19     max Σ_b q̂(b) Ĵ_b(n_b) s.t. Σ_b q̂(b) n_b = n̄ — the selection step picks the joint choice of maximal
               probability Π_b p_b(n_b) that meets the budget exactly (DP over the active bins).
    Eq. 20     arm loss L_b(n) = −Ĵ_b(θ; n) + μ n.
    Eq. 21     μ ← μ + α_μ (n̂_realized − n̄).
    App. A.2.2: arm η = 0.65, arm γ = 0.01, arm-score EMA decay 0.4, α_μ = 0.05.

    ``arm_score="paper"``: s_b(n) ← (1−λ) s_b(n) + λ L_b(n) for the played arm (EMA decay λ), p_b ∝ exp(−η s_b)
    mixed with γ. ``arm_score="code"``: s_b(n) += −(Ĵ_b + μ(n − n̄)), p_b ∝ exp(+η s_b) mixed with γ
    (official code; it favours arms that saw *higher* loss).
    With exact budget matching the realised mean is n̄ at every step, so Eq. 21 leaves μ where it started:
    the budget is enforced by the DP, not by the shadow price (papers.md §1.3, divergence 2).
    """

    n_bins: int
    arms: tuple[int, ...] = tuple(range(2, 13))
    mean_budget: int = 4
    eta: float = 0.65
    gamma: float = 0.01
    score_ema: float = 0.4
    dual_lr: float = 0.05
    arm_score: str = "paper"
    mu: float = 0.0
    scores: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.arm_score not in ("paper", "code"):
            raise ValueError(f"unknown arm_score {self.arm_score!r}")
        if self.mean_budget not in self.arms:
            raise ValueError("the mean budget must be one of the arms (otherwise the budget may be unreachable)")
        self.scores = np.zeros((self.n_bins, len(self.arms)))

    def arm_probabilities(self) -> np.ndarray:
        """p_b(n), (B, K): exponential weights mixed with γ/K."""
        sign = -1.0 if self.arm_score == "paper" else 1.0
        logits = sign * self.eta * self.scores
        logits -= logits.max(axis=1, keepdims=True)
        base = np.exp(logits)
        base /= base.sum(axis=1, keepdims=True)
        return (1 - self.gamma) * base + self.gamma / len(self.arms)

    def allocate(self, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rollouts per prompt (N,) and per bin (B,; 0 for bins without prompts) for prompts in ``bins``."""
        counts = np.bincount(bins, minlength=self.n_bins)
        active = np.flatnonzero(counts)
        picked = exact_budget_allocation(
            np.log(self.arm_probabilities()[active]),
            counts=counts[active],
            arms=np.asarray(self.arms),
            target=int(self.mean_budget * len(bins)),
            center=float(self.mean_budget),
        )
        per_bin = np.zeros(self.n_bins, dtype=np.int64)
        per_bin[active] = np.asarray(self.arms)[picked]
        return per_bin[bins], per_bin

    def update(self, bins: np.ndarray, per_bin: np.ndarray, prompt_losses: np.ndarray) -> None:
        """Eqs. 18, 20, 21 after the step: ``prompt_losses`` (N,) are ℓ(x_i; θ, n_b) of Eq. 17."""
        means, counts = bin_means(bins, prompt_losses, self.n_bins)
        for b in np.flatnonzero(counts):
            j_hat = -means[b]  # Eq. 18
            arm = self.arms.index(int(per_bin[b]))
            if self.arm_score == "paper":
                loss = -j_hat + self.mu * per_bin[b]  # Eq. 20
                self.scores[b, arm] = (1 - self.score_ema) * self.scores[b, arm] + self.score_ema * loss
            elif self.arm_score == "code":
                self.scores[b, arm] += -(j_hat + self.mu * (per_bin[b] - self.mean_budget))
            else:
                raise ValueError(f"unknown arm_score {self.arm_score!r}")
        realized = float((per_bin[bins]).mean())
        self.mu += self.dual_lr * (realized - self.mean_budget)  # Eq. 21


# ------------------------------------------------------------------ §4 theory and diagnostics


def entropic_value(losses: np.ndarray, eta: float) -> float:
    """R_η = max_{q∈Δ} Σ_b q_b L_b + H(q)/η = (1/η) log Σ_b e^{η L_b} (Lemma 4.1, Eq. 23)."""
    z = eta * np.asarray(losses, float)
    top = z.max()
    return float((top + np.log(np.exp(z - top).sum())) / eta)


def softmax_response(losses: np.ndarray, eta: float) -> np.ndarray:
    """The maximiser q_η(b) = softmax(η L)_b of Lemma 4.1 (Eq. 24)."""
    z = eta * np.asarray(losses, float)
    e = np.exp(z - z.max())
    return e / e.sum()


def entropic_objective(q: np.ndarray, losses: np.ndarray, eta: float) -> float:
    """Σ_b q_b L_b + H(q)/η with H(q) = −Σ q log q (0 log 0 = 0), the inner objective of Eq. 22."""
    q = np.asarray(q, float)
    entropy = -np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0))
    return float(q @ np.asarray(losses, float) + entropy / eta)


def sqrt_allocation(q: np.ndarray, v: np.ndarray, mean_budget: float) -> np.ndarray:
    """n*_b = n̄ √v_b / Σ_j q̄_j √v_j (Theorem 4.2, Eq. 30), the minimiser of Σ q̄ v/n s.t. Σ q̄ n = n̄."""
    root = np.sqrt(np.asarray(v, float))
    return mean_budget * root / float(np.asarray(q, float) @ root)


def shadow_price_response(v: np.ndarray, mu: float) -> np.ndarray:
    """n_b(μ) = argmin_{n>0} v_b/n + μ n = √(v_b/μ) (Eq. 31)."""
    return np.sqrt(np.asarray(v, float) / mu)


def variance_proxy(q: np.ndarray, v: np.ndarray, n: np.ndarray) -> float:
    """VarProxy(n) = Σ_b q̄_b v_b / n_b (Eq. 28)."""
    return float(np.sum(np.asarray(q, float) * np.asarray(v, float) / np.asarray(n, float)))


def weighted_standard_error(share: np.ndarray, reward_sd: np.ndarray, rollouts: np.ndarray) -> float:
    """WSE(t) = Σ_b q_t(b) σ̂_b / √n_b(t) over the bins present (Eq. 33)."""
    share, reward_sd, rollouts = (np.asarray(x, float) for x in (share, reward_sd, rollouts))
    present = share > 0
    return float(np.sum(share[present] * reward_sd[present] / np.sqrt(rollouts[present])))
