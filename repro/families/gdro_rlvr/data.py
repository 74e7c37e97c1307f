"""The prompts a GDRO run trains and evaluates on: the synthetic chain sums (ci/reduced) or DAPO-Math (full)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from repro.families.gdro_rlvr.experiment import Params


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
        rng,
        pool_size=params.pool_size,
        eval_per_tier=params.eval_per_tier,
        min_digits=params.min_digits,
        tier_frequencies=params.tier_frequencies,
    )

    def prompt_set(split: cs.ChainSumSplit) -> PromptSet:
        ids = torch.as_tensor(cs.prompt_tokens(split.digits))
        references = cs.answer_tokens(split.digits)

        def verify(indices: np.ndarray, completions) -> np.ndarray:
            return cs.exact_match(completions.numpy(), references[indices])

        return PromptSet(ids=ids, mask=torch.ones_like(ids), uid=split.uid.astype(str), tier=split.tier, verify=verify)

    def sft_batch(rng: np.random.Generator, size: int):
        sup = cs.sample_supervised(task, rng, size, params.sft_max_tier)
        ids = torch.as_tensor(np.concatenate([cs.prompt_tokens(sup.digits), cs.answer_tokens(sup.digits)], axis=1))
        labels = ids.masked_fill(ids == cs.PAD, -100)
        labels[:, : task.prompt_length] = -100
        return ids, (ids != cs.PAD).long(), labels

    return TaskData(
        pool=prompt_set(task.pool),
        eval=prompt_set(task.eval),
        eos_id=cs.EOS,
        pad_id=cs.PAD,
        max_new_tokens=params.max_new_tokens or task.max_completion_length,
        decode=lambda completions: cs.to_text(completions.numpy()),
        sft_batch=sft_batch,
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
        return PromptSet(
            ids=enc["input_ids"], mask=enc["attention_mask"], uid=uid, tier=np.asarray(tiers), verify=verify
        )

    train = dapo_math.load_dapo_math()
    order = rng.permutation(len(train))
    pool = prompt_set([train[i][0] for i in order], [train[i][1] for i in order], [0] * len(order))
    test = dapo_math.load_eval_tiers()
    held = prompt_set([p for p, _, _ in test], [a for _, a, _ in test], [t for _, _, t in test])
    return TaskData(
        pool=pool,
        eval=held,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        max_new_tokens=params.max_new_tokens or 4096,
        decode=lambda completions: tokenizer.batch_decode(completions, skip_special_tokens=True),
        sft_batch=None,
    )


def to_device(data: TaskData, device) -> TaskData:
    """``data`` with its prompt tensors on ``device``."""
    return replace(
        data,
        pool=replace(data.pool, ids=data.pool.ids.to(device), mask=data.pool.mask.to(device)),
        eval=replace(data.eval, ids=data.eval.ids.to(device), mask=data.eval.mask.to(device)),
    )
