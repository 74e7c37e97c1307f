"""CARE (arXiv 2512.19554): identities of its advantage estimator, and properties of real ``care_rlvr`` runs.

- ``one_positive_identity``: a CARE subgroup (anchor + K′ hard negatives, binary rewards) has raw advantages
  exactly √K′ for the anchor and −1/√K′ for each negative (papers.md §3.3 (6)); measured through the whole
  pipeline (anchor choice, cosine hard negatives, z-score, scaling, equalisation) on random groups, with the
  raw advantages recovered from the final ones. Controls: subgroups holding a second positive (what a verified
  RGR repair makes), where the identity must fail.
- ``rescue_delta_invariance``: the all-negative rescue's advantages do not depend on δ, because z-scoring
  cancels it (papers.md §3.3 (7)); random all-negative groups at random δ against δ = 0.1. Controls: δ
  comparable to ε = 1e-6, the one case where δ matters.
- ``rescue_signal`` (runs): in CARE runs with rescue, no all-negative group is left without signal. Per
  training step with all-negative groups: the number of them with a nonzero advantage against their number.
  Controls: the same measurement on GRPO runs of the claim, where every all-negative group stalls.
- ``rgr_training_decodes`` (runs): "zero-overhead" conversion of failures — decodes per sampled policy rollout
  at each training step of an RGR run, against 1 (what a method without extra decodes spends). Controls: the
  same steps with a single extra decode added, which the tolerance must flag.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from repro.properties import PropertyCheck, rows


class EstimatorParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(4, ge=1)
    """K, hard negatives (official ``care.K=4``)."""
    m: int = Field(6, ge=1)
    """M, pool of nearest failures (official ``care.M=6``)."""
    s: float = Field(0.5, gt=0)
    """Negative-only scale (official ``care.neg_scale_s=0.5``)."""
    eps: float = Field(1e-6, gt=0)
    """ε of the z-score (official 1e-6)."""
    max_group: int = Field(8, ge=2)
    """Largest group size G drawn (paper: G = 8); groups of 2..G vary K′."""
    hidden: int = Field(16, ge=2)
    """Dimension of the random embeddings that stand in for pooled think-span states."""
    delta_low: float = Field(0.05, gt=0)
    delta_high: float = Field(20.0, gt=0)
    """Range of δ (log-uniform) for the rescue invariance; the paper's δ = 0.1 is the reference."""


def _group(rng: np.random.Generator, params: EstimatorParams, size: int):
    import torch

    embeddings = torch.as_tensor(rng.normal(size=(size, params.hidden)))
    logp = torch.as_tensor(-rng.uniform(1.0, 20.0, size))
    think = rng.integers(1, 6, size).tolist()
    answer = rng.integers(1, 3, size).tolist()
    return embeddings, logp, think, answer


def measure_one_positive(params: EstimatorParams, instances: int, rng: np.random.Generator, runs: list) -> pd.DataFrame:
    import torch

    from repro.methods import care

    lhs, rhs = [], []
    while len(lhs) < instances:
        size = int(rng.integers(2, params.max_group + 1))
        rewards = torch.zeros(size, dtype=torch.float64)
        rewards[int(rng.integers(size))] = 1.0
        embeddings, logp, think, answer = _group(rng, params, size)
        plan = care.plan_group(rewards, think, answer, embeddings, logp, params.k, params.m)
        adv = care.group_advantages(plan, rewards, params.k, params.s, eps=params.eps)
        k_prime = len(plan.negatives)
        eq = care.equalization(params.k, k_prime)
        lhs.append(adv[plan.anchor].item() / eq)  # the anchor keeps A_raw
        rhs.append(math.sqrt(k_prime))
        for j in plan.negatives:
            lhs.append(adv[j].item() / (params.s * eq))  # negatives were scaled to −s·|A_raw|
            rhs.append(-1.0 / math.sqrt(k_prime))
    main = rows(np.asarray(lhs[:instances]), np.asarray(rhs[:instances]), control=False)

    c_lhs, c_rhs = [], []
    for _ in range(max(8, instances // 20)):
        k_prime = int(rng.integers(2, params.k + 1))
        rewards = torch.tensor([1.0, 1.0] + [0.0] * (k_prime - 1), dtype=torch.float64)  # anchor + a repaired failure
        c_lhs.append(care.subgroup_zscore(rewards, params.eps)[0].item())
        c_rhs.append(math.sqrt(k_prime))
    controls = rows(np.asarray(c_lhs), np.asarray(c_rhs), control=True, start=instances)
    return pd.concat([main, controls], ignore_index=True)


def measure_delta_invariance(
    params: EstimatorParams, instances: int, rng: np.random.Generator, runs: list
) -> pd.DataFrame:
    import torch

    from repro.methods import care

    def rescue(delta: float, group) -> torch.Tensor:
        embeddings, logp, think, answer = group
        zeros = torch.zeros(len(think), dtype=torch.float64)
        plan = care.plan_group(zeros, think, answer, embeddings, logp, params.k, params.m)
        return care.group_advantages(plan, zeros, params.k, params.s, delta=delta, eps=params.eps)

    def draw(low: float, high: float, n: int):
        lhs, rhs = [], []
        while len(lhs) < n:
            group = _group(rng, params, int(rng.integers(2, params.max_group + 1)))
            delta = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            at_delta, at_reference = rescue(delta, group), rescue(0.1, group)
            signalled = at_reference != 0
            lhs += at_delta[signalled].tolist()
            rhs += at_reference[signalled].tolist()
        return np.asarray(lhs[:n]), np.asarray(rhs[:n])

    main = rows(*draw(params.delta_low, params.delta_high, instances), control=False)
    n_controls = max(8, instances // 20)
    controls = rows(*draw(1e-8, 1e-7, n_controls), control=True, start=instances)
    return pd.concat([main, controls], ignore_index=True)


class RunsParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _runs(run_dirs: list[Path]) -> list[tuple[dict, pd.DataFrame]]:
    from repro.files import read_json

    out = []
    for folder in run_dirs:
        record = read_json(Path(folder) / "run.json")
        out.append((record, pd.read_parquet(Path(folder) / record["artifacts"]["curve"]["file"])))
    return out


def measure_rescue_signal(params: RunsParams, instances: int, rng: np.random.Generator, runs: list) -> pd.DataFrame:
    main, controls = [], []
    for record, curve in _runs(runs):
        steps = curve[curve["all_negative_groups"] > 0]
        pair = (
            steps["all_negative_signalled"].to_numpy(dtype=float),
            steps["all_negative_groups"].to_numpy(dtype=float),
        )
        method, rescue = record["params"]["method"], record["params"]["rescue"]
        if method == "care" and rescue:
            main.append(pair)
        elif method == "grpo":
            controls.append(pair)
        else:
            raise ValueError(f"rescue_signal reads CARE runs with rescue and GRPO runs, not {method} (rescue={rescue})")
    if not main or sum(lhs.size for lhs, _ in main) == 0:
        raise ValueError("no all-negative group occurred in the CARE runs: the rescue was never exercised")
    lhs, rhs = (np.concatenate([pair[i] for pair in main])[:instances] for i in (0, 1))
    c_lhs, c_rhs = (np.concatenate([pair[i] for pair in controls]) if controls else np.zeros(0) for i in (0, 1))
    return pd.concat(
        [rows(lhs, rhs, control=False), rows(c_lhs, c_rhs, control=True, start=lhs.size)], ignore_index=True
    )


def measure_rgr_decodes(params: RunsParams, instances: int, rng: np.random.Generator, runs: list) -> pd.DataFrame:
    per_rollout = []
    policy = []
    for record, curve in _runs(runs):
        if not record["params"]["rgr"]:
            raise ValueError("rgr_training_decodes reads runs with RGR enabled")
        decodes = curve["policy_decodes"].to_numpy(dtype=float)
        per_rollout.append((decodes + curve["extra_decodes"].to_numpy(dtype=float)) / decodes)
        policy.append(decodes)
    lhs = np.concatenate(per_rollout)[:instances]
    one_more = lhs + 1.0 / np.concatenate(policy)[:instances]
    return pd.concat(
        [rows(lhs, np.ones(lhs.size), control=False), rows(one_more, np.ones(lhs.size), control=True, start=lhs.size)],
        ignore_index=True,
    )


ONE_POSITIVE_IDENTITY = PropertyCheck(
    params=EstimatorParams,
    measure=measure_one_positive,
    equation=(
        "A_raw[y⁺] = √K′ and A_raw[y⁻] = −1/√K′ for a subgroup of one positive and K′ negatives with binary rewards "
        "(mean 1/(K′+1), population sd √K′/(K′+1)); CARE code care.py, papers.md §3.3 (6)"
    ),
)
RESCUE_DELTA_INVARIANCE = PropertyCheck(
    params=EstimatorParams,
    measure=measure_delta_invariance,
    equation=(
        "A_rescue(δ) = A_rescue(0.1) for every δ ≫ ε: the pseudo-rewards (δ, −δ/K′, …) have mean 0 and population sd "
        "δ/√K′, so the subgroup z-score gives √K′ and −1/√K′ whatever δ (care.py rescue branch, papers.md §3.3 (7))"
    ),
)
RESCUE_SIGNAL = PropertyCheck(
    params=RunsParams,
    measure=measure_rescue_signal,
    equation="all-negative groups with a nonzero advantage = all-negative groups, at every step (CARE with rescue)",
    needs_runs=True,
)
RGR_TRAINING_DECODES = PropertyCheck(
    params=RunsParams,
    measure=measure_rgr_decodes,
    equation="decodes per sampled policy rollout at each training step with RGR = 1 (zero extra decodes)",
    needs_runs=True,
)
