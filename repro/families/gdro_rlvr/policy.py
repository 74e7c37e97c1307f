"""The policy of a GDRO run: building it (a tiny Qwen3 or a Qwen3-*-Base checkpoint), the precision of its forward
passes, sampling completions from it and scoring completions under it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from repro.families.gdro_rlvr.data import TaskData
    from repro.families.gdro_rlvr.experiment import Params

TINY_QWEN3 = {
    # Stand-ins for Qwen3-{1.7B, 4B, 8B}-Base at ci/reduced scale: the Qwen3 architecture (RoPE, GQA, RMSNorm,
    # SwiGLU) at widths whose parameter counts grow roughly as the originals' (≈ 1 : 2.3 : 4).
    "qwen3-1.7b": {"hidden_size": 32, "intermediate_size": 64, "head_dim": 8},
    "qwen3-4b": {"hidden_size": 48, "intermediate_size": 96, "head_dim": 12},
    "qwen3-8b": {"hidden_size": 64, "intermediate_size": 128, "head_dim": 16},
}
HUB_QWEN3 = {"qwen3-1.7b": "Qwen/Qwen3-1.7B-Base", "qwen3-4b": "Qwen/Qwen3-4B-Base", "qwen3-8b": "Qwen/Qwen3-8B-Base"}


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


def generate(
    policy,
    ids,
    mask,
    data: TaskData,
    *,
    chunk: int,
    generator,
    temperature: float,
    top_k: int,
    top_p: float,
    progress=lambda items, **_: items,
):
    """Completions in chunks of ``chunk`` sequences: (completion ids, mask, sampling log-probs), each (R, T)
    (``progress``: a bar over the chunks, in the run's log)."""
    import torch
    from torch.nn.functional import pad

    from repro.methods.sampling import sample

    parts = [
        sample(
            policy,
            ids[s : s + chunk],
            mask[s : s + chunk],
            max_new_tokens=data.max_new_tokens,
            eos_id=data.eos_id,
            pad_id=data.pad_id,
            generator=generator,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
        )
        for s in progress(range(0, len(ids), chunk), desc="evaluate: sampling")
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
                temperature=params.train_temperature,
            )
            for s in range(0, len(ids), step)
        ]
    )
