"""Chained modular addition: a synthetic verifiable reasoning task with heavy-tailed difficulty.

Stand-in for DAPO-Math (GDRO, arXiv 2601.19280v1 §5) at ci/reduced scale. A prompt is a row of L digits
x_1 … x_L; the answer is the worked chain of partial sums,

    y_i = (x_1 + x_2 + … + x_i) mod 10,   i = 1 … L,

written one digit per token and closed by EOS. The reward is exact match of the whole chain, r ∈ {−1, +1}
(the paper's verifiable correctness reward, App. A). Guessing succeeds with probability 10^−L.

Difficulty tiers are chain lengths L = ``min_digits`` … ``min_digits`` + T − 1, drawn with heavy-tailed
frequencies (default ≈ 50/25/12/6/4/3 %): long chains are rare, so the positions only they use are rarely
trained — the "long, difficult tail" of heterogeneous reasoning data the paper targets (§1, §4.1).

Layout (token ids: digits 0–9, then BLANK, EQUALS, EOS, PAD). Prompts are left-aligned in ``max_digits``
slots filled with BLANK on the right and end with EQUALS, so every prompt has the same length and step i
reads x_i exactly ``max_digits + 1`` positions back (a fixed relative offset, which a rotary-position model
such as Qwen3 can learn once for every step); EOS is due when that slot is BLANK.

The evaluation split is stratified by tier (``eval_per_tier`` prompts per tier) and disjoint from the
training pool and from the warm start's supervised data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLANK, EQUALS, EOS, PAD = 10, 11, 12, 13
VOCAB_SIZE = 14
TOKEN_TEXT = {**{d: str(d) for d in range(10)}, BLANK: "_", EQUALS: "=", EOS: "$", PAD: ""}

DEFAULT_TIER_FREQUENCIES = (0.50, 0.25, 0.12, 0.06, 0.04, 0.03)


@dataclass(frozen=True)
class ChainSumSplit:
    """A set of prompts. ``digits``: (N, max_digits) int, BLANK-padded on the left; ``tier``: (N,);
    ``uid``: (N,) int64, a stable identifier of the prompt (its digits and length, base-11 encoded)."""

    digits: np.ndarray
    tier: np.ndarray
    uid: np.ndarray

    def __len__(self) -> int:
        return len(self.tier)


@dataclass(frozen=True)
class ChainSumTask:
    min_digits: int
    max_digits: int
    tier_frequencies: tuple[float, ...]
    pool: ChainSumSplit
    """RL training prompts (the DAPO-14.1k analogue): revisited across steps, so per-prompt pass@k has history."""
    eval: ChainSumSplit
    """Held-out evaluation prompts, ``eval_per_tier`` per tier."""

    @property
    def prompt_length(self) -> int:
        return self.max_digits + 1

    @property
    def max_completion_length(self) -> int:
        return self.max_digits + 1


def tier_counts(total: int, frequencies: tuple[float, ...]) -> np.ndarray:
    """Split ``total`` into per-tier counts proportional to ``frequencies`` (largest remainder), each ≥ 1."""
    freq = np.asarray(frequencies, float) / np.sum(frequencies)
    raw = freq * total
    counts = np.floor(raw).astype(int)
    for idx in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[idx] += 1
    return np.maximum(counts, 1)


def encode_uid(digits: np.ndarray) -> np.ndarray:
    """Base-11 code of each BLANK-padded row (BLANK = 10), unique per prompt. digits: (N, S) → (N,) int64."""
    powers = 11 ** np.arange(digits.shape[1] - 1, -1, -1, dtype=np.int64)
    return (digits.astype(np.int64) * powers).sum(axis=1)


def _draw_unique(rng: np.random.Generator, length: int, count: int, slots: int, exclude: set[int]) -> np.ndarray:
    """``count`` distinct rows of ``length`` digits, left-aligned in ``slots`` BLANK slots, avoiding ``exclude``."""
    powers = 11 ** np.arange(slots - 1, -1, -1, dtype=np.int64)
    taken = sum(1 for uid in exclude if int(((uid // powers) % 11 != BLANK).sum()) == length)  # same length only
    if count > 10**length - taken:
        raise ValueError(f"cannot draw {count} distinct {length}-digit prompts ({taken} of {10**length} are taken)")
    rows: list[np.ndarray] = []
    seen = set(exclude)
    while len(rows) < count:
        batch = np.full((2 * (count - len(rows)) + 8, slots), BLANK, dtype=np.int64)
        batch[:, :length] = rng.integers(0, 10, (batch.shape[0], length))
        for row, uid in zip(batch, encode_uid(batch), strict=True):
            if uid not in seen:
                seen.add(int(uid))
                rows.append(row)
                if len(rows) == count:
                    break
    return np.stack(rows)


def _split(parts: list[np.ndarray], tiers: list[int]) -> ChainSumSplit:
    digits = np.concatenate(parts)
    tier = np.concatenate([np.full(len(p), t) for p, t in zip(parts, tiers, strict=True)])
    return ChainSumSplit(digits, tier, encode_uid(digits))


def make_chain_sum_task(
    rng: np.random.Generator,
    pool_size: int,
    eval_per_tier: int,
    min_digits: int = 3,
    tier_frequencies: tuple[float, ...] = DEFAULT_TIER_FREQUENCIES,
) -> ChainSumTask:
    """Draw the held-out split first, then a training pool of ``pool_size`` distinct prompts disjoint from it."""
    n_tiers = len(tier_frequencies)
    max_digits = min_digits + n_tiers - 1
    held: set[int] = set()
    eval_parts = []
    for t in range(n_tiers):
        part = _draw_unique(rng, length=min_digits + t, count=eval_per_tier, slots=max_digits, exclude=held)
        held.update(int(u) for u in encode_uid(part))
        eval_parts.append(part)
    pool_parts = []
    for t, count in enumerate(tier_counts(pool_size, tier_frequencies)):
        pool_parts.append(_draw_unique(rng, length=min_digits + t, count=int(count), slots=max_digits, exclude=held))
    return ChainSumTask(
        min_digits,
        max_digits,
        tuple(tier_frequencies),
        pool=_split(pool_parts, list(range(n_tiers))),
        eval=_split(eval_parts, list(range(n_tiers))),
    )


def sample_supervised(task: ChainSumTask, rng: np.random.Generator, count: int, max_tier: int) -> ChainSumSplit:
    """Fresh i.i.d. prompts for the warm start's supervised data, from the tier distribution restricted to tiers
    ≤ ``max_tier`` (partial supervision: the "base model" has seen only the shorter chains). Prompts that are in
    the held-out split are redrawn, so evaluation stays held out."""
    freq = np.asarray(task.tier_frequencies, float)
    freq[max_tier + 1 :] = 0.0
    freq /= freq.sum()
    tiers = rng.choice(len(freq), size=count, p=freq)
    digits = np.full((count, task.max_digits), BLANK, dtype=np.int64)
    held = set(int(u) for u in task.eval.uid)
    for t in range(len(freq)):
        rows = np.flatnonzero(tiers == t)
        length = task.min_digits + t
        draw = rng.integers(0, 10, (rows.size, length))
        digits[rows, :length] = draw
    uid = encode_uid(digits)
    clash = np.array([int(u) in held for u in uid], dtype=bool)
    while clash.any():
        for i in np.flatnonzero(clash):
            length = task.min_digits + int(tiers[i])
            digits[i, :length] = rng.integers(0, 10, length)
        uid = encode_uid(digits)
        clash = np.array([int(u) in held for u in uid], dtype=bool)
    return ChainSumSplit(digits, tiers, uid)


def prompt_tokens(digits: np.ndarray) -> np.ndarray:
    """(N, S) BLANK-padded digit rows → (N, S + 1) prompt token ids (the row, then EQUALS)."""
    return np.concatenate([digits, np.full((len(digits), 1), EQUALS, dtype=np.int64)], axis=1)


def answer_tokens(digits: np.ndarray) -> np.ndarray:
    """Reference completions, (N, S + 1): the chain y_1 … y_L, EOS, then PAD."""
    n, slots = digits.shape
    out = np.full((n, slots + 1), PAD, dtype=np.int64)
    valid = digits != BLANK
    chain = np.cumsum(np.where(valid, digits, 0), axis=1) % 10
    lengths = valid.sum(axis=1)
    for i in range(n):
        out[i, : lengths[i]] = chain[i, : lengths[i]]
        out[i, lengths[i]] = EOS
    return out


def exact_match(completions: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Exact match of sampled completions against references, both (N, T) with PAD after EOS. → (N,) bool.

    A completion is correct iff its tokens up to and including its first EOS equal the reference's; a
    completion that never emits EOS within T tokens is wrong.
    """
    width = max(completions.shape[1], references.shape[1])

    def canonical(x: np.ndarray) -> np.ndarray:
        x = np.pad(x, ((0, 0), (0, width - x.shape[1])), constant_values=PAD)
        after_eos = np.cumsum(np.cumsum(x == EOS, axis=1), axis=1) > 1  # positions after the first EOS
        return np.where(after_eos, PAD, x)

    c, r = canonical(completions), canonical(references)
    has_eos = (c == EOS).any(axis=1)
    return has_eos & (c == r).all(axis=1)


def to_text(tokens: np.ndarray) -> list[str]:
    """Readable strings (digits, '_' blank, '=' equals, '$' EOS; PAD dropped), one per row."""
    return ["".join(TOKEN_TEXT[int(t)] for t in row) for row in tokens]
