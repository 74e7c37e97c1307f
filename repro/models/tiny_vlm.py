"""A tiny vision-language policy: a patch encoder feeding a decoder built from a transformers config.

Qwen2.5-VL, CARE's policy, is a ViT whose patch features replace image placeholder tokens in the input
embeddings of a Qwen2 language model. This is the same wiring at toy size: each image cell (one patch of
``cell × cell × 3`` pixels) goes through a two-layer MLP plus a learned patch-position embedding, and the
results replace the ``<img>`` placeholder tokens of the prompt in a ``Qwen2ForCausalLM`` built from a
``Qwen2Config``. The module's forward takes ``images`` first, so ``functools.partial(model, images)`` is a
causal LM that :func:`repro.methods.sampling.sample` and ``token_logprobs`` can drive unchanged (image
features enter on the call that sees the placeholders; later cached decode steps see none).
"""

from __future__ import annotations

import torch
from torch import nn

SUPPRESSED_LOGIT = -1.0e4


class TinyVLM(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        image_token_id: int,
        pad_token_id: int,
        eos_token_id: int,
        grid: int,
        cell: int,
        hidden: int,
        layers: int,
        heads: int,
        max_positions: int,
        suppressed_token_ids: tuple[int, ...] = (),
    ):
        from transformers import Qwen2Config, Qwen2ForCausalLM

        super().__init__()
        self.image_token_id = image_token_id
        self.suppressed_token_ids = list(suppressed_token_ids)
        self.grid, self.cell = grid, cell
        self.vision = nn.Sequential(nn.Linear(cell * cell * 3, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.patch_position = nn.Parameter(torch.randn(grid * grid, hidden) * 0.02)
        config = Qwen2Config(
            vocab_size=vocab_size,
            hidden_size=hidden,
            intermediate_size=4 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads,
            max_position_embeddings=max_positions,
            tie_word_embeddings=True,
            pad_token_id=pad_token_id,
            bos_token_id=eos_token_id,
            eos_token_id=eos_token_id,
            attention_dropout=0.0,
        )
        self.decoder = Qwen2ForCausalLM(config)

    def patches(self, images: torch.Tensor) -> torch.Tensor:
        """(B, grid·cell, grid·cell, 3) pixels -> (B, grid², cell²·3), one patch per cell, row-major."""
        g, c = self.grid, self.cell
        x = images.reshape(images.shape[0], g, c, g, c, 3).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(images.shape[0], g * g, c * c * 3)

    def forward(
        self,
        images: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values=None,
        use_cache: bool = False,
        output_hidden_states: bool = False,
    ):
        """images: (B, H, W, 3); input_ids: (B, L) with grid² ``<img>`` tokens per row when L covers
        the prompt. Returns the decoder's ``CausalLMOutputWithPast``, with the logits of ``suppressed_token_ids``
        set to ``SUPPRESSED_LOGIT``."""
        embeds = self.embed(images, input_ids, self.decoder.get_input_embeddings())
        out = self.decoder(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
        )
        out.logits = self.suppress(out.logits)
        return out

    def embed(self, images: torch.Tensor, input_ids: torch.Tensor, token_embedding) -> torch.Tensor:
        """Token embeddings with the image features in place of the ``<img>`` placeholders."""
        embeds = token_embedding(input_ids)
        is_image = input_ids == self.image_token_id
        if bool(is_image.any()):
            features = self.vision(self.patches(images)) + self.patch_position  # (B, grid², hidden)
            embeds = embeds.masked_scatter(is_image[..., None], features.to(embeds.dtype))
        return embeds

    def suppress(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.suppressed_token_ids:  # tokens the policy may never emit (padding, image placeholders)
            return logits
        # A large finite logit, not −∞: teacher-forced log-probabilities of padding positions are multiplied
        # by a zero mask, and −∞·0 would be NaN. exp(−1e4) is exactly 0 in float32.
        return logits.index_fill(-1, torch.tensor(self.suppressed_token_ids), SUPPRESSED_LOGIT)

    def lean(self, images: torch.Tensor):
        """This model bound to ``images`` as a lean forward (:mod:`repro.methods.lean_decoder`; what
        ``functools.partial(model, images)`` runs on in repro.methods.sampling), or None where the decoder is not
        one the lean forward reproduces."""
        from repro.methods.lean_decoder import LeanDecoder

        decoder = LeanDecoder.of(self.decoder)
        return None if decoder is None else _LeanBound(self, images, decoder)


class _LeanBound:
    """:meth:`TinyVLM.forward` on fixed images through the decoder's lean forward: bit-identical logits and hidden
    states (tests/test_lean_decoder.py)."""

    def __init__(self, model: TinyVLM, images: torch.Tensor, decoder):
        self.model, self.images, self.decoder = model, images, decoder

    def new_cache(self, capacity: int):
        return self.decoder.new_cache(capacity)

    def forward(self, input_ids, attention_mask, position_ids, cache=None, padded=True):
        embeds = self.model.embed(self.images, input_ids, self.decoder.embed)
        logits, hidden = self.decoder.forward(None, attention_mask, position_ids, cache, padded, inputs_embeds=embeds)
        return self.model.suppress(logits), hidden
