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
    rescue and region-weighted token advantages (repro/methods/care.py); ``rgr`` adds Reflection-Guided
    Resampling: the first hard negative of each group with a positive is re-decoded once after the repair cue
    (T = 0.6, top-p 0.95), re-scored by the same verifier, and replaces the failure when correct;
  - ``none`` — the negative control: the same sampling loop with no learning signal and no update (the warm
    start, evaluated like the others).

A verified repair is trained as the official rollout hands it back: its response is the decoded continuation
(the new answer), its prompt the context it was decoded in (image, question, the failed think with the cue, up to
``<answer>``); the failure's slot in the batch is the repair's. The run writes the test answers (``answers``)
and one curve row per step with the bookkeeping that its metrics module turns into training efficiency,
smoothness, the share of advantage mass from failures, zero-signal groups and RGR's repair rate and extra
decodes.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from repro.families.care_warm_start.experiment import Params as WarmStartParams

NOT_IMPLEMENTED = None


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["grpo", "care", "none"] = "grpo"
    """Advantage estimator: GRPO, CARE, or none (negative control: no learning signal, no update)."""
    rgr: bool = False
    """Reflection-Guided Resampling (CARE only; official ``rgr.enable``)."""
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


def _region_masks(responses: list[list[int]], width: int):
    """(think, answer) masks (B, width) from token lists (positions align with the sampled columns)."""
    import torch

    from repro.tasks import visual_reasoning as vr

    think = torch.zeros(len(responses), width, dtype=torch.bool)
    answer = torch.zeros_like(think)
    for row, response in enumerate(responses):
        t, a = vr.region_masks(response)
        think[row, : len(t)] = torch.tensor(t, dtype=torch.bool)
        answer[row, : len(a)] = torch.tensor(a, dtype=torch.bool)
    return think, answer


def _token_advantages(params: Params, advantages, mask, think_mask, answer_mask, positive):
    """Per-token advantages (B, T) float32: CARE's region weighting, or the response advantage on every token."""
    from repro.methods import care

    if params.token_weighting == "region_weighted":
        out = care.region_weighted_advantages(advantages, mask, think_mask, answer_mask, positive, params.gamma_pos)
    elif params.token_weighting == "uniform":
        out = advantages[:, None].expand_as(mask) * mask
    else:
        raise ValueError(f"unknown token_weighting {params.token_weighting!r}")
    return out.float()


def _decode(policy, images, prompt_ids, prompt_mask, generator, temperature: float, top_p: float = 1.0):
    """Sample responses of the task's maximal length from the vision-language policy (no gradient)."""
    import torch

    from repro.methods.sampling import sample
    from repro.tasks import visual_reasoning as vr

    with torch.no_grad():
        return sample(
            functools.partial(policy, images),
            prompt_ids,
            prompt_mask,
            vr.MAX_RESPONSE,
            vr.EOS,
            vr.PAD,
            generator,
            temperature=temperature,
            top_p=top_p,
        )


def _pooled_think(hidden, think_mask):
    """Mean of the last-layer states over each response's think span, (B, H) (official ``dp_actor``)."""
    span = think_mask.to(hidden.dtype)
    return (hidden * span[..., None]).sum(1) / span.sum(1, keepdim=True).clamp(min=1.0)


@dataclass
class _Part:
    """Sequences to train on: (B, ·) tensors, π_old's per-token log-probabilities, per-token advantages, and the
    prompt group of each row (mini-batches are cut along groups)."""

    images: Any
    prompt_ids: Any
    prompt_mask: Any
    completion_ids: Any
    completion_mask: Any
    old_logp: Any = None
    advantages: Any = None
    group: Any = None

    def rows(self, keep) -> _Part:
        return _Part(*(getattr(self, f.name)[keep] for f in fields(self)))


def _update(params: Params, policy, reference, optimizer, parts: list[_Part]) -> tuple[float, float]:
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
            part.old_logp,
            ref_logp,
            part.advantages,
            part.completion_mask,
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


def run(params: Params, seed: int, rec) -> None:
    import torch

    from repro.tasks import visual_reasoning as vr

    ws = params.warm_start
    config = vr.TaskConfig(ws.grid, ws.cell, ws.min_objects, ws.max_objects, ws.noise)
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
    G, P = params.group_size, params.prompts_per_step

    for step in rec.progress(range(params.steps), desc=f"care_rlvr {params.method}{'+rgr' if params.rgr else ''}"):
        started = time.perf_counter()
        items = config.mixed_items(P, prompt_rng)
        images, prompt_ids, prompt_mask = vr.prompt_tensors(items, config)
        images, prompt_ids, prompt_mask = (t.repeat_interleave(G, 0) for t in (images, prompt_ids, prompt_mask))
        rollouts = _decode(policy, images, prompt_ids, prompt_mask, generator, params.temperature)
        responses = [
            vr.strip_response(ids, mask)
            for ids, mask in zip(rollouts.completion_ids.tolist(), rollouts.completion_mask.tolist(), strict=True)
        ]
        targets = [item.answer for item in items for _ in range(G)]
        rewards = torch.tensor([vr.score(r, t) for r, t in zip(responses, targets, strict=True)], dtype=torch.float64)
        # π_old is the sampling policy: the recorded log-probabilities (temperature 1, no filtering).
        main = _Part(
            images,
            prompt_ids,
            prompt_mask,
            rollouts.completion_ids,
            rollouts.completion_mask,
            old_logp=rollouts.logprobs,
            group=torch.arange(P).repeat_interleave(G),
        )
        book = {"rgr_attempts": 0, "rgr_repairs": 0, "extra_decodes": 0, "rgr_seconds": 0.0}
        if params.method == "none":
            advantages, parts = torch.zeros(P * G, dtype=torch.float64), []
        elif params.method == "grpo":
            advantages = _grpo_advantages(rewards, G)
            main.advantages = advantages.float()[:, None].expand_as(main.completion_mask) * main.completion_mask
            parts = [main]
        elif params.method == "care":
            advantages, parts, book = _care_step(params, policy, main, responses, targets, rewards, generator)
        else:
            raise ValueError(f"unknown method {params.method!r}")

        losses, kls = [], []
        if parts:
            # Mini-batches of whole prompt groups, each one optimizer step (official: rollout batch 512, actor
            # global batch 128, i.e. four updates per rollout batch).
            for chunk in torch.arange(P).chunk(params.updates_per_step):
                loss, kl = _update(
                    params, policy, reference, optimizer, [p.rows(torch.isin(p.group, chunk)) for p in parts]
                )
                losses.append(loss)
                kls.append(kl)

        groups = advantages.view(P, G)
        group_rewards = rewards.view(P, G)
        signalled = groups.abs().sum(1) > 0
        all_negative = group_rewards.sum(1) == 0
        failed = rewards == 0
        repaired_mass = book.pop("repaired_mass", 0.0)
        rec.log_curve(
            step,
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


def _care_step(params: Params, policy, main: _Part, responses, targets, rewards, generator):
    """CARE's advantages for one batch, with RGR when enabled.

    Returns (response-level advantages of the sampled rollouts (B,), float64, with replaced failures set to 0;
    the parts to train on, with per-token advantages; curve bookkeeping)."""
    import torch

    from repro.methods import care
    from repro.methods.sampling import token_logprobs_and_hidden
    from repro.tasks import visual_reasoning as vr

    G, P = params.group_size, params.prompts_per_step
    width = main.completion_ids.shape[1]
    with torch.no_grad():
        _, hidden = token_logprobs_and_hidden(
            functools.partial(policy, main.images),
            main.prompt_ids,
            main.prompt_mask,
            main.completion_ids,
            main.completion_mask,
            params.temperature,
        )
    think_mask, answer_mask = _region_masks(responses, width)
    embeddings = _pooled_think(hidden.double(), think_mask)
    sequence_logp = main.old_logp.sum(1).double()
    think_len, answer_len = think_mask.sum(1).tolist(), answer_mask.sum(1).tolist()
    plans = []
    for g in range(P):
        rows = slice(g * G, (g + 1) * G)
        plans.append(
            care.plan_group(
                rewards[rows],
                think_len[rows],
                answer_len[rows],
                embeddings[rows],
                sequence_logp[rows],
                params.k,
                params.m,
                params.rescue,
            )
        )
    book = {"rgr_attempts": 0, "rgr_repairs": 0, "extra_decodes": 0, "rgr_seconds": 0.0}
    post_rewards = rewards.clone()
    repairs: list[tuple[int, int]] = []  # (rollout index of the failure, row of its verified repair decode)
    if params.rgr:
        started = time.perf_counter()
        eligible = [
            g for g, plan in enumerate(plans) if plan.anchor is not None and not plan.rescued and plan.negatives
        ]
        if eligible:
            failures = [g * G + plans[g].negatives[0] for g in eligible]
            prompts = [
                [t for t, keep in zip(main.prompt_ids[i].tolist(), main.prompt_mask[i].tolist(), strict=True) if keep]
                + care.insert_repair_cue(responses[i], vr.REPAIR_CUE, vr.THINK, vr.THINK_END, vr.ANSWER)
                for i in failures
            ]
            rgr_ids, rgr_mask = vr.pad_sequences(prompts, left=True)
            rgr_images = main.images[failures]
            out = _decode(policy, rgr_images, rgr_ids, rgr_mask, generator, params.rgr_temperature, params.rgr_top_p)
            for row, (g, i) in enumerate(zip(eligible, failures, strict=True)):
                decoded = vr.strip_response(out.completion_ids[row].tolist(), out.completion_mask[row].tolist())
                plans[g].reflected = i - g * G
                # re-scored by the same verifier: the cue-edited failure up to <answer>, then the new decode
                revised = prompts[row][int(main.prompt_mask[i].sum()) :] + decoded
                if vr.score(revised, targets[i]) == 1.0:
                    plans[g].repaired = True
                    post_rewards[i] = 1.0
                    repairs.append((i, row))
            book.update(rgr_attempts=len(eligible), rgr_repairs=len(repairs), extra_decodes=len(eligible))
        book["rgr_seconds"] = time.perf_counter() - started

    advantages = torch.zeros(P * G, dtype=torch.float64)
    for g, plan in enumerate(plans):
        rows = slice(g * G, (g + 1) * G)
        advantages[rows] = care.group_advantages(
            plan, post_rewards[rows], params.k, params.neg_scale, params.s_refl, params.rescue_delta, params.equalize
        )
    book["rescued"] = sum(plan.rescued and len(plan.subgroup) > 1 for plan in plans)
    book["anchored"] = sum(not plan.rescued and len(plan.subgroup) > 1 for plan in plans)

    replaced = [i for i, _ in repairs]
    repaired_adv = advantages[replaced].clone()
    advantages[replaced] = 0.0  # the failure left the batch; its slot is the repair's
    keep = torch.ones(P * G, dtype=torch.bool)
    keep[replaced] = False
    main.advantages = _token_advantages(params, advantages, main.completion_mask, think_mask, answer_mask, rewards > 0)
    parts = [main.rows(keep)]
    book["repaired_mass"] = float(repaired_adv.abs().sum())
    if repairs:
        # The repair is trained as the official rollout returns it: the decoded continuation is the response, and
        # the context it was decoded in (prompt + cue-edited failure up to <answer>) is its prompt.
        rows = [row for _, row in repairs]
        repaired = _Part(
            rgr_images[rows],
            rgr_ids[rows],
            rgr_mask[rows],
            out.completion_ids[rows],
            out.completion_mask[rows],
            group=main.group[replaced],
        )
        with torch.no_grad():  # π_old at the training temperature (the repair was decoded at T = 0.6, top-p 0.95)
            repaired.old_logp, _ = token_logprobs_and_hidden(
                functools.partial(policy, repaired.images),
                repaired.prompt_ids,
                repaired.prompt_mask,
                repaired.completion_ids,
                repaired.completion_mask,
                params.temperature,
            )
        decoded = [
            vr.strip_response(ids, m)
            for ids, m in zip(repaired.completion_ids.tolist(), repaired.completion_mask.tolist(), strict=True)
        ]
        think, answer = _region_masks(decoded, repaired.completion_ids.shape[1])
        positive = torch.ones(len(repairs), dtype=torch.bool)
        repaired.advantages = _token_advantages(params, repaired_adv, repaired.completion_mask, think, answer, positive)
        parts.append(repaired)
    return advantages, parts, book
