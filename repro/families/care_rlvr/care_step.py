"""CARE's learning signal for one batch of rollouts (repro/methods/care.py), with Reflection-Guided Resampling.

:func:`care_step` runs its steps in order: plan each prompt group (anchor and hard negatives, or the all-negative
rescue), re-decode the first hard negative of each anchored group after the repair cue (RGR, when enabled),
compute the groups' advantages from the post-RGR rewards, spread them over tokens, and build the parts to train
on: the sampled rollouts (a replaced failure left out) and the re-decodes in their failures' slots (the verified
repairs, or with ``rgr_context: prompt`` every re-decode, as the official code).
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from repro.families.care_rlvr.parts import Part

if TYPE_CHECKING:
    from repro.families.care_rlvr.experiment import Params


def region_masks(responses: list[list[int]], width: int):
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


def token_advantages(params: Params, advantages, mask, think_mask, answer_mask, positive):
    """Per-token advantages (B, T) float32: CARE's region weighting, or the response advantage on every token."""
    from repro.methods import care

    if params.token_weighting == "region_weighted":
        out = care.region_weighted_advantages(
            advantages,
            response_mask=mask,
            think_mask=think_mask,
            answer_mask=answer_mask,
            positive=positive,
            gamma_pos=params.gamma_pos,
        )
    elif params.token_weighting == "uniform":
        out = advantages[:, None].expand_as(mask) * mask
    else:
        raise ValueError(f"unknown token_weighting {params.token_weighting!r}")
    return out.float()


def pooled_think(hidden, think_mask):
    """Mean of the last-layer states over each response's think span, (B, H) (official ``dp_actor``)."""
    span = think_mask.to(hidden.dtype)
    return (hidden * span[..., None]).sum(1) / span.sum(1, keepdim=True).clamp(min=1.0)


def _logprobs_and_hidden(policy, part: Part, temperature: float):
    """π's per-token log-probabilities of ``part``'s completions and the last-layer states, without gradient."""
    import torch

    from repro.methods.sampling import token_logprobs_and_hidden

    with torch.no_grad():
        return token_logprobs_and_hidden(
            functools.partial(policy, part.images),
            part.prompt_ids,
            part.prompt_mask,
            part.completion_ids,
            part.completion_mask,
            temperature=temperature,
        )


def _plan_groups(params: Params, policy, main: Part, think_mask, answer_mask, rewards) -> list:
    """Each prompt group's CARE plan (:class:`repro.methods.care.CareGroup`), from the think-span embeddings."""
    from repro.methods import care

    G = params.group_size
    _, hidden = _logprobs_and_hidden(policy, main, params.temperature)
    embeddings = pooled_think(hidden.double(), think_mask)
    sequence_logp = main.old_logp.sum(1).double()
    think_len, answer_len = think_mask.sum(1).tolist(), answer_mask.sum(1).tolist()
    plans = []
    for g in range(params.prompts_per_step):
        rows = slice(g * G, (g + 1) * G)
        plans.append(
            care.plan_group(
                rewards[rows],
                think_len=think_len[rows],
                answer_len=answer_len[rows],
                embeddings=embeddings[rows],
                sequence_logp=sequence_logp[rows],
                k=params.k,
                m=params.m,
                rescue=params.rescue,
            )
        )
    return plans


def _reflect(params: Params, policy, main: Part, responses, targets, plans, post_rewards, generator):
    """RGR: the first hard negative of each anchored group is re-decoded once after the repair cue and re-scored
    by the same verifier; a verified repair turns its failure into a positive (``plans`` and ``post_rewards`` are
    updated in place). Returns (every attempt as (rollout index of the failure, row of its re-decode), the
    reflection decodes as a :class:`Part`, or None when no group was eligible)."""
    from repro.methods import care
    from repro.tasks import visual_reasoning as vr

    G = params.group_size
    eligible = [g for g, plan in enumerate(plans) if plan.anchor is not None and not plan.rescued and plan.negatives]
    if not eligible:
        return [], None
    failures = [g * G + plans[g].negatives[0] for g in eligible]
    prompts = [
        [t for t, keep in zip(main.prompt_ids[i].tolist(), main.prompt_mask[i].tolist(), strict=True) if keep]
        + care.insert_repair_cue(responses[i], vr.REPAIR_CUE, vr.THINK, vr.THINK_END, vr.ANSWER)
        for i in failures
    ]
    rgr_ids, rgr_mask = vr.pad_sequences(prompts, left=True)
    rgr_images = main.images[failures]
    out = vr.decode(
        policy, rgr_images, rgr_ids, rgr_mask, generator, temperature=params.rgr_temperature, top_p=params.rgr_top_p
    )
    for row, (g, i) in enumerate(zip(eligible, failures, strict=True)):
        decoded = vr.strip_response(out.completion_ids[row].tolist(), out.completion_mask[row].tolist())
        plans[g].reflected = i - g * G
        # re-scored by the same verifier: the cue-edited failure up to <answer>, then the new decode
        revised = prompts[row][int(main.prompt_mask[i].sum()) :] + decoded
        if vr.score(revised, targets[i]) == 1.0:
            plans[g].repaired = True
            post_rewards[i] = 1.0
    attempts = [(i, row) for row, i in enumerate(failures)]
    return attempts, Part(rgr_images, rgr_ids, rgr_mask, out.completion_ids, out.completion_mask)


def _group_advantages(params: Params, plans, post_rewards):
    """Response-level CARE advantages of the batch, (B,) float64, from the post-RGR rewards."""
    import torch

    from repro.methods import care

    G = params.group_size
    advantages = torch.zeros(params.prompts_per_step * G, dtype=torch.float64)
    for g, plan in enumerate(plans):
        rows = slice(g * G, (g + 1) * G)
        advantages[rows] = care.group_advantages(
            plan,
            post_rewards[rows],
            k=params.k,
            s=params.neg_scale,
            s_refl=params.s_refl,
            delta=params.rescue_delta,
            equalize=params.equalize,
        )
    return advantages


def _resampled_part(params: Params, policy, main: Part, reflections: Part, trained, adv, positive) -> Part:
    """The re-decodes RGR trains on, each in its failure's slot: the decoded continuation is the response; its
    prompt is the context it was decoded in (prompt + cue-edited failure up to <answer>) with ``rgr_context:
    repair``, or the failure's original prompt with ``prompt`` (the official code's rollout)."""
    from repro.tasks import visual_reasoning as vr

    rows = [row for _, row in trained]
    failures = [i for i, _ in trained]
    context = reflections if params.rgr_context == "repair" else main
    at = rows if params.rgr_context == "repair" else failures
    part = Part(
        context.images[at],
        context.prompt_ids[at],
        context.prompt_mask[at],
        reflections.completion_ids[rows],
        reflections.completion_mask[rows],
        group=main.group[failures],
    )
    # π_old at the training temperature (the re-decode was sampled at T = 0.6, top-p 0.95)
    part.old_logp, _ = _logprobs_and_hidden(policy, part, params.temperature)
    decoded = [
        vr.strip_response(ids, m)
        for ids, m in zip(part.completion_ids.tolist(), part.completion_mask.tolist(), strict=True)
    ]
    think, answer = region_masks(decoded, part.completion_ids.shape[1])
    part.advantages = token_advantages(params, adv, part.completion_mask, think, answer, positive)
    return part


def care_step(params: Params, policy, main: Part, responses, targets, rewards, generator):
    """CARE's advantages for one batch, with RGR when enabled.

    Returns (response-level advantages of the sampled rollouts (B,), float64, with verified repairs' failures set
    to 0 (a failed re-decode that replaces its failure keeps the failure's value); the parts to train on, with
    per-token advantages; curve bookkeeping)."""
    import torch

    think_mask, answer_mask = region_masks(responses, main.completion_ids.shape[1])
    plans = _plan_groups(params, policy, main, think_mask, answer_mask, rewards)
    book = {"rgr_attempts": 0, "rgr_repairs": 0, "extra_decodes": 0, "rgr_seconds": 0.0}
    post_rewards = rewards.clone()
    attempts: list[tuple[int, int]] = []
    reflections = None
    if params.rgr:
        started = time.perf_counter()
        attempts, reflections = _reflect(params, policy, main, responses, targets, plans, post_rewards, generator)
        book["rgr_seconds"] = time.perf_counter() - started
    # a verified repair is an attempt whose failure the verifier turned into a positive
    repairs = [(i, row) for i, row in attempts if post_rewards[i] != rewards[i]]
    book.update(rgr_attempts=len(attempts), rgr_repairs=len(repairs), extra_decodes=len(attempts))

    advantages = _group_advantages(params, plans, post_rewards)
    book["rescued"] = sum(plan.rescued and len(plan.subgroup) > 1 for plan in plans)
    book["anchored"] = sum(not plan.rescued and len(plan.subgroup) > 1 for plan in plans)

    # the re-decodes trained in their failures' slots: the verified repairs, or every attempt (official code)
    trained = repairs if params.rgr_context == "repair" else attempts
    replaced = [i for i, _ in trained]
    trained_adv = advantages[replaced].clone()
    repaired = [i for i, _ in repairs]
    book["repaired_mass"] = float(advantages[repaired].abs().sum())
    advantages[repaired] = 0.0  # a verified repair's slot is the repair's (its mass is counted as repaired)
    keep = torch.ones(len(advantages), dtype=torch.bool)
    keep[replaced] = False
    main.advantages = token_advantages(params, advantages, main.completion_mask, think_mask, answer_mask, rewards > 0)
    parts = [main.rows(keep)]
    if trained:
        positive = post_rewards[replaced] > 0
        parts.append(_resampled_part(params, policy, main, reflections, trained, trained_adv, positive))
    return advantages, parts, book
