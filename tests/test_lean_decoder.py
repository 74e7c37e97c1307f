"""repro.methods.lean_decoder against transformers' Qwen3ForCausalLM and Qwen2ForCausalLM and against the tiny VLM's
own forward: bit-identical logits, hidden states and gradients (``torch.equal``, not a tolerance), and rollouts and
log-probabilities through repro.methods.sampling identical to the transformers path they replace."""

from __future__ import annotations

import pytest
import torch

from repro.methods import lean_decoder, sampling
from repro.methods.lean_decoder import LeanDecoder, lean_forward, supports

VOCAB, EOS, PAD = 14, 12, 13


def qwen3(kv_heads: int = 2, family: str = "qwen3", **overrides):
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen3Config

    config = {"qwen3": Qwen3Config, "qwen2": Qwen2Config}[family](
        vocab_size=VOCAB,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        bos_token_id=EOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
        hidden_size=48,
        intermediate_size=96,
        **({"head_dim": 12} if family == "qwen3" else {}),
        **overrides,
    )
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


def prompts(batch: int, width: int, padded: bool, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, EOS, (batch, width), generator=g)
    mask = torch.ones(batch, width, dtype=torch.long)
    if padded:  # left padding of 0–3 tokens, as the task batches use
        for row in range(batch):
            mask[row, : row % 4] = 0
        ids = ids.masked_fill(mask == 0, PAD)
    return ids, mask


def positions(mask):
    return (mask.cumsum(dim=1) - 1).clamp(min=0)


FAMILIES = ["qwen3", "qwen2"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kv_heads", [2, 4], ids=["grouped-query", "multi-head"])
@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "left-padded"])
def test_prefill_and_decode_are_bit_identical_to_transformers(family, kv_heads, padded):
    model = qwen3(kv_heads, family)
    lean = LeanDecoder(model)
    ids, mask = prompts(12, 7, padded)
    with torch.no_grad():
        ref = model(
            input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=True, output_hidden_states=True
        )
        cache = lean.new_cache(7 + 4)
        logits, hidden = lean.forward(ids, mask, positions(mask), cache, padded)
        assert torch.equal(logits, ref.logits) and torch.equal(hidden, ref.hidden_states[-1])
        past, grown = ref.past_key_values, mask
        g = torch.Generator().manual_seed(2)
        for _ in range(4):
            token = torch.randint(0, EOS, (12, 1), generator=g)
            grown = torch.cat([grown, torch.ones(12, 1, dtype=torch.long)], dim=1)
            position = positions(grown)[:, -1:]
            ref = model(
                input_ids=token, attention_mask=grown, position_ids=position, past_key_values=past, use_cache=True
            )
            past = ref.past_key_values
            logits, _ = lean.forward(token, grown, position, cache, padded)
            assert torch.equal(logits, ref.logits)
        with pytest.raises(ValueError, match="holds 11 positions"):
            lean.forward(token, torch.cat([grown, grown], dim=1), position + 1, cache, padded)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kv_heads", [2, 4], ids=["grouped-query", "multi-head"])
def test_training_forward_and_gradients_are_bit_identical(family, kv_heads):
    """Left-padded prompts, completions right-padded after their end: the masks a GRPO loss forward sees."""
    model = qwen3(kv_heads, family).train()
    ids, mask = prompts(12, 7, padded=True)
    g = torch.Generator().manual_seed(3)
    completions = torch.randint(0, EOS, (12, 6), generator=g)
    completion_mask = (torch.arange(6)[None] < torch.randint(1, 7, (12, 1), generator=g)).long()
    full, full_mask = torch.cat([ids, completions], dim=1), torch.cat([mask, completion_mask], dim=1)

    def grads(forward):
        model.zero_grad()
        logits = forward()
        (logits.float().log_softmax(-1)[..., 3] * full_mask).sum().backward()
        return logits.detach(), [p.grad.clone() for p in model.parameters()]

    ref, ref_grads = grads(
        lambda: model(input_ids=full, attention_mask=full_mask, position_ids=positions(full_mask)).logits
    )
    out, out_grads = grads(lambda: LeanDecoder(model).forward(full, full_mask, positions(full_mask))[0])
    assert torch.equal(out, ref)
    assert all(torch.equal(a, b) for a, b in zip(out_grads, ref_grads, strict=True))


def test_bf16_autocast_forward_is_bit_identical():
    """Under bf16 autocast keys leave their norm in float32 and values stay bf16; the cache keeps each dtype."""
    model = qwen3()
    lean = LeanDecoder(model)
    ids, mask = prompts(8, 6, padded=True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=True)
        cache = lean.new_cache(8)
        logits, _ = lean.forward(ids, mask, positions(mask), cache, True)
        assert torch.equal(logits, ref.logits)
        grown = torch.cat([mask, torch.ones(8, 1, dtype=torch.long)], dim=1)
        token = torch.full((8, 1), 3)
        step = model(
            input_ids=token,
            attention_mask=grown,
            position_ids=positions(grown)[:, -1:],
            past_key_values=ref.past_key_values,
        )
        assert torch.equal(lean.forward(token, grown, positions(grown)[:, -1:], cache, True)[0], step.logits)
    assert cache.keys[0].dtype == torch.float32 and cache.values[0].dtype == torch.bfloat16


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "left-padded"])
def test_sampling_and_log_probabilities_match_the_transformers_path(padded, monkeypatch):
    model = qwen3()
    ids, mask = prompts(16, 6, padded)

    def run():
        rollouts = sampling.sample(
            model, ids, mask, 8, eos_id=EOS, pad_id=PAD, generator=torch.Generator().manual_seed(4), top_k=8
        )
        with torch.no_grad():
            logp, hidden = sampling.token_logprobs_and_hidden(
                model, ids, mask, rollouts.completion_ids, rollouts.completion_mask
            )
        return rollouts, logp, hidden

    lean = run()
    monkeypatch.setattr(lean_decoder, "supports", lambda model: False)
    reference = run()
    assert lean[0].completion_mask.sum() < lean[0].completion_mask.numel(), "some rollouts should end early"
    fields = ("completion_ids", "completion_mask", "logprobs")
    for name in fields:
        assert torch.equal(getattr(lean[0], name), getattr(reference[0], name)), name
    assert torch.equal(lean[1], reference[1]) and torch.equal(lean[2], reference[2])


class Wrapped(torch.nn.Module):
    """A projection wrapped as LoRA wraps one: ``.weight`` still reads the base weight, the forward adds to it."""

    def __init__(self, base):
        super().__init__()
        self.base_layer = base
        self.weight, self.bias = base.weight, base.bias

    def forward(self, x):
        return self.base_layer(x) + 1.0


def test_supports_only_what_it_reproduces():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=16, n_layer=1, n_head=2))
    assert supports(qwen3())
    assert not supports(gpt2)
    assert not supports(qwen3(attn_implementation="eager"))
    assert not supports(qwen3(rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}))
    assert not supports(qwen3(use_sliding_window=True, sliding_window=4, max_window_layers=0))
    assert lean_forward(gpt2) is None
    hooked = qwen3()
    hooked.model.layers[0].mlp.register_forward_hook(lambda module, args, out: out * 2)
    assert not supports(hooked)  # a hook the lean forward would skip
    adapted = qwen3()
    adapted.model.layers[1].self_attn.q_proj = Wrapped(adapted.model.layers[1].self_attn.q_proj)
    assert not supports(adapted)  # an adapter-style wrapper around a projection
    checkpointed = qwen3().train()
    checkpointed.gradient_checkpointing_enable()
    assert not supports(checkpointed)
    with pytest.raises(ValueError, match="cannot reproduce GPT2LMHeadModel"):
        LeanDecoder(gpt2)


def test_tiny_vlm_bound_to_its_images_is_bit_identical_in_sampling_and_training(monkeypatch):
    """The CARE policy: image features replace the placeholders on the prompt's call, suppressed tokens get their
    finite logit, and the Qwen2 decoder runs lean; rollouts, log-probabilities, hidden states and gradients equal
    the transformers path's."""
    import functools

    import numpy as np

    from repro.tasks import visual_reasoning as vr

    torch.manual_seed(0)
    config = vr.TaskConfig()
    policy = vr.build_policy(config, hidden=16, layers=2, heads=2)
    items = [config.item(b, np.random.default_rng(3)) for b in vr.BENCHMARKS]
    images, ids, mask = vr.prompt_tensors(items, config)
    bound = functools.partial(policy, images)
    assert lean_forward(bound) is not None and not bool(mask.all())  # left-padded prompts

    def run():
        policy.zero_grad()
        out = sampling.sample(bound, ids, mask, vr.MAX_RESPONSE, vr.EOS, vr.PAD, torch.Generator().manual_seed(0))
        logp, hidden = sampling.token_logprobs_and_hidden(bound, ids, mask, out.completion_ids, out.completion_mask)
        (logp.sum() + hidden.sum()).backward()
        grads = [p.grad.clone() for p in policy.parameters()]
        return [out.completion_ids, out.completion_mask, out.logprobs, logp.detach(), hidden.detach(), *grads]

    lean = run()
    monkeypatch.setattr(lean_decoder, "lean_forward", lambda model: None)
    monkeypatch.setattr(sampling, "lean_forward", lambda model: None)
    reference = run()
    assert all(torch.equal(a, b) for a, b in zip(lean, reference, strict=True))
    assert lean_forward(functools.partial(policy, images, use_cache=True)) is None  # keywords: not the bound form
