"""Robust training for zero-shot cross-lingual transfer (Huang et al., EMNLP 2021, arXiv 2104.08645), and seed
001's question: does a contrastive objective improve cross-lingual alignment and adversarial robustness?

The encoder is the shared masked-LM pre-training run (``xling_mlm``, via :func:`requires`), a tiny BERT over the
synthetic multilingual world of :mod:`repro.tasks.xling_pairs`, fine-tuned with a pair-classification head
(``BertForSequenceClassification``: [CLS] s₁ [SEP] s₂ [SEP]) on **English** PAWS-like pairs only, then evaluated
zero-shot in every language. Arms differ only in their parameters:

- ``method: standard`` — cross-entropy fine-tuning (the paper's baseline);
- ``method: adversarial`` — adversarial training in the word-embedding space: PGD (``adv_steps`` normalised
  steps) within ‖δ_t‖ ≤ ε‖e_t‖ per content token, loss ½(clean + adversarial) (repro.methods.robust_training);
- ``method: smoothing_noise`` — randomized smoothing with random perturbations: Gaussian noise of relative
  size σ on the content tokens' embeddings, trained on noisy inputs only;
- ``method: smoothing_augment`` — randomized smoothing with data augmentation, as the official code
  (``perturb.py``): the training set is replaced by ``augment_copies`` copies of every pair, each word of both
  sentences drawn uniformly from {word} ∪ its synonym neighbours (originals are not kept);
- ``method: contrastive`` — fine-tuning plus λ·InfoNCE between the pooled representations of each training pair's
  first sentence and a neighbour-substituted copy of it (English only: no parallel data, the zero-shot premise);
- ``shuffle_labels`` — negative control: training labels permuted.

Every arm takes the same number of optimiser steps on the same batches' indices. The official code evaluates the
plain fine-tuned model (one forward pass, no vote); so do all arms here. Evaluation writes per-pair predictions
in the **standard** setting (both sentences in one language, every language) and the **generalized** setting
(every ordered pair of two different languages), per-pair outcomes of a greedy worst-case synonym-substitution
attack (``attack_budget`` substitutions, every language), and per-sentence cosines between a sentence and its
translation and between unrelated sentences, and the rank of its translation among all the target sentences
(the alignment diagnostics). The metrics module computes everything.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from repro.families.xling_mlm.experiment import Params as PretrainParams

NOT_IMPLEMENTED = None
METHODS = ("standard", "adversarial", "smoothing_noise", "smoothing_augment", "contrastive")


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["standard", "adversarial", "smoothing_noise", "smoothing_augment", "contrastive"] = "standard"
    shuffle_labels: bool = False
    """Negative control: the training labels permuted across pairs, afresh every epoch (a single permutation lets
    the model fit whichever spurious pattern it happens to carry: ci pilot accuracies 35 % and 60 %)."""
    pretrain: PretrainParams = Field(default_factory=PretrainParams)
    """The shared masked-LM pre-training run's parameters (world, encoder size, steps): an ``xling_mlm`` run."""
    pretrain_seed: int = Field(0, ge=0)
    train_pairs: int = Field(4000, ge=2)
    """English training pairs (balanced)."""
    steps: int = Field(600, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(3e-4, gt=0)
    """Peak AdamW learning rate, decayed linearly to 0 (run_classify.py's schedule, no warm-up)."""
    adv_epsilon: float = Field(0.5, ge=0)
    """Adversarial radius relative to each token's embedding norm."""
    adv_steps: int = Field(1, ge=1)
    noise_sigma: float = Field(0.5, ge=0)
    """Randomized smoothing noise, relative to each token's embedding norm."""
    augment_copies: int = Field(10, ge=1)
    """``num`` of the official perturb.py: 10 for PAWS-X."""
    contrastive_weight: float = Field(1.0, ge=0)
    contrastive_temperature: float = Field(0.1, gt=0)
    test_pairs: int = Field(400, ge=2)
    """Standard-setting test pairs per language."""
    generalized_pairs: int = Field(100, ge=2)
    """Generalized-setting test pairs per ordered pair of different languages."""
    attack_pairs: int = Field(200, ge=1)
    """Standard-setting pairs per language attacked (the first of its test pairs)."""
    attack_budget: int = Field(2, ge=1)
    """Synonym substitutions the greedy attack may make per pair (over both sentences)."""
    alignment_sentences: int = Field(200, ge=2)
    curve_every: int = Field(10, ge=1)


SCALES = {
    "ci": {},
    "reduced": {"train_pairs": 16000, "steps": 2000, "test_pairs": 1000, "pretrain": {"steps": 3000}},
    "full": {},
}


def requires(params: Params) -> dict:
    """The shared pre-training: one ``xling_mlm`` run (its parameters, seed ``pretrain_seed``), read by every arm
    and seed, as every fine-tuning in the paper starts from one mBERT checkpoint."""
    return {"pretrain": ("xling_mlm", params.pretrain.model_dump(mode="json"), params.pretrain_seed)}


def _content(ids):
    from repro.tasks.xling_pairs import SPECIALS

    return ids >= SPECIALS


def _pooled(model, sentences: np.ndarray):
    """Mean of the last hidden states over a single sentence's words (``[CLS] s [SEP]``, token type 0)."""
    import torch

    from repro.tasks.xling_pairs import encode_single

    ids = torch.as_tensor(encode_single(sentences))
    hidden = model.bert(input_ids=ids).last_hidden_state
    mask = _content(ids)[..., None].float()
    return (hidden * mask).sum(1) / mask.sum(1)


def _build_model(params: Params, world, rec):
    from transformers import BertForSequenceClassification

    from repro.families.xling_mlm.experiment import bert_config

    model = BertForSequenceClassification(bert_config(params.pretrain, world.vocab_size, num_labels=2))
    missing, unexpected = model.bert.load_state_dict(rec.load_checkpoint("pretrain"), strict=False)
    if unexpected or any(not key.startswith("pooler.") for key in missing):
        raise RuntimeError(f"pre-trained encoder does not fit: missing {missing}, unexpected {unexpected}")
    return model


def run(params: Params, seed: int, rec) -> None:
    import torch

    from repro.tasks.xling_pairs import pairs, substitute

    world = params.pretrain.world.build()
    neighbours = world.neighbours()
    train = pairs(world, params.train_pairs, 0, 0, np.random.default_rng([seed, 1]))
    first, second, label = train.first, train.second, train.label
    substitution = (0, 0)
    if params.method == "smoothing_augment":
        aug_rng = np.random.default_rng([seed, 4])
        copies = [
            (substitute(first, neighbours, aug_rng), substitute(second, neighbours, aug_rng))
            for _ in range(params.augment_copies)
        ]
        first = np.concatenate([a[0] for a, _ in copies])
        second = np.concatenate([b[0] for _, b in copies])
        label = np.tile(label, params.augment_copies)
        substitution = (
            sum(a[1] + b[1] for a, b in copies),
            sum(a[2] + b[2] for a, b in copies),
        )
    model = _build_model(params, world, rec)
    rec.snapshot_weights("init", model)
    _train(params, model, (first, second, label), neighbours, substitution, seed, rec)
    rec.snapshot_weights("final", model)
    model.eval()
    with torch.no_grad():
        rows = _evaluate(params, model, world, seed, rec)
    for table, frame in rows.items():
        rec.write_predictions(table, frame)


def _train(params: Params, model, data, neighbours, substitution, seed: int, rec) -> None:
    import torch
    import torch.nn.functional as F

    from repro.methods.robust_training import (
        gaussian_embedding_noise,
        info_nce,
        perturbation_ratio,
        pgd_embedding_perturbation,
    )
    from repro.tasks.xling_pairs import encode_pairs, substitute

    first, second, label = data
    order_rng = np.random.default_rng([seed, 3])
    view_rng = np.random.default_rng([seed, 6])
    shuffle_rng = np.random.default_rng([seed, 5])
    noise_gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=0.01)
    substitution_rate = substitution[0] / substitution[1] if substitution[1] else 0.0
    order = np.empty(0, dtype=np.int64)
    model.train()
    for step in rec.progress(range(params.steps), desc=f"fine-tune: {params.method}"):
        if order.size < params.batch_size:
            order = np.concatenate([order, order_rng.permutation(len(label))])
            if params.shuffle_labels:  # a fresh permutation every epoch: no input keeps a label
                label = shuffle_rng.permutation(label)
        idx, order = order[: params.batch_size], order[params.batch_size :]
        ids, types = encode_pairs(first[idx], second[idx])
        ids, types, y = torch.as_tensor(ids), torch.as_tensor(types), torch.as_tensor(label[idx])
        mask = _content(ids)
        embeds = model.bert.embeddings.word_embeddings(ids)

        def task_loss(e, types=types, y=y):
            return F.cross_entropy(model(inputs_embeds=e, token_type_ids=types).logits, y)

        adv_ratio = adv_increase = noise_ratio = 0.0
        contrastive = float("nan")
        if params.method == "adversarial":
            clean = task_loss(embeds)
            delta, _ = pgd_embedding_perturbation(task_loss, embeds, mask, params.adv_epsilon, params.adv_steps)
            adversarial = task_loss(embeds + delta)
            loss = (clean + adversarial) / 2
            adv_ratio = perturbation_ratio(delta, embeds, mask, params.adv_epsilon)
            adv_increase = adversarial.item() - clean.item()
        elif params.method == "smoothing_noise":
            noise = gaussian_embedding_noise(embeds, mask, params.noise_sigma, noise_gen)
            loss = task_loss(embeds + noise)
            noise_ratio = float((noise.norm(dim=-1) / embeds.detach().norm(dim=-1))[mask].mean())
        else:
            loss = task_loss(embeds)
            if params.method == "contrastive":
                view, _, _ = substitute(first[idx], neighbours, view_rng)
                term = info_nce(_pooled(model, first[idx]), _pooled(model, view), params.contrastive_temperature)
                loss = loss + params.contrastive_weight * term
                contrastive = term.item()
        lr = params.lr * (1 - step / params.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % params.curve_every == 0 or step == params.steps - 1:
            rec.log_curve(
                step,
                loss=loss.item(),
                adv_ratio=adv_ratio,
                adv_loss_increase=adv_increase,
                noise_ratio=noise_ratio,
                substitution_rate=substitution_rate,
                contrastive_loss=contrastive,
                contrastive_chance=math.log(params.batch_size),
                lr=lr,
            )


def _predict(model, first: np.ndarray, second: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """(n, 2) class probabilities of pairs."""
    import torch

    from repro.tasks.xling_pairs import encode_pairs

    out = []
    for start in range(0, len(first), chunk):
        ids, types = encode_pairs(first[start : start + chunk], second[start : start + chunk])
        logits = model(input_ids=torch.as_tensor(ids), token_type_ids=torch.as_tensor(types)).logits
        out.append(logits.softmax(-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 2))


def attack(model, first: np.ndarray, second: np.ndarray, label: np.ndarray, neighbours: np.ndarray, budget: int):
    """Greedy worst-case synonym substitution: up to ``budget`` rounds, each applying, to every pair still
    classified correctly, the single substitution (a word of either sentence replaced by one of its neighbours)
    that most lowers the probability of the true label. Labels are preserved by construction (a synonym keeps
    the concept). Returns (final predictions, substitutions made)."""
    first, second = first.copy(), second.copy()
    length, k = first.shape[1], neighbours.shape[1]
    prediction = _predict(model, first, second).argmax(-1)
    used = np.zeros(len(label), dtype=np.int64)
    for _ in range(budget):
        rows = np.flatnonzero(prediction == label)
        if rows.size == 0:
            break
        cand_first = np.repeat(first[rows], 2 * length * k, axis=0).reshape(rows.size, 2, length, k, length)
        cand_second = np.repeat(second[rows], 2 * length * k, axis=0).reshape(rows.size, 2, length, k, length)
        valid = np.zeros((rows.size, 2, length, k), dtype=bool)
        for side, (source, cand) in enumerate(((first, cand_first), (second, cand_second))):
            for pos in range(length):
                replacement = neighbours[source[rows, pos]]  # (rows, k)
                valid[:, side, pos] = replacement >= 0
                cand[:, side, pos, :, pos] = np.where(replacement >= 0, replacement, source[rows, pos][:, None])
        probs = _predict(model, cand_first.reshape(-1, length), cand_second.reshape(-1, length))
        true = probs[np.arange(len(probs)), np.repeat(label[rows], 2 * length * k)].reshape(rows.size, -1)
        true = np.where(valid.reshape(rows.size, -1), true, np.inf)
        best = true.argmin(axis=1)
        has = np.isfinite(true[np.arange(rows.size), best])
        chosen, best = rows[has], best[has]
        first[chosen] = cand_first.reshape(rows.size, -1, length)[has, best]
        second[chosen] = cand_second.reshape(rows.size, -1, length)[has, best]
        used[chosen] += 1
        prediction[chosen] = _predict(model, first[chosen], second[chosen]).argmax(-1)
    return prediction, used


def _evaluate(params: Params, model, world, seed: int, rec) -> dict[str, pd.DataFrame]:
    """Standard and generalized predictions, attacked predictions and alignment cosines (the same test sets for
    every arm of a seed: their generator depends on the seed only)."""
    import torch.nn.functional as F

    from repro.tasks.xling_pairs import pairs, realise

    rng = np.random.default_rng([seed, 2])
    names = world.languages
    table: dict[str, list] = {k: [] for k in ("setting", "lang_first", "lang_second", "item", "label", "prediction")}
    attacked: dict[str, list] = {k: [] for k in ("language", "item", "label", "clean_prediction", "prediction")}
    attacked["substitutions"] = []
    neighbours = world.neighbours()

    def add(setting: str, a: int, b: int, n: int) -> None:
        test = pairs(world, n, a, b, rng)
        prediction = _predict(model, test.first, test.second).argmax(-1)
        table["setting"] += [setting] * n
        table["lang_first"] += [names[a]] * n
        table["lang_second"] += [names[b]] * n
        table["item"] += list(range(n))
        table["label"] += test.label.tolist()
        table["prediction"] += prediction.tolist()
        if setting == "standard":
            m = min(params.attack_pairs, n)
            adv, used = attack(model, test.first[:m], test.second[:m], test.label[:m], neighbours, params.attack_budget)
            attacked["language"] += [names[a]] * m
            attacked["item"] += list(range(m))
            attacked["label"] += test.label[:m].tolist()
            attacked["clean_prediction"] += prediction[:m].tolist()
            attacked["prediction"] += adv.tolist()
            attacked["substitutions"] += used.tolist()

    for a in rec.progress(range(len(names)), desc="evaluate: languages"):
        add("standard", a, a, params.test_pairs)
        for b in range(len(names)):
            if b != a:
                add("generalized", a, b, params.generalized_pairs)
    alignment: dict[str, list] = {
        k: [] for k in ("language", "item", "translation_cosine", "random_cosine", "translation_rank")
    }
    n = params.alignment_sentences
    for lang in range(1, len(names)):
        seq = np.argsort(rng.random((n, world.concepts)), axis=1)[:, : world.length]
        source = _pooled(model, realise(world, seq, 0, rng))
        target = _pooled(model, realise(world, seq, lang, rng))
        alignment["language"] += [names[lang]] * n
        alignment["item"] += list(range(n))
        alignment["translation_cosine"] += F.cosine_similarity(source, target, dim=-1).tolist()
        alignment["random_cosine"] += F.cosine_similarity(source, target.roll(1, dims=0), dim=-1).tolist()
        similarity = F.normalize(source, dim=-1) @ F.normalize(target, dim=-1).T
        # rank of the translation among all n target sentences (1 = nearest; ties count against it)
        alignment["translation_rank"] += (similarity >= similarity.diagonal()[:, None]).sum(dim=1).tolist()
    return {"pairs": pd.DataFrame(table), "attacked": pd.DataFrame(attacked), "alignment": pd.DataFrame(alignment)}
