"""Group DRO vs plain contrastive (CLIP) training, evaluated on corrupted image–text retrieval (seed 000's
research question; Sagawa et al. arXiv 1911.08731; Qiu et al. arXiv 2212.08044).

A CLIP model registered with ``open_clip.add_model_config`` (``repro/model_configs/*.json``) and built by
``open_clip.create_model`` is trained from scratch (ci, reduced) on procedurally rendered shape scenes and
their captions (repro.tasks.shape_captions), tokenised by open_clip's BPE tokenizer remapped onto the task's
closed vocabulary. Arms differ only in their parameters:

- ``objective: erm`` — CLIP's contrastive loss (repro.methods.contrastive);
- ``objective: group_dro, dro_groups: colour`` — online group DRO over the scene-colour groups, whose training
  frequencies are long-tailed (``colour_imbalance``), with Sagawa et al.'s strong regularisation (the
  AdamW ``weight_decay`` shared by every arm) and group adjustment C/√n_g;
- ``augment: corruptions`` — every training pair is assigned uniformly to one of the corruption groups
  (clean, and the categories of ``train_corruptions``: image noise/blur/weather/digital, text char/word) and
  corrupted accordingly; with ``objective: erm`` this is plain augmentation, with ``objective: group_dro,
  dro_groups: corruption`` it is DRO over corruption groups;
- ``shuffle_captions`` — negative control: training captions permuted across images.

Group DRO's adversary step η_q (``dro_step_size``) is 0.1 at ci and reduced: with only 200 (1,200) steps the
paper's 0.01 leaves q near uniform for most of training (η_q·T = 2). The curve logs q's largest weight
(``q_max``) and the group holding it (``q_argmax``) every ``curve_every`` steps: the mechanism diagnostics.

Evaluation (every arm): distinct-caption scenes, equally many per colour; each query's rank of its match, on
clean data and on each of Qiu et al.'s perturbations (17 image, 11 text) at severities 1–5, for image→text
and text→image retrieval. Its metrics module turns the ranks into R@k, worst-corruption recall, MMI-style relative
drop, spread across corruptions and worst-group recall; the run computes none of them.

Full scale (``data: flickr30k`` or ``coco``): an open_clip hub checkpoint (``pretrained``) fine-tuned on a
Karpathy-split dataset read from ``data_dir`` (repro.tasks.karpathy_retrieval), evaluated the same way on its
1k / 5k test images; attribute groups do not exist there, so only ERM and corruption-group DRO apply.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from repro.tasks.perturbations import CATEGORIES, IMAGE_PERTURBATIONS, SEVERITIES, TEXT_PERTURBATIONS

NOT_IMPLEMENTED = None
MODEL_CONFIGS = Path(__file__).resolve().parents[2] / "model_configs"
CLEAN = "clean"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: Literal["erm", "group_dro"] = "erm"
    """Training objective: CLIP's mean contrastive loss, or online group DRO over ``dro_groups``."""
    dro_groups: Literal["colour", "corruption"] = "colour"
    """Groups of the DRO objective: scene colours (long-tailed) or the corruption groups of ``augment``."""
    augment: Literal["none", "corruptions"] = "none"
    """Corrupt training pairs (uniformly over clean + the categories of ``train_corruptions``)."""
    shuffle_captions: bool = False
    """Negative control: training captions permuted across images."""
    model: str = "repro-tiny-clip-p8"
    """open_clip model config (repro/model_configs/<name>.json, or an open_clip built-in such as ViT-B-32)."""
    pretrained: str | None = None
    """open_clip pretrained tag (full scale only, e.g. "openai"); None trains from random init."""
    data: Literal["shapes", "flickr30k", "coco"] = "shapes"
    """Procedural scenes (ci, reduced) or a Karpathy-split retrieval dataset (full)."""
    data_dir: str | None = None
    """Folder with the Karpathy split JSON and the images (full scale)."""
    train_pairs: int = Field(4096, ge=16)
    """Training image–caption pairs (shapes: rendered once per run)."""
    colour_imbalance: float = Field(20.0, ge=1.0)
    """Training frequency of the most common colour over the rarest (geometric in between)."""
    eval_per_group: int = Field(64, ge=2)
    """Evaluation scenes per colour (6 colours; every caption distinct). ci: 64 (384 scenes), twice the first
    design's 32: evaluation is cheap next to training and halves the binomial variance of every recall."""
    steps: int = Field(200, ge=1)
    """Optimiser steps."""
    batch_size: int = Field(128, ge=2)
    lr: float = Field(2e-3, gt=0)
    """Peak learning rate of AdamW (linear warm-up, cosine decay, as open_clip's training script)."""
    warmup_steps: int = Field(30, ge=0)
    weight_decay: float = Field(1.0, ge=0)
    """Decoupled weight decay on matrices (not gains, biases, embeddings or the logit scale) — 5× open_clip's
    default 0.2: Sagawa et al.'s "stronger-than-typical ℓ2 penalty", the same for every arm."""
    dro_step_size: float = Field(0.1, gt=0)
    """η_q. Sagawa et al. use 0.01 (official ``robust_step_size``) over ~10⁴ steps (Waterbirds: 300 epochs of
    ~37 batches, η_q·T ≈ 110); how far q can move is set by η_q·T. At ci's 200 steps 0.01 gives η_q·T = 2 and
    q reaches its largest weight only at the end; 0.1 (the top of the range group DRO implementations use,
    η_q·T = 20, still below the paper's) lets q concentrate within the run."""
    dro_adjustment: float = Field(1.0, ge=0)
    """C in ℓ_g + C/√n_g (Sagawa et al. tune C ∈ {0,…,5}; not tuned here)."""
    train_corruptions: tuple[str, ...] = (
        "gaussian_noise",
        "impulse_noise",
        "defocus_blur",
        "motion_blur",
        "fog",
        "brightness",
        "contrast",
        "pixelate",
        "char_swap",
        "keyboard",
        "word_delete",
        "synonym_replace",
    )
    """Perturbations used in training (half of each category; the rest, and stylize, are only evaluated)."""
    curve_every: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _coherent(self) -> Params:
        unknown = sorted(set(self.train_corruptions) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown train_corruptions {unknown}; known: {', '.join(CATEGORIES)}")
        if self.objective == "group_dro" and self.dro_groups == "corruption" and self.augment != "corruptions":
            raise ValueError("dro_groups: corruption needs augment: corruptions")
        if self.data != "shapes" and self.dro_groups == "colour" and self.objective == "group_dro":
            raise ValueError("colour groups exist only in the shapes data")
        if self.data != "shapes" and self.data_dir is None:
            raise ValueError(f"data: {self.data} needs data_dir")
        return self


SCALES = {
    "ci": {},
    "reduced": {"train_pairs": 8192, "steps": 1200, "eval_per_group": 128},
    "full": {
        "model": "ViT-B-32",
        "pretrained": "openai",
        "steps": 3000,
        "batch_size": 128,
        "lr": 1e-5,
        "warmup_steps": 300,
        "weight_decay": 0.2,
        "dro_step_size": 0.01,  # Sagawa et al.'s η_q: 3,000 steps give η_q·T = 30
    },
}


def corruption_groups(params: Params) -> list[str]:
    """Group names of ``augment: corruptions``: clean, then each category of ``train_corruptions``."""
    return [CLEAN, *dict.fromkeys(CATEGORIES[name] for name in params.train_corruptions)]


def _cosine_lr(params: Params, step: int) -> float:
    warm = min(1.0, (step + 1) / params.warmup_steps) if params.warmup_steps else 1.0
    return params.lr * warm * 0.5 * (1 + math.cos(math.pi * step / params.steps))


def run(params: Params, seed: int, rec) -> None:
    import open_clip
    import torch

    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    open_clip.add_model_config(MODEL_CONFIGS)
    # Full scale downloads its pretrained checkpoint here (open_clip → Hugging Face hub); ci/reduced never do.
    model = open_clip.create_model(params.model, pretrained=params.pretrained, output_dict=True).to(device)
    data = _load_data(params, rng, model)
    tokenize = data["tokenize"]
    if params.shuffle_captions:
        captions = data["train_captions"]
        data = {**data, "train_captions": [captions[i] for i in rng.permutation(len(captions))]}
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN, device=device)[None, :, None, None]
    std = torch.tensor(open_clip.OPENAI_DATASET_STD, device=device)[None, :, None, None]

    def encode_images(x: torch.Tensor) -> torch.Tensor:
        return model.encode_image((x.to(device) - mean) / std, normalize=True).cpu()

    def encode_texts(texts: list[str]) -> torch.Tensor:
        return model.encode_text(tokenize(texts).to(device), normalize=True).cpu()

    rec.snapshot_weights("init", model)
    _train(params, model, data, normalize=lambda images: (images.to(device) - mean) / std, rng=rng, gen=gen, rec=rec)
    rec.snapshot_weights("final", model)

    model.eval()
    with torch.no_grad():
        rows = _evaluate(seed, data, encode_images, encode_texts, progress=rec.progress)
    rec.write_predictions("ranks", pd.DataFrame(rows))


def _optimizer(params: Params, model):
    """AdamW with decay on matrices only (not gains, biases, embeddings or the logit scale), as open_clip's."""
    import torch

    decay = [p for name, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in name]
    no_decay = [p for name, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in name)]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=params.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )


def _objective_groups(params: Params, n_train: int, train_groups: np.ndarray):
    """(whether the groups are corruption groups, their number, the adjustment C/√n_g of each). The groups the
    objective weighs (ERM logs the same groups' losses): corruption groups when training on corruptions (unless
    DRO is asked to weigh colours), scene colours otherwise."""
    import torch

    by_corruption = params.augment == "corruptions" and not (
        params.objective == "group_dro" and params.dro_groups == "colour"
    )
    if by_corruption:
        n_groups = len(corruption_groups(params))
        train_counts = torch.full((n_groups,), n_train / n_groups)  # uniform assignment
    else:
        n_groups = int(train_groups.max()) + 1
        train_counts = torch.as_tensor(np.bincount(train_groups, minlength=n_groups), dtype=torch.float32)
    return by_corruption, n_groups, params.dro_adjustment / train_counts.clamp(min=1).sqrt()


def _train(params: Params, model, data: dict, normalize, rng: np.random.Generator, gen, rec) -> None:
    """The training loop: ``steps`` AdamW steps on batches drawn without replacement (reshuffled per epoch),
    corrupted when ``augment`` asks, under the objective's loss; a curve row every ``curve_every`` steps."""
    import torch

    from repro.methods.contrastive import per_pair_clip_loss
    from repro.methods.online_group_dro import group_means, robust_loss, update_group_weights

    tokenize = data["tokenize"]
    train_images, train_captions, train_groups = data["train_images"], data["train_captions"], data["train_groups"]
    optimizer = _optimizer(params, model)
    by_corruption, n_groups, adjustment = _objective_groups(params, len(train_captions), train_groups)
    q = torch.full((n_groups,), 1.0 / n_groups)
    device = next(model.parameters()).device
    model.train()
    order = np.empty(0, dtype=np.int64)
    for step in rec.progress(range(params.steps), desc=f"{params.objective}/{params.augment}"):
        if order.size < params.batch_size:
            order = np.concatenate([order, rng.permutation(len(train_captions))])
        idx, order = order[: params.batch_size], order[params.batch_size :]
        images = torch.as_tensor(train_images[idx])
        captions = [train_captions[i] for i in idx]
        groups = torch.as_tensor(train_groups[idx])
        if params.augment == "corruptions":
            corruption = torch.as_tensor(rng.integers(len(corruption_groups(params)), size=len(idx)))
            images, captions = _corrupt_batch(params, images, captions, corruption, rng, gen)
            groups = corruption if by_corruption else groups
        out = model(normalize(images), tokenize(captions).to(device))
        losses = per_pair_clip_loss(out["image_features"], out["text_features"], out["logit_scale"]).cpu()
        group_loss, counts = group_means(losses, groups, n_groups)
        if params.objective == "group_dro":
            q = update_group_weights(q, group_loss, step_size=params.dro_step_size, adjustment=adjustment)
            loss = robust_loss(group_loss, q)
        elif params.objective == "erm":
            loss = losses.mean()
        else:
            raise ValueError(f"unknown objective {params.objective!r}")
        lr = _cosine_lr(params, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))  # open_clip's training script clamps τ⁻¹ at 100
        if step % params.curve_every == 0 or step == params.steps - 1:
            weights = q if params.objective == "group_dro" else counts / counts.sum()  # ERM weighs groups by frequency
            rec.log_curve(
                step,
                loss=loss.item(),
                mean_pair_loss=losses.mean().item(),
                worst_group_loss=group_loss[counts > 0].max().item(),
                max_group_weight=weights.max().item(),
                q_max=q.max().item(),
                q_argmax=int(q.argmax().item()),
                groups=n_groups,
                logit_scale=out["logit_scale"].item(),
            )


def _load_data(params: Params, rng: np.random.Generator, model) -> dict:
    """Training and evaluation sets: images (N, 3, H, W) float in [0, 1] (an array, or a lazy loader indexed by
    arrays), captions, groups (scene colours; all 0 for Karpathy data) and the tokenizer for ``model``."""
    if params.data == "shapes":
        from repro.tasks.shape_captions import (
            CaptionTokenizer,
            captions,
            render,
            sample_eval_scenes,
            sample_train_scenes,
        )

        train = sample_train_scenes(params.train_pairs, params.colour_imbalance, rng)
        test = sample_eval_scenes(params.eval_per_group, rng)
        tokenize = CaptionTokenizer(model.context_length)
        if tokenize.vocab_size > model.vocab_size:
            raise ValueError(f"the task needs {tokenize.vocab_size} token ids; {params.model} has {model.vocab_size}")
        return {
            "train_images": render(train),
            "train_captions": captions(train),
            "train_groups": train.groups,
            "eval_images": render(test),
            "eval_captions": captions(test),
            "eval_groups": test.groups,
            "tokenize": tokenize,
        }
    from repro.tasks.karpathy_retrieval import load_karpathy

    return load_karpathy(params.data, Path(params.data_dir), params.train_pairs, rng, model, params.model)


def _corrupt_batch(params: Params, images, captions: list[str], groups, rng, gen):
    """Corrupt each pair by its corruption group (index into ``corruption_groups``): one perturbation of the
    group's category and one severity per group and step."""
    import torch

    from repro.tasks.image_perturbations import perturb_images
    from repro.tasks.perturbations import perturb_texts

    images = images.clone()
    captions = list(captions)
    for g, name in enumerate(corruption_groups(params)):
        members = torch.nonzero(groups == g).flatten()
        if name == CLEAN or members.numel() == 0:
            continue
        pool = [p for p in params.train_corruptions if CATEGORIES[p] == name]
        perturbation = pool[int(rng.integers(len(pool)))]
        severity = int(rng.integers(1, len(SEVERITIES) + 1))
        if perturbation in IMAGE_PERTURBATIONS:
            images[members] = perturb_images(images[members], perturbation, severity, gen)
        else:
            texts = [captions[i] for i in members.tolist()]
            for i, text in zip(
                members.tolist(), perturb_texts(texts, perturbation, severity, int(rng.integers(2**31))), strict=True
            ):
                captions[i] = text
    return images, captions


def _ranks(queries, gallery) -> np.ndarray:
    """Rank of each query's match (same index) in the gallery, 1 = best; ties count against the query."""
    sim = queries @ gallery.T
    return (sim >= sim.diagonal()[:, None]).sum(dim=1).numpy()


def _evaluate(seed: int, data: dict, encode_images, encode_texts, progress=lambda items, **_: items) -> dict:
    """Per-query ranks on clean data and every perturbation × severity, both directions (``progress``: a bar over
    the perturbations, in the run's log)."""
    import torch

    from repro.tasks.image_perturbations import perturb_images
    from repro.tasks.perturbations import perturb_texts

    images = torch.as_tensor(data["eval_images"])
    texts = data["eval_captions"]
    groups = np.asarray(data["eval_groups"])
    n = len(texts)
    clean_images, clean_texts = encode_images(images), encode_texts(texts)
    columns: dict[str, list] = {
        k: [] for k in ("perturbation", "modality", "category", "severity", "direction", "query", "group", "rank")
    }

    def add(perturbation: str, modality: str, severity: int, image_features, text_features) -> None:
        for direction, ranks in (
            ("image_to_text", _ranks(image_features, text_features)),
            ("text_to_image", _ranks(text_features, image_features)),
        ):
            columns["perturbation"] += [perturbation] * n
            columns["modality"] += [modality] * n
            columns["category"] += [CATEGORIES.get(perturbation, CLEAN)] * n
            columns["severity"] += [severity] * n
            columns["direction"] += [direction] * n
            columns["query"] += list(range(n))
            columns["group"] += groups.tolist()
            columns["rank"] += ranks.tolist()

    add(CLEAN, "none", 0, clean_images, clean_texts)
    for index, name in enumerate(progress(sorted(IMAGE_PERTURBATIONS), desc="evaluate: image perturbations")):
        for severity in SEVERITIES:
            # The same generator seed at every severity: a common random draw, so severities differ only in strength.
            gen = torch.Generator().manual_seed(seed * 1000 + index)
            add(name, "image", severity, encode_images(perturb_images(images, name, severity, gen)), clean_texts)
    for index, name in enumerate(progress(sorted(TEXT_PERTURBATIONS), desc="evaluate: text perturbations")):
        for severity in SEVERITIES:
            perturbed = perturb_texts(texts, name, severity, seed * 1000 + 100 + index)
            add(name, "text", severity, clean_images, encode_texts(perturbed))
    return columns
