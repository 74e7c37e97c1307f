"""A lean forward pass of a transformers ``Qwen3ForCausalLM`` or ``Qwen2ForCausalLM``: the same weights (the
module's own parameters, so autograd and the optimiser see no difference), the same operations in the same order,
without transformers' per-call machinery (output records, mask factories, a growing key/value cache made by
concatenation).

At the sizes the ci and reduced scales train (hidden 32–64, two layers, batches of 128), a transformers forward
is dominated by that machinery, not by arithmetic: a decode step spends more time concatenating its cache and
building masks than multiplying. This module writes keys and values into a cache allocated once per rollout and
calls ``scaled_dot_product_attention`` exactly as transformers' SDPA path does (``enable_gqa`` without a mask, the
grouped-query packing for one query with a mask, repeated key/value heads otherwise), so its logits, hidden states
and gradients are **bit-identical** to the transformers model's (``tests/test_lean_decoder.py`` checks with
``torch.equal``: prefill, decode and backward, with and without padding, Qwen3 and Qwen2, and the tiny VLM).

Only the configurations it reproduces are accepted (:func:`supports`): Qwen3 or Qwen2 on CPU or CUDA with SDPA
attention, default RoPE, no sliding window, SiLU, built of transformers' own modules with no hooks, adapters or
gradient checkpointing. Anything else (a checkpoint with RoPE scaling, eager attention, a
model of another family) runs through transformers as before. A model that wraps such a decoder provides its own
lean forward through a ``lean(*args)`` method (:func:`lean_forward`; the tiny VLM bound to its images does).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

SUPPORTED = {"qwen3": "Qwen3ForCausalLM", "qwen2": "Qwen2ForCausalLM"}


def supports(model) -> bool:
    """Whether :class:`LeanDecoder` reproduces ``model``'s forward exactly."""
    config = getattr(model, "config", None)
    if config is None or type(model).__name__ != SUPPORTED.get(getattr(config, "model_type", None)):
        return False
    rope = getattr(config, "rope_parameters", None) or {}
    device = next(model.parameters()).device.type
    return (
        device in ("cpu", "cuda")  # transformers' SDPA path branches differently on MPS, XPU and NPU
        and _plain(model, config.model_type)
        and config._attn_implementation == "sdpa"
        and rope.get("rope_type", "default") == "default"
        and set(getattr(config, "layer_types", None) or ["full_attention"]) == {"full_attention"}
        and config.hidden_act == "silu"
        and (config.attention_dropout == 0.0 or not model.training)
    )


_PARTS = ("Model", "DecoderLayer", "Attention", "MLP", "RMSNorm", "RotaryEmbedding")


def _plain(model, model_type: str) -> bool:
    """Whether every submodule is one whose forward the lean path repeats, unhooked, and gradient checkpointing is
    off: an adapter (LoRA wraps ``nn.Linear``), a quantised linear layer, an offloading or device-map hook, or
    checkpointing would be skipped silently by a forward that reads the weights directly."""
    if getattr(model, "is_gradient_checkpointing", False):
        return False
    family = f"transformers.models.{model_type}.modeling_{model_type}"
    prefix = SUPPORTED[model_type].removesuffix("ForCausalLM")
    allowed = {(family, SUPPORTED[model_type]), ("transformers.activations", "SiLUActivation")}
    allowed |= {(family, prefix + part) for part in _PARTS}
    plain_torch = (torch.nn.Linear, torch.nn.Embedding, torch.nn.ModuleList)
    for module in model.modules():
        if module._forward_hooks or module._forward_pre_hooks:
            return False
        kind = type(module)
        if kind not in plain_torch and (kind.__module__, kind.__name__) not in allowed:
            return False
    return True


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    dtype = x.dtype
    x = x.to(torch.float32)
    variance = x.pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(variance + eps)
    return weight * x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    batch, heads, length, dim = x.shape
    return x[:, :, None, :, :].expand(batch, heads, n_rep, length, dim).reshape(batch, heads * n_rep, length, dim)


class KVCache:
    """Keys and values of every layer, allocated at the first write for ``capacity`` positions (in the dtype the
    layer produced them: under bf16 autocast keys leave their norm in float32 and values in bf16) and filled in
    place; attention reads the filled prefix, the same values in the same shape that concatenation would make."""

    def __init__(self, layers: int, capacity: int):
        self.capacity = capacity
        self.keys: list[torch.Tensor | None] = [None] * layers
        self.values: list[torch.Tensor | None] = [None] * layers
        self.length = 0

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor, start: int):
        end = start + key.shape[2]
        if end > self.capacity:
            raise ValueError(f"the key/value cache holds {self.capacity} positions; position {end} was asked for")
        if self.keys[layer] is None:
            self.keys[layer] = key.new_empty((*key.shape[:2], self.capacity, key.shape[3]))
            self.values[layer] = value.new_empty((*value.shape[:2], self.capacity, value.shape[3]))
        self.keys[layer][:, :, start:end] = key
        self.values[layer][:, :, start:end] = value
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


def lean_forward(model):
    """The lean forward for ``model``, or None where it has none (then call ``model`` itself): a
    :class:`LeanDecoder` for a decoder :func:`supports` accepts, and ``f.lean(*args)`` for
    ``functools.partial(f, *args)`` where ``f`` defines ``lean`` (a model taking extra inputs first, such as the
    tiny VLM bound to its images; its ``lean`` returns None where its own decoder is unsupported)."""
    if isinstance(model, functools.partial):
        return model.func.lean(*model.args) if hasattr(model.func, "lean") and not model.keywords else None
    return LeanDecoder.of(model)


class LeanDecoder:
    """Forward passes of ``model`` (a causal LM that :func:`supports` accepts) through its own parameters.
    Construct per use: it reads the parameters' current values at call time, never copies them."""

    def __init__(self, model, *, checked: bool = False):
        if not checked and not supports(model):
            raise ValueError(f"LeanDecoder cannot reproduce {type(model).__name__} with this configuration")
        config = model.config
        self.model = model
        self.eps = config.rms_norm_eps
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.n_rep = self.heads // self.kv_heads
        self.scaling = self.head_dim**-0.5
        self.pad_id = model.model.embed_tokens.padding_idx
        self.inv_freq = model.model.rotary_emb.inv_freq
        self.attention_scaling = model.model.rotary_emb.attention_scaling
        self.qk_norm = hasattr(model.model.layers[0].self_attn, "q_norm")

    @classmethod
    def of(cls, model) -> LeanDecoder | None:
        """The lean forward of ``model``, or None where :func:`supports` refuses it (the check, a walk over every
        submodule, runs once)."""
        return cls(model, checked=True) if supports(model) else None

    def new_cache(self, capacity: int) -> KVCache:
        return KVCache(len(self.model.model.layers), capacity)

    def _attention(self, q, k, v, mask: torch.Tensor | None):
        """transformers' ``sdpa_attention_forward`` for these shapes (see its branches on ``enable_gqa``,
        ``pack_gqa`` and ``repeat_kv``). ``mask``: boolean (B, 1, q, kv), True where attention is allowed, or
        None for causal attention without padding."""
        batch, _, q_len, _ = q.shape
        if self.n_rep > 1 and mask is None and k.shape[-1] == v.shape[-1] <= 256:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None, scale=self.scaling, is_causal=q_len > 1, enable_gqa=True
            )
        else:
            if self.n_rep > 1 and q_len == 1:
                q = q.reshape(batch, self.heads // self.n_rep, self.n_rep, q.shape[-1])
            elif self.n_rep > 1:
                k, v = _repeat_kv(k, self.n_rep), _repeat_kv(v, self.n_rep)
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, scale=self.scaling, is_causal=q_len > 1 and mask is None
            )
        out = out.reshape(out.shape[0], -1, q_len, v.shape[-1])
        return out.transpose(1, 2).contiguous()

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(input_ids, self.model.model.embed_tokens.weight, self.pad_id)  # nn.Embedding's call

    def forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: KVCache | None = None,
        padded: bool = True,
        inputs_embeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, last hidden state after the final norm) for ``input_ids`` (B, q), or for ``inputs_embeds``
        (B, q, H) given instead. ``attention_mask`` (B, kv) covers the cached positions and these; ``padded`` False
        declares it all ones (no mask is built, as transformers builds none). With a ``cache``, keys and values are
        written at ``cache.length`` onwards."""
        base = self.model.model
        h = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        batch, q_len = h.shape[:2]
        start = cache.length if cache is not None else 0
        kv_len = start + q_len
        mask = None
        if padded:
            allowed = attention_mask[:, None, None, :kv_len].bool()
            if q_len > 1:
                causal = torch.arange(kv_len, device=h.device)[None, :] <= (
                    torch.arange(q_len, device=h.device)[:, None] + start
                )
                allowed = allowed & causal[None, None]
            mask = allowed
        with torch.autocast(device_type=h.device.type, enabled=False):
            freqs = position_ids[..., None].float() * self.inv_freq.to(device=h.device, dtype=torch.float)
            emb = torch.cat((freqs, freqs), dim=-1)
            cos = (emb.cos() * self.attention_scaling).to(h.dtype)[:, None]
            sin = (emb.sin() * self.attention_scaling).to(h.dtype)[:, None]
        for index, layer in enumerate(base.layers):
            attn = layer.self_attn
            residual = h
            x = _rms_norm(h, layer.input_layernorm.weight, self.eps)
            shape = (batch, q_len, -1, self.head_dim)
            q = F.linear(x, attn.q_proj.weight, attn.q_proj.bias).view(shape)
            k = F.linear(x, attn.k_proj.weight, attn.k_proj.bias).view(shape)
            v = F.linear(x, attn.v_proj.weight, attn.v_proj.bias).view(shape).transpose(1, 2)
            if self.qk_norm:  # Qwen3: RMSNorm over each head's query and key
                q, k = _rms_norm(q, attn.q_norm.weight, self.eps), _rms_norm(k, attn.k_norm.weight, self.eps)
            q, k = q.transpose(1, 2), k.transpose(1, 2)
            q = (q * cos) + (_rotate_half(q) * sin)
            k = (k * cos) + (_rotate_half(k) * sin)
            if cache is not None:
                k, v = cache.update(index, k, v, start)
            out = self._attention(q, k, v, mask).reshape(batch, q_len, -1).contiguous()
            h = residual + F.linear(out, attn.o_proj.weight, attn.o_proj.bias)
            residual = h
            x = _rms_norm(h, layer.post_attention_layernorm.weight, self.eps)
            mlp = layer.mlp
            gated = F.silu(F.linear(x, mlp.gate_proj.weight)) * F.linear(x, mlp.up_proj.weight)
            h = residual + F.linear(gated, mlp.down_proj.weight)
        if cache is not None:
            cache.length = kv_len
        h = _rms_norm(h, base.norm.weight, self.eps)
        return F.linear(h, self.model.lm_head.weight), h
