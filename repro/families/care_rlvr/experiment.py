"""CARE vs GRPO: RL with verifiable rewards on a tiny vision-language policy (Wang et al., arXiv 2512.19554).

The paper trains Qwen2.5-VL-7B with GRPO or CARE (EasyR1/verl) and reports macro accuracy over six visual
reasoning benchmarks. This family is the same loop at toy size, every step matched across arms:

- policy: :class:`repro.models.tiny_vlm.TinyVLM` (patch encoder → Qwen2-architecture decoder built from a
  config), loaded from the shared warm start (``care_warm_start``, its own run via :func:`requires`);
- data: P fresh prompts per step from the six synthetic benchmarks (repro/tasks/visual_reasoning.py), the same
  prompts for every arm of a seed; G = 8 rollouts each at temperature 1 (official config: rollout n = 8, T = 1);
  reward: the verifier's 0/1 on the ``<answer>`` span;
- update: one clipped-surrogate step per batch (π_old = π_θ at sampling), token-mean aggregation, k3
  ("low_var_kl") penalty 1e-2 to the warm start, AdamW with weight decay 1e-2 and gradient-norm clip 1.0
  (EasyR1 ``examples/config.yaml``), learning rate raised for a tiny model;
- ``method``:
  - ``grpo`` — group-normalised advantages with EasyR1's sample std (``core_algos.compute_grpo_outcome_advantage``)
    on every response token;
  - ``care`` — anchor, cosine hard negatives, subgroup z-score, negative-only scaling, √(K/K′), all-negative
    rescue and region-weighted token advantages (repro/methods/care.py; the step is care_step.py); ``rgr`` adds
    Reflection-Guided Resampling: the first hard negative of each group with a positive is re-decoded once after
    the repair cue (T = 0.6, top-p 0.95), re-scored by the same verifier, and replaces the failure when correct;
  - ``none`` — the negative control: the same sampling loop with no learning signal and no update (the warm
    start, evaluated like the others).

A verified repair's response is the decoded continuation (the new answer); with ``rgr_context: repair`` (the
default) its prompt is the context it was decoded in (image, question, the failed think with the cue, up to
``<answer>``), and the failure's slot in the batch is the repair's. The official code instead trains every
re-decode, verified or not, as the continuation after the original prompt (``rgr_context: prompt``; see
:class:`Params`). The run writes the test answers (``answers``)
and one curve row per step with the bookkeeping that its metrics module turns into training efficiency,
smoothness, the share of advantage mass from failures, zero-signal groups and RGR's repair rate and extra
decodes.
"""

from __future__ import annotations

import functools
import time
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from repro.families.care_rlvr.care_step import care_step
from repro.families.care_rlvr.parts import Part
from repro.families.care_warm_start.experiment import Params as WarmStartParams

NOT_IMPLEMENTED = None


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["grpo", "care", "none"] = "grpo"
    """Advantage estimator: GRPO, CARE, or none (negative control: no learning signal, no update)."""
    rgr: bool = False
    """Reflection-Guided Resampling (CARE only; official ``rgr.enable``)."""
    rgr_context: Literal["repair", "prompt"] = "repair"
    """What RGR's re-decode is trained as. ``repair`` (the paper's reading: the failure, rewritten, becomes a
    positive): a verified repair is trained in the context it was decoded in (prompt, the failed think with the
    cue, up to ``<answer>``), and a failed repair leaves the failure in place at s_refl. ``prompt`` (the official
    code: ``hooks/rgr.py`` hands vLLM the cue-edited context as ``raw_prompt_ids`` but the original prompt tensor,
    which EasyR1's rollout returns as the sample's ``prompts``): every re-decode replaces its failure in the
    subgroup and is trained as the continuation after the original prompt, at s_refl when it failed."""
    rescue: bool = True
    """All-negative rescue (CARE only; official ``care.rescue.enable=true``)."""
    k: int = Field(4, ge=1)
    """K, hard negatives per subgroup (official ``care.K=4``)."""
    m: int = Field(6, ge=1)
    """M, nearest failures in the candidate pool (official ``care.M=6``)."""
    neg_scale: float = Field(0.5, gt=0, le=1)
    """s, negative-only scale (official ``care.neg_scale_s=0.5``)."""
    s_refl: float = Field(0.25, gt=0, le=1)
    """Scale of a failure whose repair failed (s/2, papers.md §3.3)."""
    rescue_delta: float = Field(0.1, gt=0)
    """δ, the rescue pseudo-reward (official ``care.rescue.delta=0.1``)."""
    token_weighting: Literal["region_weighted", "uniform"] = "region_weighted"
    """CARE's token advantages: region-weighted (official ``care.token_weighting=region_weighted``) or the
    response advantage on every token (as GRPO)."""
    gamma_pos: float = Field(0.06, ge=0)
    """γ_pos, weight of positives' think tokens. Official ``care.gamma_pos=0.005`` is per token of think spans of
    hundreds of tokens; what it sets is the share of a positive's advantage on its think, γT_think/(T_answer +
    γT_think) ≈ 0.17 at ≈400 think and ≈10 answer tokens [R]. This task's thinks are 2–4 tokens with a 1-token
    answer, so the same share needs γ ≈ 0.06 (0.005 would leave the think ≈1.5 %)."""
    equalize: bool = True
    """√(K/K′) equalisation (official ``care.equalize=true``)."""
    group_size: int = Field(8, ge=2)
    """G, rollouts per prompt (paper: G = 8)."""
    prompts_per_step: int = Field(16, ge=1)
    updates_per_step: int = Field(4, ge=1)
    """Optimizer steps per rollout batch, on mini-batches of whole groups (official: rollout batch 512 / actor
    global batch 128 = 4)."""
    steps: int = Field(64, ge=1)
    """RL steps (ci: 64, eight blocks of eight for the smoothness metrics; the 6-minute ci budget on 2 cores)."""
    lr: float = Field(5e-4, gt=0)
    """AdamW learning rate (official 1e-6 for a 7B model; a tiny model needs far more)."""
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    kl_coef: float = Field(0.01, ge=0)
    """k3 ("low_var_kl") penalty to the warm start (official ``kl_coef: 1.0e-2``)."""
    temperature: float = Field(1.0, gt=0)
    """Rollout temperature (official ``rollout.temperature: 1.0``)."""
    rgr_temperature: float = Field(0.6, gt=0)
    rgr_top_p: float = Field(0.95, gt=0, le=1)
    test_items_per_benchmark: int = Field(100, ge=1)
    eval_samples: int = Field(3, ge=1)
    """Sampled answers per test item at temperature 1 (the official validation temperature); accuracy is
    their mean."""
    warm_start: WarmStartParams = Field(default_factory=WarmStartParams)
    """The shared warm start's parameters (task, policy size, SFT): a ``care_warm_start`` run of its own."""
    warm_start_seed: int = Field(0, ge=0)
    """Seed of the one warm start every RL seed starts from (the paper starts every seed from one checkpoint)."""

    @model_validator(mode="after")
    def _coherent(self) -> Params:
        if self.method != "care" and self.rgr:
            raise ValueError("rgr is part of CARE: it needs method 'care'")
        if self.rgr_context != "repair" and not self.rgr:
            raise ValueError("rgr_context sets how RGR's re-decodes are trained: it needs rgr: true")
        if self.m < self.k:
            raise ValueError("the pool size m must be at least k")
        if self.updates_per_step > self.prompts_per_step:
            raise ValueError("each update needs at least one prompt group: updates_per_step <= prompts_per_step")
        return self


SCALES = {
    "ci": {},
    "reduced": {"steps": 200, "test_items_per_benchmark": 200, "warm_start": {"sft_steps": 600}},
    "full": {
        "steps": 600,
        "prompts_per_step": 32,
        "updates_per_step": 8,
        "warm_start": {"sft_steps": 1000, "hidden": 128, "layers": 4},
    },
}


def requires(params: Params) -> dict:
    """The shared warm start: one ``care_warm_start`` run (its parameters, seed ``warm_start_seed``), read by
    every arm and every seed."""
    return {"warm_start": ("care_warm_start", params.warm_start.model_dump(mode="json"), params.warm_start_seed)}


def _grpo_advantages(rewards, group_size: int):
    from repro.methods.grpo import group_advantages

    # EasyR1's GRPO (the paper's baseline): torch.std (sample std) + eps 1e-6.
    return group_advantages(rewards.view(-1, group_size), std="sample", eps=1e-6).reshape(-1).double()


def _update(params: Params, policy, reference, optimizer, parts: list[Part]) -> tuple[float, float]:
    """One clipped-surrogate step on the parts' sequences (token-mean over all of them). Returns (loss, k3 KL)."""
    import torch

    from repro.methods.grpo import grpo_loss, kl_k3
    from repro.methods.sampling import token_logprobs

    parts = [part for part in parts if len(part.completion_ids)]
    total_tokens = sum(float(part.completion_mask.sum()) for part in parts)
    loss, kl_sum = 0.0, 0.0
    for part in parts:
        args = (part.prompt_ids, part.prompt_mask, part.completion_ids, part.completion_mask, params.temperature)
        logp = token_logprobs(functools.partial(policy, part.images), *args)
        with torch.no_grad():
            ref_logp = token_logprobs(functools.partial(reference, part.images), *args)
        part_loss, _ = grpo_loss(
            logp,
            old_logp=part.old_logp,
            ref_logp=ref_logp,
            advantages=part.advantages,
            mask=part.completion_mask,
            beta_kl=params.kl_coef,
            aggregation="token_mean",
        )
        loss = loss + part_loss * float(part.completion_mask.sum()) / total_tokens
        kl_sum += float((kl_k3(logp.detach(), ref_logp) * part.completion_mask).sum())
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), params.max_grad_norm)
    optimizer.step()
    return float(loss.detach()), kl_sum / total_tokens


def _train_on(params: Params, policy, reference, optimizer, parts: list[Part]) -> tuple[list[float], list[float]]:
    """Mini-batches of whole prompt groups, each one optimizer step (official: rollout batch 512, actor global
    batch 128, i.e. four updates per rollout batch). Returns each update's (loss, k3 KL); none without parts."""
    import torch

    losses, kls = [], []
    if parts:
        for chunk in torch.arange(params.prompts_per_step).chunk(params.updates_per_step):
            loss, kl = _update(
                params, policy, reference, optimizer, [p.rows(torch.isin(p.group, chunk)) for p in parts]
            )
            losses.append(loss)
            kls.append(kl)
    return losses, kls


def run(params: Params, seed: int, rec) -> None:
    import torch

    from repro.tasks import visual_reasoning as vr

    ws = params.warm_start
    config = vr.TaskConfig(
        grid=ws.grid, cell=ws.cell, min_objects=ws.min_objects, max_objects=ws.max_objects, noise=ws.noise
    )
    prompt_rng, test_rng = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    generator = torch.Generator().manual_seed(seed)
    state = rec.load_checkpoint("warm_start")
    policy = vr.build_policy(config, ws.hidden, ws.layers, ws.heads)
    policy.load_state_dict(state)
    reference = vr.build_policy(config, ws.hidden, ws.layers, ws.heads)
    reference.load_state_dict(state)
    reference.requires_grad_(False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    rec.snapshot_weights("init", optimizer)

    for step in rec.progress(range(params.steps), desc=f"care_rlvr {params.method}{'+rgr' if params.rgr else ''}"):
        started = time.perf_counter()
        main, responses, targets, rewards = _roll_out(params, policy, config, prompt_rng, generator)
        advantages, parts, book = _learning_signal(params, policy, main, responses, targets, rewards, generator)
        losses, kls = _train_on(params, policy, reference, optimizer, parts)
        rec.log_curve(step, **_curve_row(params, advantages, rewards, losses, kls, book, started))
    rec.snapshot_weights("final", optimizer)

    rows = vr.evaluate_policy(
        policy,
        config.test_set(params.test_items_per_benchmark, test_rng),
        config,
        samples=params.eval_samples,
        temperature=params.temperature,
        generator=torch.Generator().manual_seed(seed + 7919),
    )
    rec.write_predictions("answers", pd.DataFrame(rows))


def _roll_out(params: Params, policy, config, prompt_rng: np.random.Generator, generator):
    """G rollouts of each of P fresh prompts, verified: (the batch as a :class:`Part` with π_old's log-probabilities
    and prompt groups, the responses as token lists, the target of each, the 0/1 rewards (B,) float64)."""
    import torch

    from repro.tasks import visual_reasoning as vr

    G, P = params.group_size, params.prompts_per_step
    items = config.mixed_items(P, prompt_rng)
    images, prompt_ids, prompt_mask = vr.prompt_tensors(items, config)
    images, prompt_ids, prompt_mask = (t.repeat_interleave(G, 0) for t in (images, prompt_ids, prompt_mask))
    rollouts = vr.decode(policy, images, prompt_ids, prompt_mask, generator, temperature=params.temperature)
    responses = [
        vr.strip_response(ids, mask)
        for ids, mask in zip(rollouts.completion_ids.tolist(), rollouts.completion_mask.tolist(), strict=True)
    ]
    targets = [item.answer for item in items for _ in range(G)]
    rewards = torch.tensor([vr.score(r, t) for r, t in zip(responses, targets, strict=True)], dtype=torch.float64)
    # π_old is the sampling policy: the recorded log-probabilities (temperature 1, no filtering).
    main = Part(
        images,
        prompt_ids,
        prompt_mask,
        rollouts.completion_ids,
        rollouts.completion_mask,
        old_logp=rollouts.logprobs,
        group=torch.arange(P).repeat_interleave(G),
    )
    return main, responses, targets, rewards


def _learning_signal(params: Params, policy, main: Part, responses, targets, rewards, generator):
    """(response-level advantages (B,) float64, the parts to train on, curve bookkeeping) of the method."""
    import torch

    book = {"rgr_attempts": 0, "rgr_repairs": 0, "extra_decodes": 0, "rgr_seconds": 0.0}
    if params.method == "none":
        return torch.zeros(len(rewards), dtype=torch.float64), [], book
    if params.method == "grpo":
        advantages = _grpo_advantages(rewards, params.group_size)
        main.advantages = advantages.float()[:, None].expand_as(main.completion_mask) * main.completion_mask
        return advantages, [main], book
    if params.method == "care":
        return care_step(params, policy, main, responses, targets, rewards, generator)
    raise ValueError(f"unknown method {params.method!r}")


def _curve_row(params: Params, advantages, rewards, losses, kls, book: dict, started: float) -> dict:
    """The step's curve row: loss, reward, KL, the groups by signal, the advantage mass and RGR's bookkeeping."""
    G, P = params.group_size, params.prompts_per_step
    groups = advantages.view(P, G)
    group_rewards = rewards.view(P, G)
    signalled = groups.abs().sum(1) > 0
    all_negative = group_rewards.sum(1) == 0
    failed = rewards == 0
    repaired_mass = book.pop("repaired_mass", 0.0)
    return dict(
        loss=float(np.mean(losses)) if losses else 0.0,
        reward_mean=float(rewards.mean()),
        kl=max(float(np.mean(kls)) if kls else 0.0, 0.0),
        groups=P,
        all_negative_groups=int(all_negative.sum()),
        all_negative_signalled=int((all_negative & signalled).sum()),
        all_positive_groups=int((group_rewards.sum(1) == G).sum()),
        zero_signal_groups=int((~signalled).sum()),
        rescued_groups=book.pop("rescued", 0),
        anchored_groups=book.pop("anchored", 0),
        advantage_mass=float(advantages.abs().sum()) + repaired_mass,
        advantage_mass_failed=float(advantages[failed].abs().sum()),
        advantage_mass_repaired=repaired_mass,
        policy_decodes=P * G,
        step_seconds=time.perf_counter() - started,
        **book,
    )
