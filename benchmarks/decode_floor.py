"""The floor of the rollout loop, shared by grpo_vs_trl.py and gpu_check.py: greedy decoding (no draws, no
filtering, no per-token bookkeeping) through the same decoders ``repro.methods.sampling.sample`` runs on, at the
sampler's batch and length. Prefill plus ``steps - 1`` cached decode steps: the last generated token needs no
forward pass.

- ``lean``: the lean Qwen forward (repro.methods.lean_decoder) with its cache allocated once: what ``sample`` runs
  on where ``lean_forward`` supports the model, and so the floor its tokens per second are compared with;
- ``transformers``: the model's own forward with transformers' growing cache, what ``sample`` runs on otherwise.
"""

from __future__ import annotations


def greedy(decoder, model, steps: int):
    """A function of (ids, mask) that decodes ``steps`` tokens greedily with one of sampling's decoders."""

    def run(ids, mask):
        logits, step = decoder(model, ids, mask, steps)
        for _ in range(steps - 1):
            logits = step(logits.argmax(-1))
        return logits

    return run


def floor_decoders(policy, steps: int) -> dict:
    """``{"lean": run, "transformers": run}`` for ``policy`` (``lean`` only where the lean forward supports it)."""
    from repro.methods.lean_decoder import LeanDecoder
    from repro.methods.sampling import _lean_decoder, _transformers_decoder

    lean = LeanDecoder.of(policy)
    decoders = {"lean": greedy(_lean_decoder, lean, steps)} if lean is not None else {}
    return {**decoders, "transformers": greedy(_transformers_decoder, policy, steps)}
