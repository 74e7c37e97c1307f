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
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from repro.families.gdro_rlvr.schemas import GDRO_MAX_BINS, GdroCurve, GdroTrainPrompts

NOT_IMPLEMENTED = None

TINY_QWEN3 = {
    # Stand-ins for Qwen3-{1.7B, 4B, 8B}-Base at ci/reduced scale: the Qwen3 architecture (RoPE, GQA, RMSNorm,
    # SwiGLU) at widths whose parameter counts grow roughly as the originals' (≈ 1 : 2.3 : 4).
    "qwen3-1.7b": {"hidden_size": 32, "intermediate_size": 64, "head_dim": 8},
    "qwen3-4b": {"hidden_size": 48, "intermediate_size": 96, "head_dim": 12},
    "qwen3-8b": {"hidden_size": 64, "intermediate_size": 128, "head_dim": 16},
}
HUB_QWEN3 = {"qwen3-1.7b": "Qwen/Qwen3-1.7B-Base", "qwen3-4b": "Qwen/Qwen3-4B-Base", "qwen3-8b": "Qwen/Qwen3-8B-Base"}

RL_FIELDS = (
    "rl_steps",
    "prompts_per_step",
    "mean_rollouts",
    "minibatches",
    "micro_batch",
    "rl_lr",
    "weight_decay",
    "grad_clip",
    "eps_low",
    "eps_high",
    "beta_kl",
    "adv_clip",
    "loss_aggregation",
    "train_temperature",
    "train_top_p",
    "train_top_k",
    "n_bins",
    "passk_history",
    "hysteresis",
    "adversary_loss",
    "eta_q",
    "gamma_q",
    "ema_beta",
    "weight_cap",
    "score_clip",
    "share_floor",
    "prompt_weighting",
    "rollout_min",
    "rollout_max",
    "arm_eta",
    "arm_gamma",
    "arm_score_ema",
    "dual_lr",
    "arm_score",
    "rollout_bins",
)
"""Parameters of the RL phase. A ``none`` run trains no RL, so they are not part of its identity: they are
set to null, which makes the warm start's run key the same whichever RL arm asks for it."""


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["none", "grpo", "prompt_gdro", "rollout_gdro"] = "grpo"
    """The arm: warm start without RL (negative control), GRPO, Prompt-GDRO (§3.2) or Rollout-GDRO (§3.3)."""
    model: Literal["qwen3-1.7b", "qwen3-4b", "qwen3-8b"] = "qwen3-4b"
    """Which Qwen3-Base the policy is (or stands in for, at ci/reduced scale) (Table 1)."""
    model_source: Literal["config", "hub"] = "config"
    """config: the tiny Qwen3 of TINY_QWEN3, randomly initialised; hub: the Qwen3-*-Base checkpoint (full)."""
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

    rl_steps: int | None = Field(100, ge=1)
    """RL steps (paper: 1000, App. A.1)."""
    prompts_per_step: int | None = Field(32, ge=2)
    """Prompts per RL step (paper: global train batch 256, App. A.1)."""
    mean_rollouts: int | None = Field(4, ge=2)
    """n̄, rollouts per prompt (GRPO) or the mean budget (Rollout-GDRO) (paper: 4)."""
    minibatches: int | None = Field(2, ge=1)
    """Optimiser steps per RL step (official scripts: 256-prompt batch, 128-prompt PPO mini-batches)."""
    micro_batch: int | None = Field(4096, ge=1)
    """Sequences per forward/backward inside a mini-batch (gradient accumulation; a memory knob)."""
    rl_lr: float | None = Field(5e-4, gt=0)
    """RL AdamW learning rate (paper: 1e-6 for 1.7B–8B models; tiny models need larger steps)."""
    weight_decay: float | None = Field(0.01, ge=0)
    """AdamW weight decay (verl's default)."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Gradient-norm clipping per optimiser step (verl's actor default ``grad_clip: 1.0``)."""
    eps_low: float | None = Field(0.2, gt=0, lt=1)
    """ε_low of the clipped surrogate (App. A)."""
    eps_high: float | None = Field(0.28, gt=0)
    """ε_high (App. A, clip-higher)."""
    beta_kl: float | None = Field(0.001, ge=0)
    """β_KL of Eq. 6 (App. A)."""
    adv_clip: float | None = Field(5.0, gt=0)
    """Advantages clipped to [−c, c] (App. A)."""
    loss_aggregation: Literal["sequence_mean", "token_mean"] | None = "sequence_mean"
    """sequence_mean: Eqs. 5–7 (token mean per response, mean over responses); token_mean: verl/DAPO's."""
    train_temperature: float | None = Field(1.0, gt=0)
    """Rollout temperature in training (official scripts 1.0; App. A states 0.6)."""
    train_top_p: float | None = Field(1.0, gt=0, le=1)
    """Rollout top-p in training (official scripts 1.0; App. A states 0.8)."""
    train_top_k: int | None = Field(0, ge=0)
    """Rollout top-k in training, 0 = off (official scripts; App. A states 20)."""
    n_bins: int | None = Field(10, ge=2, le=GDRO_MAX_BINS)
    """B, online difficulty bins with equal-width edges (App. A: 10 bins, edges 0.1 … 0.9)."""
    passk_history: int | None = Field(50, ge=1)
    """H, sliding window of past visits per prompt (Eq. 10; official scripts 50)."""
    hysteresis: float | None = Field(0.03, ge=0, lt=0.5)
    """δ, margin for leaving a bin (§3.1; official scripts 0.03)."""
    adversary_loss: Literal["total", "pg_only"] | None = "total"
    """What the adversaries read: ℓ_{i,j} of Eq. 6 (with the KL term) or the official code's PG-only loss."""
    eta_q: float | None = Field(0.65, gt=0)
    """Prompt-GDRO η_q (App. A.2.1)."""
    gamma_q: float | None = Field(0.01, ge=0, le=1)
    """Prompt-GDRO uniform mix γ (App. A.2.1)."""
    ema_beta: float | None = Field(0.12, gt=0, le=1)
    """Prompt-GDRO EMA β (App. A.2.1)."""
    weight_cap: float | None = Field(15.0, gt=0)
    """ω_max, the max class weight (App. A.2.1)."""
    score_clip: float | None = Field(10.0, gt=0)
    """C of Eq. 14 (not stated in the paper)."""
    share_floor: float | None = Field(0.01, gt=0, le=1)
    """Floor of the bin share when normalising bin losses by it (§3.2 "with a small floor"; value not stated)."""
    prompt_weighting: Literal["paper", "code"] | None = "paper"
    """Prompt-GDRO weights: Eq. 16 (paper) or the official code's normalised, mean-1 weights."""
    rollout_min: int | None = Field(2, ge=1)
    """Smallest rollout arm n_min (App. A.2.2)."""
    rollout_max: int | None = Field(12, ge=1)
    """Largest rollout arm n_max (App. A.2.2: 3 × n̄)."""
    arm_eta: float | None = Field(0.65, gt=0)
    """Rollout-GDRO arm η (App. A.2.2)."""
    arm_gamma: float | None = Field(0.01, ge=0, le=1)
    """Rollout-GDRO arm γ (App. A.2.2)."""
    arm_score_ema: float | None = Field(0.4, gt=0, le=1)
    """Rollout-GDRO arm-score EMA decay (App. A.2.2)."""
    dual_lr: float | None = Field(0.05, ge=0)
    """α_μ of Eq. 21 (App. A.2.2)."""
    arm_score: Literal["paper", "code"] | None = "paper"
    """Arm scores: Eq. 20's penalised loss (paper) or the official code's sign and accumulation."""
    rollout_bins: Literal["history", "previous_step"] | None = "history"
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


SCALES = {
    "ci": {},
    "reduced": {"pool_size": 2048, "eval_per_tier": 128, "rl_steps": 300},
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


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class PromptSet:
    """Prompts as the loop sees them: left-padded token ids (N, P) with their mask, a stable uid, a difficulty
    tier, and a verifier ``verify(indices, completion_ids) -> (R,) bool``."""

    ids: object
    mask: object
    uid: np.ndarray
    tier: np.ndarray
    verify: Callable[[np.ndarray, object], np.ndarray]

    def __len__(self) -> int:
        return len(self.uid)


@dataclass(frozen=True)
class TaskData:
    pool: PromptSet
    eval: PromptSet
    eos_id: int
    pad_id: int
    max_new_tokens: int
    decode: Callable[[object], list[str]]
    sft_batch: Callable[[np.random.Generator, int], tuple] | None
    """(input ids, attention mask, labels) of supervised examples, or None (zero-SFT)."""


def chain_sum_data(params: Params, rng: np.random.Generator) -> TaskData:
    import torch

    from repro.tasks import chain_sums as cs

    task = cs.make_chain_sum_task(
        rng, params.pool_size, params.eval_per_tier, params.min_digits, params.tier_frequencies
    )

    def prompt_set(split: cs.ChainSumSplit) -> PromptSet:
        ids = torch.as_tensor(cs.prompt_tokens(split.digits))
        references = cs.answer_tokens(split.digits)

        def verify(indices: np.ndarray, completions) -> np.ndarray:
            return cs.exact_match(completions.numpy(), references[indices])

        return PromptSet(ids, torch.ones_like(ids), split.uid.astype(str), split.tier, verify)

    def sft_batch(rng: np.random.Generator, size: int):
        sup = cs.sample_supervised(task, rng, size, params.sft_max_tier)
        ids = torch.as_tensor(np.concatenate([cs.prompt_tokens(sup.digits), cs.answer_tokens(sup.digits)], axis=1))
        labels = ids.masked_fill(ids == cs.PAD, -100)
        labels[:, : task.prompt_length] = -100
        return ids, (ids != cs.PAD).long(), labels

    return TaskData(
        prompt_set(task.pool),
        prompt_set(task.eval),
        cs.EOS,
        cs.PAD,
        params.max_new_tokens or task.max_completion_length,
        lambda completions: cs.to_text(completions.numpy()),
        sft_batch,
    )


def dapo_math_data(params: Params, rng: np.random.Generator, tokenizer) -> TaskData:
    """Full scale: DAPO-Math-17k-Processed (en) as the pool; MATH-500 (tiers 0–4) and AIME 2024 (tier 5) held out."""
    from repro.tasks import dapo_math

    def prompt_set(prompts: list[str], answers: list[str], tiers: list[int]) -> PromptSet:
        enc = tokenizer(prompts, padding=True, padding_side="left", return_tensors="pt")

        def verify(indices: np.ndarray, completions) -> np.ndarray:
            texts = tokenizer.batch_decode(completions, skip_special_tokens=True)
            return np.array([dapo_math.is_correct(t, answers[i]) for t, i in zip(texts, indices, strict=True)])

        uid = np.array([hashlib.sha256(p.encode()).hexdigest()[:16] for p in prompts])  # stable across processes
        return PromptSet(enc["input_ids"], enc["attention_mask"], uid, np.asarray(tiers), verify)

    train = dapo_math.load_dapo_math()
    order = rng.permutation(len(train))
    pool = prompt_set([train[i][0] for i in order], [train[i][1] for i in order], [0] * len(order))
    test = dapo_math.load_eval_tiers()
    held = prompt_set([p for p, _, _ in test], [a for _, a, _ in test], [t for _, _, t in test])
    return TaskData(
        pool,
        held,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        params.max_new_tokens or 4096,
        lambda completions: tokenizer.batch_decode(completions, skip_special_tokens=True),
        None,
    )


def load_pretrained_policy(name: str):
    """A pretrained causal LM (hub id or local folder) with float32 weights, whatever dtype its checkpoint is
    stored in (Qwen3-*-Base: bf16). Adam moves each weight by about lr per step, 1e-6 at full scale, while
    bf16 resolves only 2⁻⁸ of a weight's magnitude (≈ 8e-5 at |w| = 0.02): on bf16 weights most updates round
    away. Forward passes still run in bf16 where ``compute_dtype`` asks (:func:`forward_precision`)."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32)


def forward_precision(model, params: Params):
    """A context in which ``model``'s forward passes run in ``params.compute_dtype`` (torch.autocast; disabled at
    float32). Wrap forward passes and losses only: backward then follows the forward's dtypes by itself."""
    import torch

    device_type = next(model.parameters()).device.type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=params.compute_dtype == "bfloat16")


def build_policy(params: Params):
    """(policy, tokenizer or None): a tiny Qwen3 from its config, or the Qwen3-*-Base checkpoint (full scale)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

    from repro.tasks import chain_sums as cs

    if params.model_source == "hub":
        name = HUB_QWEN3[params.model]
        tokenizer = AutoTokenizer.from_pretrained(name)
        return load_pretrained_policy(name).to("cuda" if torch.cuda.is_available() else "cpu"), tokenizer
    config = Qwen3Config(
        vocab_size=cs.VOCAB_SIZE,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        bos_token_id=cs.EOS,
        eos_token_id=cs.EOS,
        pad_token_id=cs.PAD,
        **TINY_QWEN3[params.model],
    )
    return AutoModelForCausalLM.from_config(config), None


# ------------------------------------------------------------------ curve rows


def _curve(**values) -> dict[str, float]:
    """A full curve row: every GdroCurve column, NaN unless given."""
    row = dict.fromkeys((c for c in GdroCurve.to_schema().columns if c != "step"), math.nan)
    row.update(values)
    return row


def _per_bin(name: str, values: np.ndarray) -> dict[str, float]:
    out = {f"{name}_bin{b}": math.nan for b in range(GDRO_MAX_BINS)}
    out.update({f"{name}_bin{b}": float(v) for b, v in enumerate(values)})
    return out


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
            rec.log_curve(step, **_curve(sft_loss=loss.item()))


def evaluate(policy, data: TaskData, params: Params, seed: int) -> pd.DataFrame:
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
            params.generation_batch,
            generator,
            params.eval_temperature,
            params.eval_top_k,
            params.eval_top_p,
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
    import torch

    rng = np.random.default_rng(seed)
    policy, tokenizer = build_policy(params)
    data = chain_sum_data(params, rng) if params.task == "chain_sums" else dapo_math_data(params, rng, tokenizer)
    device = next(policy.parameters()).device
    data = replace(
        data,
        pool=replace(data.pool, ids=data.pool.ids.to(device), mask=data.pool.mask.to(device)),
        eval=replace(data.eval, ids=data.eval.ids.to(device), mask=data.eval.mask.to(device)),
    )

    if params.method == "none":
        rec.snapshot_weights("init", policy)
        if params.sft_steps > 0:
            warm_start(policy, data, params, rng, rec)
            rec.save_checkpoint(policy.state_dict())
        else:
            rec.log_curve(0, **_curve())
        rec.snapshot_weights("final", policy)
        rec.write_predictions("samples", evaluate(policy, data, params, seed))
        rec.write_predictions("train_prompts", pd.DataFrame(columns=list(GdroTrainPrompts.to_schema().columns)))
        return

    if params.sft_steps > 0:
        policy.load_state_dict(rec.load_checkpoint("warm_start"))
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    rec.snapshot_weights("init", policy)
    generator = torch.Generator(device=device).manual_seed(seed)
    log = train_rl(policy, reference, data, params, rng, generator, rec)
    rec.snapshot_weights("final", policy)
    rec.write_predictions("samples", evaluate(policy, data, params, seed))
    rec.write_predictions("train_prompts", log)


def generate(policy, ids, mask, data: TaskData, chunk: int, generator, temperature: float, top_k: int, top_p: float):
    """Completions in chunks of ``chunk`` sequences: (completion ids, mask, sampling log-probs), each (R, T)."""
    import torch
    from torch.nn.functional import pad

    from repro.methods.sampling import sample

    parts = [
        sample(
            policy,
            ids[s : s + chunk],
            mask[s : s + chunk],
            data.max_new_tokens,
            data.eos_id,
            data.pad_id,
            generator,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
        )
        for s in range(0, len(ids), chunk)
    ]
    width = max(p.completion_ids.shape[1] for p in parts)
    return (
        torch.cat([pad(p.completion_ids, (0, width - p.completion_ids.shape[1]), value=data.pad_id) for p in parts]),
        torch.cat([pad(p.completion_mask, (0, width - p.completion_mask.shape[1])) for p in parts]),
        torch.cat([pad(p.logprobs, (0, width - p.logprobs.shape[1])) for p in parts]),
    )


def teacher_forced(model, ids, mask, completion, completion_mask, params: Params):
    """Per-token log-probabilities of the sampled completions under ``model`` (no grad), in micro-batches."""
    import torch

    from repro.methods.sampling import token_logprobs

    step = params.micro_batch
    return torch.cat(
        [
            token_logprobs(
                model,
                ids[s : s + step],
                mask[s : s + step],
                completion[s : s + step],
                completion_mask[s : s + step],
                params.train_temperature,
            )
            for s in range(0, len(ids), step)
        ]
    )


def train_rl(policy, reference, data: TaskData, params: Params, rng, generator, rec) -> pd.DataFrame:
    """The RL loop; returns the per-(step, prompt) training log."""
    import torch

    from repro.methods.gdro import PassAtKClassifier, PromptGDRO, RolloutGDRO, bin_means, weighted_standard_error
    from repro.methods.grpo import clip_advantages, grpo_loss, kl_k3, ragged_group_advantages
    from repro.methods.sampling import token_logprobs

    n_bar, n_bins = params.mean_rollouts, params.n_bins
    edges = tuple(np.arange(1, n_bins) / n_bins)
    classifier = PassAtKClassifier(edges, params.passk_history, params.hysteresis)
    prompt_gdro = PromptGDRO(
        n_bins,
        params.eta_q,
        params.gamma_q,
        params.ema_beta,
        params.weight_cap,
        params.score_clip,
        share_floor=params.share_floor,
        weighting=params.prompt_weighting,
    )
    rollout_gdro = RolloutGDRO(
        n_bins,
        tuple(range(params.rollout_min, params.rollout_max + 1)),
        n_bar,
        params.arm_eta,
        params.arm_gamma,
        params.arm_score_ema,
        params.dual_lr,
        params.arm_score,
    )
    optimizer = torch.optim.AdamW(policy.parameters(), lr=params.rl_lr, weight_decay=params.weight_decay)
    filtered = params.train_top_p < 1.0 or params.train_top_k > 0
    previous_bins = np.zeros(params.prompts_per_step, dtype=np.int64)
    log = []

    for step in rec.progress(range(params.rl_steps), desc=f"{params.method} {params.model}"):
        chosen = rng.choice(len(data.pool), size=params.prompts_per_step, replace=False)
        uids = data.pool.uid[chosen]

        # Rollout counts: n̄ each, or Rollout-GDRO's exact-budget allocation over bins known before generation.
        if params.method == "rollout_gdro":
            act_bins = classifier.assign(uids) if params.rollout_bins == "history" else previous_bins
            rollouts_per_prompt, rollouts_per_bin = rollout_gdro.allocate(act_bins)
        else:
            rollouts_per_prompt = np.full(len(chosen), n_bar)
        owner = np.repeat(np.arange(len(chosen)), rollouts_per_prompt)

        policy.eval()
        ids, mask = data.pool.ids[chosen[owner]], data.pool.mask[chosen[owner]]
        with forward_precision(policy, params):
            completion, completion_mask, sample_logp = generate(
                policy,
                ids,
                mask,
                data,
                params.generation_batch,
                generator,
                params.train_temperature,
                params.train_top_k,
                params.train_top_p,
            )
        correct = data.pool.verify(chosen[owner], completion.cpu())
        rewards = np.where(correct, 1.0, -1.0)
        any_correct = np.bincount(owner, weights=correct.astype(float), minlength=len(chosen)) > 0
        classifier.record(uids, any_correct)  # c_t(x) from this step's rollouts (official code)
        bins = classifier.assign(uids)  # g_t(x), Eq. 11
        if params.method != "rollout_gdro":
            act_bins = bins

        # Advantages (Eq. 3, per prompt group of any size), clipped (App. A), then Prompt-GDRO's weights (Eq. 16).
        group = torch.as_tensor(owner)
        adv = clip_advantages(ragged_group_advantages(torch.as_tensor(rewards), group, len(chosen)), params.adv_clip)
        if params.method == "prompt_gdro":
            weights, q_step = prompt_gdro.sample_weights(bins), prompt_gdro.distribution()
        else:
            weights, q_step = np.ones(len(chosen)), np.full(n_bins, math.nan)
        adv = (adv * torch.as_tensor(weights)[group]).float()

        with torch.no_grad(), forward_precision(policy, params):
            # Unfiltered sampling records π_old's own log-probabilities (tests/test_grpo.py); filtered sampling
            # (top-p/top-k) does not, so π_old is then re-scored teacher-forced, as verl does.
            old_logp = (
                teacher_forced(policy, ids, mask, completion, completion_mask, params) if filtered else sample_logp
            )
            ref_logp = teacher_forced(reference, ids, mask, completion, completion_mask, params)

        # The update: prompts split into mini-batches, one optimiser step each; ℓ_{i,j} recorded as computed.
        policy.train()
        per_response = torch.zeros(len(owner))
        kl_token = torch.zeros(len(owner))
        losses = []
        for mb_prompts in np.array_split(rng.permutation(len(chosen)), params.minibatches):
            rows = np.flatnonzero(np.isin(owner, mb_prompts))
            denominator = completion_mask[rows].sum().item() if params.loss_aggregation == "token_mean" else len(rows)
            optimizer.zero_grad()
            total = 0.0
            for s in range(0, len(rows), params.micro_batch):
                r = torch.as_tensor(rows[s : s + params.micro_batch])
                with forward_precision(policy, params):  # log-probabilities come back float32 (token_logprobs)
                    logp = token_logprobs(
                        policy, ids[r], mask[r], completion[r], completion_mask[r], params.train_temperature
                    )
                loss, responses = grpo_loss(
                    logp,
                    old_logp[r],
                    ref_logp[r],
                    adv[r],
                    completion_mask[r],
                    params.eps_low,
                    params.eps_high,
                    params.beta_kl,
                    params.loss_aggregation,
                )
                share = (
                    completion_mask[r].sum().item() if params.loss_aggregation == "token_mean" else len(r)
                ) / denominator
                (loss * share).backward()
                total += loss.item() * share
                per_response[r] = responses.detach()
                lengths = completion_mask[r].sum(dim=1).clamp(min=1)
                kl_token[r] = ((kl_k3(logp.detach(), ref_logp[r]) * completion_mask[r]).sum(dim=1) / lengths).float()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), params.grad_clip)
            optimizer.step()
            losses.append(total)

        # The adversaries read the prompt losses ℓ(x_i) = mean_j ℓ_{i,j} (Eq. 7).
        signal = per_response if params.adversary_loss == "total" else per_response - params.beta_kl * kl_token
        prompt_losses = np.bincount(owner, weights=signal.numpy(), minlength=len(chosen)) / rollouts_per_prompt
        if params.method == "prompt_gdro":
            prompt_gdro.update(bins, prompt_losses)
        elif params.method == "rollout_gdro":
            rollout_gdro.update(act_bins, rollouts_per_bin, prompt_losses)
        previous_bins = bins

        mean_reward = np.bincount(owner, weights=rewards, minlength=len(chosen)) / rollouts_per_prompt
        log.append(
            pd.DataFrame(
                {
                    "step": step,
                    "uid": uids,
                    "tier": data.pool.tier[chosen],
                    "bin": act_bins,
                    "rollouts": rollouts_per_prompt,
                    "weight": weights,
                    "reward_mean": mean_reward,
                }
            )
        )
        if step % params.curve_every == 0 or step == params.rl_steps - 1:
            counts = np.bincount(act_bins, minlength=n_bins)
            present = counts > 0
            share = counts / counts.sum()
            n_per_bin = bin_means(act_bins, rollouts_per_prompt.astype(float), n_bins)[0]
            in_bin = act_bins[owner]
            reward_sd = np.array([rewards[in_bin == b].std() if present[b] else 0.0 for b in range(n_bins)])
            rec.log_curve(
                step,
                **_curve(
                    reward=float(rewards.mean()),
                    loss=float(np.mean(losses)),
                    kl=float(kl_token.mean()),
                    adversary_signal=float(np.abs(prompt_losses).mean()),
                    mean_rollouts=float(rollouts_per_prompt.mean()),
                    min_rollouts=float(rollouts_per_prompt.min()),
                    max_rollouts=float(rollouts_per_prompt.max()),
                    mu=rollout_gdro.mu if params.method == "rollout_gdro" else math.nan,
                    wse=weighted_standard_error(share, reward_sd, np.where(present, n_per_bin, 1.0)),
                    wse_uniform=weighted_standard_error(share, reward_sd, np.full(n_bins, float(n_bar))),
                    **_per_bin("share", share),
                    **_per_bin("weight", bin_means(act_bins, weights, n_bins)[0]),
                    **_per_bin("q", q_step),
                    **_per_bin("rollouts", n_per_bin),
                ),
            )
    return pd.concat(log, ignore_index=True)
