"""CARE: anchored-contrastive advantages, all-negative rescue, region-weighted token advantages and the
Reflection-Guided Resampling (RGR) repair prompt (Wang et al. 2025, arXiv 2512.19554, CVPR 2026).

Every function follows the official code (github.com/yongxinwang-ai/CARE, read via the code index; paths
below are relative to ``verl/``) and the paper's description as summarised in reference/papers.md §3.3.
Hyperparameters (``examples/qwen2_5_vl_7b_geo3k_care_grpo.sh``): K = 4 hard negatives, M = 6 nearest
failures in the pool, negative scale s = 0.5, s_refl = s/2 = 0.25 for a failure whose repair failed,
rescue δ = 0.1, γ_pos = 0.005 on think tokens of positives, ε = 1e-6, √(K/K′) equalisation on.

Per prompt with G rollouts and binary rewards r ∈ {0, 1}:

1. anchor y⁺ = the positive with the shortest think span, ties by the shorter answer (:func:`select_anchor`);
2. hard negatives: the M failures nearest to y⁺ in cosine distance of pooled think-span hidden states,
   then K′ = min(K, M, #failures) of them by farthest-first traversal from the nearest
   (:func:`cosine_hard_negatives`);
3. subgroup z-score over S = {y⁺} ∪ negatives with the *population* std (:func:`subgroup_zscore`);
4. negative-only scaling A[y⁻] = −s·|A_raw[y⁻]| (the anchor keeps A_raw); 5. × √(K/K′);
6. all-negative rescue: pseudo-anchor = the failure with the largest Σ_t log π_old, up to K diverse
   negatives, pseudo-rewards (δ, −δ/K′, …) z-scored as above (:func:`rescue_advantages`);
7. token advantages a_{i,t} = A_i·w_{i,t}/max(Σ_u w_{i,u}, ε) with w = 1 on answer tokens, γ_pos on think
   tokens of positives, 0 on think tokens of failures (:func:`region_weighted_advantages`);
8. RGR: the first hard negative of a group with a positive gets the repair cue inserted before ``</think>``,
   is cut after ``<answer>`` and re-decoded once (:func:`insert_repair_cue`); a correct repair replaces the
   failure in the subgroup, a failed one stays with scale s_refl (:func:`anchored_advantages`). The official
   code puts the failed re-decode itself in the failure's place at s_refl, and trains every re-decode after the
   original prompt (care_rlvr's ``rgr_context``).

Identity (papers.md §3.3 (6)): with binary rewards, one positive and K′ negatives, A_raw[y⁺] = √K′ and
A_raw[y⁻] = −1/√K′ exactly (mean 1/(K′+1), population std √K′/(K′+1)). The rescue's pseudo-rewards have
mean 0 and population std δ/√K′, so z-scoring gives the same √K′ and −1/√K′ whatever δ: in the released
code δ cancels (up to ε). So the rescue's pseudo-anchor, a *failed* rollout, gets the full anchor advantage
√K′·√(K/K′), and region weighting (positives by reward > 0, as ``region_weighted_tokens.py``) puts all of it on that
failure's answer token. Both are the official code's behaviour and kept; care_rlvr measures them with the arms
``rescue: false`` and ``token_weighting: uniform``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


def select_anchor(positives: list[int], think_len: list[int], answer_len: list[int]) -> int:
    """y⁺ = argmin over positives of (think length, answer length), first index on full ties
    (``algorithms/adv_estimators/care.py::_select_anchor_index``). Lengths are indexed by rollout."""
    if not positives:
        raise ValueError("an anchor needs at least one positive")
    return min(positives, key=lambda i: (think_len[i], answer_len[i], positives.index(i)))


def _normalize(embeddings: torch.Tensor) -> torch.Tensor:
    if embeddings.dim() != 2:
        raise ValueError("embeddings must be (rollouts, hidden)")
    return torch.nn.functional.normalize(embeddings.detach().double(), dim=-1)


def farthest_first(pool_embeddings: torch.Tensor, first: int, k: int) -> list[int]:
    """Farthest-first traversal over a pool: start at ``first``, then repeatedly add the member whose
    smallest cosine distance to the chosen set is largest (first index on ties). Returns ≤ k pool positions.

    pool_embeddings: (n, d), ℓ2-normalised.
    """
    n = pool_embeddings.shape[0]
    k = min(k, n)
    if k <= 0:
        return []
    chosen = [first]
    taken = torch.zeros(n, dtype=torch.bool)
    taken[first] = True
    while len(chosen) < k:
        distances = 1.0 - pool_embeddings @ pool_embeddings[taken].T  # (n, |chosen|)
        spread = distances.min(dim=1).values.masked_fill(taken, -1.0)
        nxt = int(torch.argmax(spread))
        taken[nxt] = True
        chosen.append(nxt)
    return chosen


def cosine_hard_negatives(anchor: int, failures: list[int], embeddings: torch.Tensor, k: int, m: int) -> list[int]:
    """Hard negatives (``algorithms/neg_selectors/cosine_hardneg.py``): the ``m`` failures nearest to the anchor
    in d_cos(i) = 1 − h̃_iᵀh̃⁺ (stable order on ties), then K′ = min(k, pool) of them by farthest-first
    traversal starting from the nearest. embeddings: (G, d) pooled think-span states of the group's rollouts.
    Returns rollout indices, the nearest first."""
    if k <= 0 or not failures:
        return []
    emb = _normalize(embeddings)
    d_cos = 1.0 - emb[failures] @ emb[anchor]
    nearest = torch.argsort(d_cos, stable=True)[: min(m, len(failures))].tolist()
    pool = [failures[i] for i in nearest]
    return [pool[i] for i in farthest_first(emb[pool], 0, k)]


def diverse_negatives(pseudo_anchor: int, candidates: list[int], embeddings: torch.Tensor, k: int) -> list[int]:
    """Rescue negatives (``care.py::_select_diverse_negatives``): start from the candidate farthest from the
    pseudo-anchor, then farthest-first traversal among the candidates. Returns ≤ k rollout indices."""
    if k <= 0 or not candidates:
        return []
    emb = _normalize(embeddings)
    start = int(torch.argmax(1.0 - emb[candidates] @ emb[pseudo_anchor]))
    return [candidates[i] for i in farthest_first(emb[candidates], start, k)]


def subgroup_zscore(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """A_raw = (r − μ_S)/(σ_S + ε) with the population std (``care.py``: ``std(unbiased=False)``). rewards: (n,)."""
    rewards = rewards.double()
    return (rewards - rewards.mean()) / (rewards.std(unbiased=False) + eps)


def equalization(k: int, k_prime: int, equalize: bool = True) -> float:
    """√(K/K′) (``care.equalize=true``): a subgroup with fewer than K negatives carries the same total weight."""
    return math.sqrt(k / k_prime) if equalize and k_prime > 0 else 1.0


def anchored_advantages(
    rewards: torch.Tensor,
    k: int,
    s: float = 0.5,
    equalize: bool = True,
    eps: float = 1e-6,
    reflected_failed: int | None = None,
    s_refl: float = 0.25,
) -> torch.Tensor:
    """Advantages of a subgroup [y⁺, y_1⁻, …, y_K′⁻] (anchor first) after z-score, negative-only scaling and
    equalisation (``care.py::compute_care_advantages``): the anchor and any other positive (an RGR repair)
    keep A_raw; failures get −s·|A_raw|, or −s_refl·|A_raw| for the position ``reflected_failed`` whose
    repair failed; everything × √(K/K′). rewards: (K′ + 1,) binary. Returns (K′ + 1,) float64."""
    raw = subgroup_zscore(rewards, eps)
    out = raw.clone()
    for i in range(1, rewards.numel()):
        if rewards[i] <= 0:
            scale = s_refl if i == reflected_failed else s
            out[i] = -scale * raw[i].abs()
    return out * equalization(k, rewards.numel() - 1, equalize)


def rescue_pseudo_rewards(k_prime: int, delta: float = 0.1) -> torch.Tensor:
    """Pseudo-rewards of an all-negative subgroup: δ for the pseudo-anchor, −δ/K′ for each negative."""
    out = torch.full((k_prime + 1,), -delta / k_prime, dtype=torch.float64)
    out[0] = delta
    return out


def rescue_advantages(
    k_prime: int, k: int, delta: float = 0.1, s: float = 0.5, equalize: bool = True, eps: float = 1e-6
) -> torch.Tensor:
    """All-negative rescue advantages [pseudo-anchor, negatives…]: the pseudo-rewards z-scored, negatives
    scaled by −s·|·|, all × √(K/K′) (``care.py``, ``not has_positive and rescue_enable``). Returns (K′ + 1,)."""
    raw = subgroup_zscore(rescue_pseudo_rewards(k_prime, delta), eps)
    out = raw.clone()
    out[1:] = -s * raw[1:].abs()
    return out * equalization(k, k_prime, equalize)


@dataclass
class CareGroup:
    """CARE's bookkeeping for one prompt's G rollouts (indices are rollout positions within the group)."""

    anchor: int | None
    negatives: list[int]
    rescued: bool
    reflected: int | None = None
    """The failure RGR tried to repair (the first hard negative), if any."""
    repaired: bool = False
    """Whether that repair was verified correct (it then replaces the failure as a positive)."""
    advantages: torch.Tensor = field(default_factory=lambda: torch.zeros(0))

    @property
    def subgroup(self) -> list[int]:
        return [] if self.anchor is None else [self.anchor, *self.negatives]


def plan_group(
    rewards: torch.Tensor,
    think_len: list[int],
    answer_len: list[int],
    embeddings: torch.Tensor,
    sequence_logp: torch.Tensor,
    k: int = 4,
    m: int = 6,
    rescue: bool = True,
) -> CareGroup:
    """Anchor and hard negatives of a group with a positive, or the rescue subgroup of an all-negative group
    (``care.py::build_care_group_infos`` and the rescue branch). rewards, sequence_logp: (G,); embeddings: (G, d)."""
    positives = [i for i in range(rewards.numel()) if rewards[i] > 0]
    failures = [i for i in range(rewards.numel()) if rewards[i] <= 0]
    if positives:
        anchor = select_anchor(positives, think_len, answer_len)
        return CareGroup(anchor, cosine_hard_negatives(anchor, failures, embeddings, k, m), rescued=False)
    if not rescue or len(failures) < 2:
        return CareGroup(None, [], rescued=False)
    pseudo = failures[int(torch.argmax(sequence_logp[failures]))]
    candidates = [i for i in failures if i != pseudo]
    return CareGroup(pseudo, diverse_negatives(pseudo, candidates, embeddings, min(k, len(candidates))), rescued=True)


def group_advantages(
    group: CareGroup,
    rewards: torch.Tensor,
    k: int = 4,
    s: float = 0.5,
    s_refl: float = 0.25,
    delta: float = 0.1,
    equalize: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Per-rollout CARE advantages of one group, (G,) float64; rollouts outside the subgroup get 0.
    ``rewards`` are the group's rewards after RGR (a verified repair counts as a positive)."""
    out = torch.zeros(rewards.numel(), dtype=torch.float64)
    members = group.subgroup
    if len(members) < 2:
        return out
    if group.rescued:
        out[members] = rescue_advantages(len(members) - 1, k, delta=delta, s=s, equalize=equalize, eps=eps)
    else:
        failed = members.index(group.reflected) if group.reflected is not None and not group.repaired else None
        out[members] = anchored_advantages(
            rewards[members], k, s=s, equalize=equalize, eps=eps, reflected_failed=failed, s_refl=s_refl
        )
    return out


def region_weighted_advantages(
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    think_mask: torch.Tensor,
    answer_mask: torch.Tensor,
    positive: torch.Tensor,
    gamma_pos: float = 0.005,
    eps: float = 1e-6,
) -> torch.Tensor:
    """a_{i,t} = A_i·w_{i,t}/max(Σ_u w_{i,u}, ε) (``algorithms/losses/region_weighted_tokens.py``): w = 1 on
    answer tokens (on the whole response when it has no answer span), + γ_pos on think tokens of positives.

    advantages, positive: (B,); masks: (B, T) (bool or 0/1). Returns (B, T)."""
    response = response_mask.bool()
    answer = answer_mask.bool()
    no_answer = ~answer.any(dim=1, keepdim=True)
    answer = torch.where(no_answer, response, answer)
    weights = answer.double() + think_mask.double() * gamma_pos * positive.double()[:, None]
    weights = weights * response.double()
    denom = weights.sum(dim=1, keepdim=True).clamp(min=eps)
    return advantages.double()[:, None] * weights / denom


def insert_repair_cue(
    response: list[int], cue: tuple[int, ...], think_open: int, think_close: int, answer_open: int
) -> list[int]:
    """The RGR continuation (``hooks/rgr.py::_insert_repair_cue``, on tokens): the cue goes just before
    ``</think>`` (at the end of an unclosed think; in a new think span when there is none), and the text is cut
    right after ``<answer>`` (appended when absent), ready to be re-decoded. ``response`` excludes <eos>."""
    cue = list(cue)
    if not response:
        return [think_open, *cue, think_close, answer_open]
    if think_open in response:
        if think_close in response:
            cut = response.index(think_close)
            text = [*response[:cut], *cue, *response[cut:]]
        else:
            text = [*response, *cue]
    else:
        text = [think_open, *cue, think_close, *response]
    if answer_open in text:
        return text[: text.index(answer_open) + 1]
    return [*text, answer_open]
