"""Rollouts from a causal LM: temperature / top-k / top-p sampling with a KV cache, and teacher-forced
per-token log-probabilities. Works with any transformers causal LM (tiny GPT-2 / Qwen3 built from a
config at ci scale, Qwen3-Base checkpoints at full scale).

Prompts are left-padded (``prompt_mask`` 0 on padding) so that every sequence's next token sits in the
last column; positions are counted from each sequence's first real token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from repro.methods.lean_decoder import lean_forward


@dataclass(frozen=True)
class Rollouts:
    """Sampled completions. All (B, T): token ids (``pad_id`` after the end), 1 on real completion tokens
    (the end-of-sequence token included), and the sampling policy's log-probability of each token."""

    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    logprobs: torch.Tensor


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.cumsum(dim=1) - 1).clamp(min=0)


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Temperature, then top-k, then nucleus (top-p) filtering (Holtzman et al. 2020). logits: (B, V)."""
    if temperature <= 0:
        raise ValueError("temperature must be positive (use a small value for near-greedy decoding)")
    logits = logits / temperature
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        remove = cumulative - torch.softmax(sorted_logits, dim=-1) >= top_p  # keep the token that crosses top_p
        sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


@torch.no_grad()
def sample(
    model,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    generator: torch.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> Rollouts:
    """Sample up to ``max_new_tokens`` per prompt. prompt_ids, prompt_mask: (B, P), left-padded.

    The recorded log-probabilities are those of the filtered sampling distribution (what π_old means for
    the importance ratio when training samples with these settings).
    """
    lean = lean_forward(model)
    decoder = _lean_decoder if lean is not None else _transformers_decoder
    logits, step = decoder(lean or model, prompt_ids, prompt_mask, max_new_tokens)
    done = torch.zeros(prompt_ids.shape[0], dtype=torch.bool, device=prompt_ids.device)
    ids, masks, logps = [], [], []
    for _ in range(max_new_tokens):
        scores = torch.log_softmax(filter_logits(logits.float(), temperature, top_k, top_p), dim=-1)
        token = torch.multinomial(scores.exp(), 1, generator=generator).squeeze(1)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        ids.append(token)
        masks.append((~done).long())
        logps.append(torch.where(done, 0.0, scores.gather(1, token[:, None]).squeeze(1)))
        done = done | (token == eos_id)
        if bool(done.all()):
            break
        logits = step(token)
    return Rollouts(torch.stack(ids, 1), torch.stack(masks, 1), torch.stack(logps, 1))


def _transformers_decoder(model, prompt_ids, prompt_mask, max_new_tokens):
    """(the prompts' next-token logits, ``step(token)`` -> the next logits) through the model's own forward and
    transformers' growing key/value cache."""
    mask = prompt_mask.clone()
    out = model(input_ids=prompt_ids, attention_mask=mask, position_ids=_positions(mask), use_cache=True)
    past = out.past_key_values

    def step(token):
        nonlocal mask, past
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        out = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=_positions(mask)[:, -1:],
            past_key_values=past,
            use_cache=True,
        )
        past = out.past_key_values
        return out.logits[:, -1]

    return out.logits[:, -1], step


def _lean_decoder(lean, prompt_ids, prompt_mask, max_new_tokens):
    """As :func:`_transformers_decoder` through a lean forward (:mod:`repro.methods.lean_decoder`): bit-identical
    logits, with a key/value cache allocated once and the padding mask laid out once per rollout."""
    batch, width = prompt_ids.shape
    padded = not bool(prompt_mask.all())
    mask = torch.cat([prompt_mask, prompt_mask.new_ones(batch, max_new_tokens)], dim=1)
    cache = lean.new_cache(width + max_new_tokens)
    position = _positions(prompt_mask)
    logits = lean.forward(prompt_ids, mask, position, cache, padded)[0][:, -1]
    position = position[:, -1:]

    def step(token):
        nonlocal position
        position = position + 1
        return lean.forward(token[:, None], mask, position, cache, padded)[0][:, -1]

    return logits, step


def token_logprobs(
    model,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Teacher-forced log π(y_t | x, y_<t) of each completion token, (B, T); 0 where ``completion_mask`` is 0.

    Differentiable (call under ``torch.no_grad()`` for π_old / π_ref). ``temperature`` rescales the logits
    as sampling did, so the ratio π_θ/π_old compares like with like.
    """
    args = (prompt_ids, prompt_mask, completion_ids, completion_mask, temperature)
    return _teacher_forced(model, *args, with_hidden=False)[0]


def token_logprobs_and_hidden(
    model,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """As :func:`token_logprobs`, plus the last layer's hidden states at the completion tokens, (B, T, H).

    One forward pass serves the policy-gradient log-probabilities and a representation of each response
    (CARE pools the think span of these states to pick hard negatives). Differentiable like ``token_logprobs``.
    """
    return _teacher_forced(
        model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature, with_hidden=True
    )


def _teacher_forced(model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature, with_hidden: bool):
    """(log-probabilities, hidden states at the completion tokens or None) from one forward pass: the lean one
    where the model has it, else the model's own (asked for hidden states only when they are wanted)."""
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    lean = lean_forward(model)
    if lean is not None:
        logits, hidden = lean.forward(ids, mask, _positions(mask), padded=not bool(mask.all()))
    else:
        out = model(input_ids=ids, attention_mask=mask, position_ids=_positions(mask), output_hidden_states=with_hidden)
        logits, hidden = out.logits, out.hidden_states[-1] if with_hidden else None
    steps = completion_ids.shape[1]
    logits = logits[:, -steps - 1 : -1].float() / temperature
    logp = torch.log_softmax(logits, dim=-1).gather(-1, completion_ids[..., None]).squeeze(-1)
    return logp * completion_mask, hidden[:, -steps:] if with_hidden else None
