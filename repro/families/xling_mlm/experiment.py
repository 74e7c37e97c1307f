"""Masked-LM pre-training of a tiny BERT on the synthetic multilingual world (arXiv 2104.08645's reduced scale).

mBERT's zero-shot cross-lingual transfer rests on its multilingual pre-training, which aligns languages only
through shared tokens and shared structure. Here a BERT built from a transformers ``BertConfig`` (random init) is
pre-trained by masked language modelling on unlabelled sentence pairs of every language of
:mod:`repro.tasks.xling_pairs` (the second sentence restates the first, in new forms, with probability
``restated``; code-switched words and cognates are the only cross-lingual anchors; no parallel data). It is its own
content-keyed run (``robust_xling.requires``), computed once and shared by every arm and seed, and writes the
encoder checkpoint, the MLM loss curve and its masked-token predictions on held-out sentences of each language.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

NOT_IMPLEMENTED = None


class WorldParams(BaseModel):
    """The synthetic world (repro.tasks.xling_pairs.build_world); pre-training and fine-tuning build the same one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    """Language distance of each target language t1, t2, … to English (0 = English itself, 1 = nothing shared)."""
    concepts: int = Field(48, ge=8)
    forms: int = Field(2, ge=2)
    """Synonymous surface forms per concept and language (a word's neighbours: the other forms)."""
    length: int = Field(6, ge=3)
    """Words per sentence."""
    successors: int = Field(3, ge=1)
    """Possible next concepts of each concept in the unlabelled text's Markov chain."""
    cognates: float = Field(0.8, ge=0, le=1)
    """Share of concepts a target language at distance 0 writes with English's forms (× (1 − d))."""
    reorder: int = Field(2, ge=0)
    """Adjacent transpositions of the word order at distance 1 (× d)."""
    code_switch: float = Field(0.5, ge=0, le=1)
    """Per-word probability of an English form in a distance-0 target language's unlabelled text (× (1 − d))."""
    world_seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _coherent(self) -> WorldParams:
        if not self.targets or not all(0 <= d <= 1 for d in self.targets):
            raise ValueError(f"targets must be distances in [0, 1], not {self.targets}")
        if self.successors >= self.concepts or self.length >= self.concepts:
            raise ValueError("need successors < concepts and length < concepts")
        return self

    def build(self):
        from repro.tasks.xling_pairs import build_world

        return build_world(
            self.targets,
            self.concepts,
            self.forms,
            self.length,
            self.successors,
            self.cognates,
            self.reorder,
            self.code_switch,
            self.world_seed,
        )


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    world: WorldParams = Field(default_factory=WorldParams)
    hidden: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    intermediate: int = Field(128, ge=8)
    steps: int = Field(2000, ge=1)
    """MLM steps. The copy across the two sentences (what lets fine-tuning compare a pair) is learnt at ~600–800
    steps at ci's size (the loss falls from ~4.5 to ~2); 1,000 leaves a margin."""
    batch: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    mask_prob: float = Field(0.15, gt=0, lt=1)
    """BERT's masking rate (every masked word becomes [MASK]; the 80/10/10 split is not used)."""
    restated: float = Field(0.9, ge=0, le=1)
    """Share of pre-training pairs whose second sentence restates the first."""
    swapped: float = Field(0.5, ge=0, le=1)
    """Share of restatements with two adjacent words exchanged (so that matching a restatement cannot rest on
    word position alone)."""
    eval_sentences: int = Field(256, ge=1)
    """Held-out restated pairs per language for the masked-token predictions."""
    curve_every: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _coherent(self) -> Params:
        if self.hidden % self.heads:
            raise ValueError("hidden must be a multiple of heads")
        return self


SCALES = {"ci": {}, "reduced": {}, "full": {}}  # sizes come from robust_xling (requires), per scale


def bert_config(params: Params, vocab_size: int, num_labels: int | None = None):
    """The tiny BERT's ``transformers.BertConfig`` (no dropout: runs are short and seeds carry the noise)."""
    from transformers import BertConfig

    extra = {"num_labels": num_labels} if num_labels else {}
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=params.hidden,
        num_hidden_layers=params.layers,
        num_attention_heads=params.heads,
        intermediate_size=params.intermediate,
        max_position_embeddings=4 * params.world.length + 8,
        type_vocab_size=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **extra,
    )


def _masked_batch(params: Params, world, n: int, rng: np.random.Generator, restated: float):
    import torch

    from repro.tasks.xling_pairs import MASK, SPECIALS, encode_pairs, unlabelled_pairs

    first, second = unlabelled_pairs(world, n, rng, restated=restated, swapped=params.swapped)
    ids, types = encode_pairs(first, second)
    mask = (rng.random(ids.shape) < params.mask_prob) & (ids >= SPECIALS)
    labels = np.where(mask, ids, -100)
    inputs = np.where(mask, MASK, ids)
    return torch.as_tensor(inputs), torch.as_tensor(types), torch.as_tensor(labels)


def run(params: Params, seed: int, rec) -> None:
    import torch
    from transformers import BertForMaskedLM

    world = params.world.build()
    rng = np.random.default_rng([seed, 1])
    model = BertForMaskedLM(bert_config(params, world.vocab_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=0.01)
    rec.snapshot_weights("init", model)
    model.train()
    for step in rec.progress(range(params.steps), desc="masked-LM pre-training"):
        inputs, types, labels = _masked_batch(params, world, params.batch, rng, params.restated)
        loss = model(input_ids=inputs, token_type_ids=types, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % params.curve_every == 0 or step == params.steps - 1:
            rec.log_curve(step, loss=loss.item())
    rec.snapshot_weights("final", model)
    rec.save_checkpoint(model.bert.state_dict())

    model.eval()
    eval_rng = np.random.default_rng([seed, 2])
    columns: dict[str, list] = {k: [] for k in ("language", "item", "position", "target", "prediction")}
    with torch.no_grad():
        for lang, name in enumerate(world.languages):
            from repro.tasks.xling_pairs import MASK, encode_pairs, realise

            walks = np.argsort(eval_rng.random((params.eval_sentences, world.concepts)), axis=1)[:, : world.length]
            first = realise(world, walks, lang, eval_rng)
            second = realise(world, walks, lang, eval_rng)
            ids, types = encode_pairs(first, second)
            position = world.length + 2 + eval_rng.integers(world.length, size=params.eval_sentences)
            rows = np.arange(params.eval_sentences)
            target = ids[rows, position]
            ids[rows, position] = MASK
            logits = model(input_ids=torch.as_tensor(ids), token_type_ids=torch.as_tensor(types)).logits
            prediction = logits[torch.as_tensor(rows), torch.as_tensor(position)].argmax(-1).numpy()
            columns["language"] += [name] * params.eval_sentences
            columns["item"] += rows.tolist()
            columns["position"] += position.tolist()
            columns["target"] += target.tolist()
            columns["prediction"] += prediction.tolist()
    rec.write_predictions("masked", pd.DataFrame(columns))
