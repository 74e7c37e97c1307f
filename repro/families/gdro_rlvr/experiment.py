"""GRPO, Prompt-GDRO and Rollout-GDRO on a verifiable-reward reasoning task (GDRO, arXiv 2601.19280v1).

One run trains one arm for one seed and evaluates it:

- ``method: none`` — the warm start: a supervised fine-tune of the policy, evaluated without any RL. It is the
  negative control ("warm start without RL") and, saved as a checkpoint, the starting point and frozen
  reference π_ref of every RL arm of the same model, task and seed (``requires``: computed once, shared).
  At full scale the paper's zero-SFT setting is ``sft_steps: 0``: RL starts from the hub base model and the
  ``none`` arm evaluates that base model.
- ``method: grpo`` — GRPO (Eqs. 3–7) with n̄ rollouts per prompt.
- ``method: prompt_gdro`` — GRPO whose advantages are reweighted by bin (§3.2, Eq. 16).
- ``method: rollout_gdro`` — GRPO whose rollout counts are chosen per bin under an exact mean budget n̄ (§3.3).

Each RL step samples ``prompts_per_step`` prompts from the training pool, generates their rollouts, scores
them (exact match, r ∈ {−1, +1}), updates the online pass@k classifier (§3.1), and performs the update in
``minibatches`` optimiser steps (the official scripts' 256-prompt batch in 128-prompt mini-batches), recording
each response's loss ℓ_{i,j} (Eq. 6) as it is computed; the adversaries then update from the prompt losses
ℓ(x_i) (Eq. 7). Evaluation samples ``eval_samples`` completions per held-out prompt at the paper's validation
settings (T 0.6, top-p 0.8, top-k 20); its metrics module turns them into mean@8, pass@8 and per-tier pass@8.

Scales. ci/reduced: a tiny Qwen3 built from a config (three widths standing in for Qwen3-1.7B/4B/8B-Base) on
:mod:`repro.tasks.chain_sums`; full: the Qwen3-*-Base checkpoints on DAPO-Math-17k-Processed (English), evaluated
on MATH-500 and AIME 2024 (:mod:`repro.tasks.dapo_math`), with App. A's hyperparameters.

Paper vs official code (reference/papers.md §1.3): the defaults follow the paper's equations; the code's
behaviour is selected by ``prompt_weighting: code``, ``arm_score: code``, ``rollout_bins: previous_step`` and
``adversary_loss: pg_only``. Training samples at temperature 1.0 as the official scripts do (App. A's 0.6 /
0.8 / 20 is the validation setting there); set ``train_temperature`` etc. for App. A's values.
"""

from __future__ import annotations

import copy
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from repro.families.gdro_rlvr.data import TaskData, chain_sum_data, dapo_math_data, to_device
from repro.families.gdro_rlvr.policy import HUB_QWEN3 as HUB_QWEN3  # re-exported with the loader (full scale)
from repro.families.gdro_rlvr.policy import build_policy, forward_precision, generate
from repro.families.gdro_rlvr.policy import load_pretrained_policy as load_pretrained_policy
from repro.families.gdro_rlvr.rl import curve_row, train_rl
from repro.families.gdro_rlvr.schemas import GDRO_MAX_BINS, GdroTrainPrompts

NOT_IMPLEMENTED = None

RL = {"rl": True}
"""``json_schema_extra`` of every parameter of the RL phase (:data:`RL_FIELDS`)."""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["none", "grpo", "prompt_gdro", "rollout_gdro"] = "grpo"
    """The arm: warm start without RL (negative control), GRPO, Prompt-GDRO (§3.2) or Rollout-GDRO (§3.3)."""
    model: Literal["qwen3-1.7b", "qwen3-4b", "qwen3-8b"] = "qwen3-4b"
    """Which Qwen3-Base the policy is (or stands in for, at ci/reduced scale) (Table 1)."""
    model_source: Literal["config", "hub"] = "config"
    """config: the tiny Qwen3 of policy.TINY_QWEN3, randomly initialised; hub: the Qwen3-*-Base checkpoint (full)."""
    compute_dtype: Literal["float32", "bfloat16"] = "float32"
    """Dtype of forward passes (torch.autocast). The weights and AdamW's state stay float32 either way: at the
    paper's lr 1e-6 an update is far below bf16's resolution, so bf16 weights would hardly train (verl, the
    official trainer, likewise keeps fp32 master weights and computes in bf16)."""
    task: Literal["chain_sums", "dapo_math"] = "chain_sums"
    """chain_sums: synthetic heavy-tailed task (ci/reduced); dapo_math: DAPO-Math-17k-Processed, evaluated on
    MATH-500 + AIME 2024 (full)."""
    pool_size: int = Field(1024, ge=8)
    """Training prompts in the pool (chain_sums; the paper's pool is DAPO's ≈14.1k English prompts)."""
    eval_per_tier: int = Field(64, ge=1)
    """Held-out prompts per difficulty tier (chain_sums)."""
    min_digits: int = Field(3, ge=1)
    """Chain length of the easiest tier (chain_sums)."""
    tier_frequencies: tuple[float, ...] = Field((0.50, 0.25, 0.12, 0.06, 0.04, 0.03), min_length=2, max_length=6)
    """Share of each tier in the training data (heavy-tailed; chain_sums)."""
    max_new_tokens: int | None = Field(None, ge=1)
    """Generation length limit; null: the longest reference answer (chain_sums). Full scale: 4096 (the Rollout
    script's ``max_response_length`` for math-dapo)."""
    generation_batch: int = Field(1024, ge=1)
    """Sequences per generation call (memory knob; results do not depend on it at ci)."""
    sft_steps: int = Field(250, ge=0)
    """Warm-start steps; 0 is the paper's zero-SFT (RL starts from the base checkpoint, App. A.1)."""
    sft_batch: int = Field(64, ge=1)
    """Warm-start examples per step."""
    sft_lr: float = Field(3e-3, gt=0)
    """Warm-start AdamW learning rate."""
    sft_max_tier: int = Field(1, ge=0)
    """The warm start sees only tiers ≤ this one (partial supervision: a base model with a difficulty frontier)."""

    rl_steps: int | None = Field(100, ge=1, json_schema_extra=RL)
    """RL steps (paper: 1000, App. A.1)."""
    prompts_per_step: int | None = Field(32, ge=2, json_schema_extra=RL)
    """Prompts per RL step (paper: global train batch 256, App. A.1)."""
    mean_rollouts: int | None = Field(4, ge=2, json_schema_extra=RL)
    """n̄, rollouts per prompt (GRPO) or the mean budget (Rollout-GDRO) (paper: 4)."""
    minibatches: int | None = Field(2, ge=1, json_schema_extra=RL)
    """Optimiser steps per RL step (official scripts: 256-prompt batch, 128-prompt PPO mini-batches)."""
    micro_batch: int | None = Field(4096, ge=1, json_schema_extra=RL)
    """Sequences per forward/backward inside a mini-batch (gradient accumulation; a memory knob)."""
    rl_lr: float | None = Field(5e-4, gt=0, json_schema_extra=RL)
    """RL AdamW learning rate (paper: 1e-6 for 1.7B–8B models; tiny models need larger steps)."""
    weight_decay: float | None = Field(0.01, ge=0, json_schema_extra=RL)
    """AdamW weight decay (verl's default)."""
    grad_clip: float | None = Field(1.0, gt=0, json_schema_extra=RL)
    """Gradient-norm clipping per optimiser step (verl's actor default ``grad_clip: 1.0``)."""
    eps_low: float | None = Field(0.2, gt=0, lt=1, json_schema_extra=RL)
    """ε_low of the clipped surrogate (App. A)."""
    eps_high: float | None = Field(0.28, gt=0, json_schema_extra=RL)
    """ε_high (App. A, clip-higher)."""
    beta_kl: float | None = Field(0.001, ge=0, json_schema_extra=RL)
    """β_KL of Eq. 6 (App. A)."""
    adv_clip: float | None = Field(5.0, gt=0, json_schema_extra=RL)
    """Advantages clipped to [−c, c] (App. A)."""
    loss_aggregation: Literal["sequence_mean", "token_mean"] | None = Field("sequence_mean", json_schema_extra=RL)
    """sequence_mean: Eqs. 5–7 (token mean per response, mean over responses); token_mean: verl/DAPO's."""
    train_temperature: float | None = Field(1.0, gt=0, json_schema_extra=RL)
    """Rollout temperature in training (official scripts 1.0; App. A states 0.6)."""
    train_top_p: float | None = Field(1.0, gt=0, le=1, json_schema_extra=RL)
    """Rollout top-p in training (official scripts 1.0; App. A states 0.8)."""
    train_top_k: int | None = Field(0, ge=0, json_schema_extra=RL)
    """Rollout top-k in training, 0 = off (official scripts; App. A states 20)."""
    n_bins: int | None = Field(10, ge=2, le=GDRO_MAX_BINS, json_schema_extra=RL)
    """B, online difficulty bins with equal-width edges (App. A: 10 bins, edges 0.1 … 0.9)."""
    passk_history: int | None = Field(50, ge=1, json_schema_extra=RL)
    """H, sliding window of past visits per prompt (Eq. 10; official scripts 50)."""
    hysteresis: float | None = Field(0.03, ge=0, lt=0.5, json_schema_extra=RL)
    """δ, margin for leaving a bin (§3.1; official scripts 0.03)."""
    adversary_loss: Literal["total", "pg_only"] | None = Field("total", json_schema_extra=RL)
    """What the adversaries read: ℓ_{i,j} of Eq. 6 (with the KL term) or the official code's PG-only loss."""
    eta_q: float | None = Field(0.65, gt=0, json_schema_extra=RL)
    """Prompt-GDRO η_q (App. A.2.1)."""
    gamma_q: float | None = Field(0.01, ge=0, le=1, json_schema_extra=RL)
    """Prompt-GDRO uniform mix γ (App. A.2.1)."""
    ema_beta: float | None = Field(0.12, gt=0, le=1, json_schema_extra=RL)
    """Prompt-GDRO EMA β (App. A.2.1)."""
    weight_cap: float | None = Field(15.0, gt=0, json_schema_extra=RL)
    """ω_max, the max class weight (App. A.2.1)."""
    score_clip: float | None = Field(10.0, gt=0, json_schema_extra=RL)
    """C of Eq. 14 (not stated in the paper)."""
    share_normalize: bool | None = Field(True, json_schema_extra=RL)
    """Divide each bin's step-mean loss by its batch share before the EMA (App. A.2.1 "loss normalised by class
    share"; §3.2 calls it optional). Off at ci/reduced: with a 32-prompt batch it multiplies a one-prompt bin's
    noisy, either-signed loss by 32, and the EMA of the bin mean already estimates L_b without frequency bias
    (repro/methods/difficulty_gdro.py, PromptGDRO)."""
    score_standardize: bool | None = Field(False, json_schema_extra=RL)
    """z-score the bins' EMA scores (cap ±3) before Eq. 14's exponent (the official code's ``use_zscore``). On at
    ci/reduced, where the loss signal ℓ(x_i) is ≈5e-4 and exp(0.65·S) ≈ 1 would leave the adversary at uniform."""
    share_floor: float | None = Field(0.01, gt=0, le=1, json_schema_extra=RL)
    """Floor of the bin share when normalising bin losses by it (§3.2 "with a small floor"; value not stated)."""
    prompt_weighting: Literal["paper", "code"] | None = Field("paper", json_schema_extra=RL)
    """Prompt-GDRO weights: Eq. 16 (paper) or the official code's normalised, mean-1 weights."""
    rollout_min: int | None = Field(2, ge=1, json_schema_extra=RL)
    """Smallest rollout arm n_min (App. A.2.2)."""
    rollout_max: int | None = Field(12, ge=1, json_schema_extra=RL)
    """Largest rollout arm n_max (App. A.2.2: 3 × n̄)."""
    arm_eta: float | None = Field(0.65, gt=0, json_schema_extra=RL)
    """Rollout-GDRO arm η (App. A.2.2)."""
    arm_gamma: float | None = Field(0.01, ge=0, le=1, json_schema_extra=RL)
    """Rollout-GDRO arm γ (App. A.2.2)."""
    arm_score_ema: float | None = Field(0.4, gt=0, le=1, json_schema_extra=RL)
    """Rollout-GDRO arm-score EMA decay (App. A.2.2)."""
    dual_lr: float | None = Field(0.05, ge=0, json_schema_extra=RL)
    """α_μ of Eq. 21 (App. A.2.2)."""
    arm_score: Literal["paper", "code"] | None = Field("paper", json_schema_extra=RL)
    """Arm scores: Eq. 20's penalised loss (paper) or the official code's sign and accumulation."""
    rollout_bins: Literal["history", "previous_step"] | None = Field("history", json_schema_extra=RL)
    """Bins Rollout-GDRO allocates by: the current prompts' history bins (paper) or step N−1's list (code)."""

    eval_samples: int = Field(8, ge=8)
    """Completions per held-out prompt (§5: mean@8 and pass@8)."""
    eval_temperature: float = Field(0.6, gt=0)
    """Validation temperature (App. A / official scripts)."""
    eval_top_p: float = Field(0.8, gt=0, le=1)
    """Validation top-p (App. A / official scripts)."""
    eval_top_k: int = Field(20, ge=0)
    """Validation top-k (App. A / official scripts)."""
    curve_every: int = Field(1, ge=1)
    """Log a curve row every this many steps."""

    @model_validator(mode="before")
    @classmethod
    def _no_rl_fields_without_rl(cls, data):
        if isinstance(data, dict) and data.get("method") == "none":
            data = {**data, **dict.fromkeys(RL_FIELDS)}
        return data

    @model_validator(mode="after")
    def _coherent(self) -> Params:
        if self.method != "none":
            missing = [name for name in RL_FIELDS if getattr(self, name) is None]
            if missing:
                raise ValueError(f"method {self.method} needs {', '.join(missing)}")
            if not self.rollout_min <= self.mean_rollouts <= self.rollout_max:
                raise ValueError("mean_rollouts must lie between rollout_min and rollout_max")
            if self.prompts_per_step < self.minibatches:
                raise ValueError("prompts_per_step must be at least minibatches")
        if (self.model_source == "hub") != (self.task == "dapo_math"):
            raise ValueError("the hub checkpoints go with task dapo_math, the tiny config models with chain_sums")
        if self.task == "chain_sums" and self.sft_max_tier >= len(self.tier_frequencies):
            raise ValueError("sft_max_tier must name one of the tiers")
        if self.model_source == "config" and self.sft_steps == 0:
            raise ValueError("a randomly initialised config model needs a warm start (sft_steps > 0)")
        return self


# ci/reduced: a pool small enough that each prompt is revisited about as often as in the paper (256 prompts × 1000
# steps over DAPO's ≈14.1k prompts ≈ 18 visits; here 32 × 100 / 256 ≈ 12.5 at ci, 32 × 300 / 512 ≈ 19 reduced), so
# the online pass@k classifier (Eq. 10) has a history; the adversary's scores z-scored (see score_standardize) and
# not divided by the bin share (see share_normalize).
TOY_ADVERSARY = {"score_standardize": True, "share_normalize": False}
SCALES = {
    "ci": {"pool_size": 256, **TOY_ADVERSARY},
    "reduced": {"pool_size": 512, "eval_per_tier": 128, "rl_steps": 300, **TOY_ADVERSARY},
    "full": {
        # App. A.1: Qwen3-*-Base, zero-SFT, batch 256, 1000 steps, AdamW lr 1e-6, n = 4, 8 validation samples.
        "model_source": "hub",
        "compute_dtype": "bfloat16",
        "task": "dapo_math",
        "sft_steps": 0,
        "rl_steps": 1000,
        "prompts_per_step": 256,
        "rl_lr": 1e-6,
        "max_new_tokens": 4096,
        "generation_batch": 64,
        "micro_batch": 4,
    },
}


def requires(params: Params) -> dict:
    """RL arms start from the warm start of the same model, task and seed: its own run, shared by every arm."""
    if params.method == "none" or params.sft_steps == 0:
        return {}
    return {"warm_start": ("gdro_rlvr", {**params.model_dump(mode="json"), "method": "none"})}


RL_FIELDS = tuple(name for name, info in Params.model_fields.items() if (info.json_schema_extra or {}).get("rl"))
"""Parameters of the RL phase (marked ``json_schema_extra=RL``). A ``none`` run trains no RL, so they are not part
of its identity: they are set to null, which makes the warm start's run key the same whichever RL arm asks for it."""


# ------------------------------------------------------------------ warm start, evaluation


def warm_start(policy, data: TaskData, params: Params, rng: np.random.Generator, rec) -> None:
    """Supervised fine-tuning on the warm start's (partial) supervision: cross-entropy on answer tokens."""
    import torch

    optimizer = torch.optim.AdamW(policy.parameters(), lr=params.sft_lr, weight_decay=0.01)
    policy.train()
    for step in rec.progress(range(params.sft_steps), desc=f"warm start {params.model}"):
        ids, mask, labels = data.sft_batch(rng, params.sft_batch)
        with forward_precision(policy, params):
            loss = policy(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % params.curve_every == 0 or step == params.sft_steps - 1:
            rec.log_curve(step, **curve_row(sft_loss=loss.item()))


def evaluate(policy, data: TaskData, params: Params, seed: int, progress=lambda items, **_: items) -> pd.DataFrame:
    """``eval_samples`` completions per held-out prompt at the validation settings; one row per sample."""
    import torch

    policy.eval()
    # Evaluation draws from its own stream: the same seed gives every arm the same sampling noise (paired arms).
    generator = torch.Generator(device=data.eval.ids.device).manual_seed(seed + 1_000_003)
    k = params.eval_samples
    index = np.repeat(np.arange(len(data.eval)), k)
    with forward_precision(policy, params):
        completions, completion_mask, _ = generate(
            policy,
            data.eval.ids[index],
            data.eval.mask[index],
            data,
            chunk=params.generation_batch,
            generator=generator,
            temperature=params.eval_temperature,
            top_k=params.eval_top_k,
            top_p=params.eval_top_p,
            progress=progress,
        )
    completions = completions.cpu()
    return pd.DataFrame(
        {
            "prompt_id": index,
            "uid": data.eval.uid[index],
            "tier": data.eval.tier[index],
            "sample": np.tile(np.arange(k), len(data.eval)),
            "correct": data.eval.verify(index, completions),
            "completion_length": completion_mask.sum(dim=1).cpu().numpy(),
            "completion": data.decode(completions),
        }
    )


# ------------------------------------------------------------------ the run


def run(params: Params, seed: int, rec) -> None:
    rng = np.random.default_rng(seed)
    policy, tokenizer = build_policy(params)
    data = chain_sum_data(params, rng) if params.task == "chain_sums" else dapo_math_data(params, rng, tokenizer)
    data = to_device(data, next(policy.parameters()).device)
    if params.method == "none":
        _run_warm_start(policy, data, params, seed, rng, rec)
    else:
        _run_rl(policy, data, params, seed, rng, rec)


def _run_warm_start(policy, data: TaskData, params: Params, seed: int, rng: np.random.Generator, rec) -> None:
    """``method: none``: the warm start (saved as the RL arms' checkpoint) or, at zero-SFT, the base model."""
    rec.snapshot_weights("init", policy)
    if params.sft_steps > 0:
        warm_start(policy, data, params, rng, rec)
        rec.save_checkpoint(policy.state_dict())
    else:
        rec.log_curve(0, **curve_row())
    rec.snapshot_weights("final", policy)
    rec.write_predictions("samples", evaluate(policy, data, params, seed, rec.progress))
    rec.write_predictions("train_prompts", pd.DataFrame(columns=list(GdroTrainPrompts.to_schema().columns)))


def _run_rl(policy, data: TaskData, params: Params, seed: int, rng: np.random.Generator, rec) -> None:
    """An RL arm: from the warm start, which is also the frozen reference π_ref."""
    import torch

    if params.sft_steps > 0:
        policy.load_state_dict(rec.load_checkpoint("warm_start"))
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    rec.snapshot_weights("init", policy)
    generator = torch.Generator(device=next(policy.parameters()).device).manual_seed(seed)
    log = train_rl(policy, reference, data, params, rng, generator, rec)
    rec.snapshot_weights("final", policy)
    rec.write_predictions("samples", evaluate(policy, data, params, seed, rec.progress))
    rec.write_predictions("train_prompts", log)
