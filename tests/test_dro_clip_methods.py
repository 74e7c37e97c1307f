"""dro_clip's building blocks: contrastive-loss parity with open_clip, the group DRO update, the tokenizer,
the perturbation suite (every perturbation changes its input; distortion grows with severity) and the
retrieval metrics on a hand-checked rank table."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch

from repro.families.dro_clip import metrics as dro_clip_metrics
from repro.families.dro_clip.schemas import RetrievalRanks
from repro.methods.contrastive import per_pair_clip_loss, weighted_clip_loss
from repro.methods.online_group_dro import group_means, robust_loss, update_group_weights
from repro.metrics import estimators
from repro.tables import validate
from repro.tasks import shape_captions
from repro.tasks.image_perturbations import IMPLEMENTATIONS, perturb_images
from repro.tasks.perturbations import IMAGE_PERTURBATIONS, SEVERITIES, TEXT_PERTURBATIONS, perturb_texts


def _features(n: int = 12, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    return image, text, torch.tensor(14.3, dtype=torch.float64)


# ---------------------------------------------------------------- losses


def test_uniform_weighted_loss_equals_open_clip_cliploss():
    from open_clip.loss import ClipLoss

    image, text, scale = _features()
    reference = ClipLoss()(image, text, scale)
    assert torch.allclose(weighted_clip_loss(image, text, scale), reference, rtol=0, atol=1e-12)
    uniform = torch.full((12,), 1 / 12, dtype=torch.float64)
    assert torch.allclose(weighted_clip_loss(image, text, scale, uniform), reference, rtol=0, atol=1e-12)
    # and the loss really depends on the pairing: a shuffled pairing gives a different (larger) value
    assert weighted_clip_loss(image, text.roll(1, 0), scale) != reference


def test_group_dro_loss_with_frequency_weights_equals_cliploss():
    """Σ_g q_g ℓ_g with q_g = n_g/N (ERM's implicit group weights) is the plain CLIP loss."""
    from open_clip.loss import ClipLoss

    image, text, scale = _features()
    groups = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 0, 1])
    group_loss, counts = group_means(per_pair_clip_loss(image, text, scale), groups, 3)
    assert counts.tolist() == [6, 4, 2]
    loss = robust_loss(group_loss, counts / counts.sum())
    assert torch.allclose(loss, ClipLoss()(image, text, scale), rtol=0, atol=1e-12)


def test_group_dro_update_by_hand():
    """q ← q·exp(η(ℓ_g + C/√n_g)), renormalised (Sagawa et al. Algorithm 1)."""
    q = torch.tensor([0.5, 0.5])
    new = update_group_weights(q, torch.tensor([1.0, 2.0]), step_size=0.1)
    expected = torch.tensor([math.exp(0.1), math.exp(0.2)])
    assert torch.allclose(new, expected / expected.sum())
    # the adjustment favours the small group even at equal losses
    adjusted = update_group_weights(q, torch.tensor([1.0, 1.0]), 0.1, torch.tensor([1 / 10, 1 / 2]))
    assert adjusted[1] > adjusted[0]
    assert torch.allclose(adjusted.sum(), torch.tensor(1.0))


def test_absent_group_has_zero_batch_loss():
    losses = torch.tensor([1.0, 3.0])
    group_loss, counts = group_means(losses, torch.tensor([0, 0]), 2)
    assert group_loss.tolist() == [2.0, 0.0] and counts.tolist() == [2.0, 0.0]


# ---------------------------------------------------------------- task and tokenizer


def test_tokenizer_matches_open_clip_and_fits_the_model_config():
    import json
    from pathlib import Path

    tok = shape_captions.CaptionTokenizer(16)
    captions = shape_captions.captions(shape_captions.sample_eval_scenes(2, np.random.default_rng(0)))
    texts = captions + [t for name in TEXT_PERTURBATIONS for t in perturb_texts(captions, name, 5, 3)]
    # word-by-word cached encoding == open_clip's SimpleTokenizer, then remapped
    assert torch.equal(tok(texts), tok.compact(tok.bpe(texts)))
    ids = tok(texts)
    assert ids.max() == tok.eot and (ids.argmax(dim=1) == (ids > 0).sum(dim=1) - 1).all()  # argmax pool = EOT
    assert (ids == tok.UNK).any()  # character-level typos leave the closed vocabulary
    config = json.loads(
        (Path(shape_captions.__file__).parents[1] / "model_configs/repro-tiny-clip-p8.json").read_text()
    )
    assert tok.vocab_size <= config["text_cfg"]["vocab_size"]


def test_eval_scenes_are_distinct_and_balanced():
    scenes = shape_captions.sample_eval_scenes(5, np.random.default_rng(1))
    captions = shape_captions.captions(scenes)
    assert len(set(captions)) == len(captions) == 5 * shape_captions.N_GROUPS
    assert np.bincount(scenes.groups).tolist() == [5] * shape_captions.N_GROUPS
    train = shape_captions.sample_train_scenes(4000, 20.0, np.random.default_rng(1))
    share = np.bincount(train.groups) / 4000
    assert share[0] > 10 * share[-1]  # long tail: most frequent / rarest ≈ 20


# ---------------------------------------------------------------- perturbations


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.as_tensor(shape_captions.render(shape_captions.sample_eval_scenes(4, np.random.default_rng(2))))


def test_catalogue_matches_implementations():
    assert set(IMPLEMENTATIONS) == set(IMAGE_PERTURBATIONS)
    assert len(IMAGE_PERTURBATIONS) == 17
    assert set(IMAGE_PERTURBATIONS.values()) == {"noise", "blur", "weather", "digital", "stylize"}


@pytest.mark.parametrize("name", sorted(IMAGE_PERTURBATIONS))
def test_image_perturbation_changes_input_and_grows_with_severity(images, name):
    distortion = []
    for severity in SEVERITIES:
        out = perturb_images(images, name, severity, torch.Generator().manual_seed(0))
        assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
        again = perturb_images(images, name, severity, torch.Generator().manual_seed(0))
        assert torch.equal(out, again)  # deterministic given the generator
        distortion.append(float(((out - images) ** 2).mean()))
    assert distortion[0] > 0, "severity 1 leaves the images unchanged"
    # non-decreasing (motion blur's severities 3 and 4 are nearly the same kernel in ImageNet-C), increasing overall
    assert all(b >= a * 0.99 for a, b in itertools.pairwise(distortion)), distortion
    assert distortion[-1] > 1.2 * distortion[0], distortion


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@pytest.mark.parametrize("name", sorted(TEXT_PERTURBATIONS))
def test_text_perturbation_changes_input_and_grows_with_severity(name):
    captions = shape_captions.captions(shape_captions.sample_eval_scenes(4, np.random.default_rng(3)))
    distortion = []
    for severity in SEVERITIES:
        perturbed = perturb_texts(captions, name, severity, seed=5)
        assert perturbed == perturb_texts(captions, name, severity, seed=5)
        changed = sum(p != c for p, c in zip(perturbed, captions, strict=True))
        assert changed >= 0.8 * len(captions), f"severity {severity} left most captions unchanged"
        distortion.append(np.mean([_edit_distance(p, c) / len(c) for p, c in zip(perturbed, captions, strict=True)]))
    assert all(b >= a for a, b in itertools.pairwise(distortion)), distortion
    assert distortion[-1] > distortion[0], distortion


# ---------------------------------------------------------------- retrieval metrics on a hand-checked table


def _rank_table() -> pd.DataFrame:
    """4 queries (groups 0, 0, 1, 1), clean and gaussian_noise severities 1–5 and word_swap severity 1–5.

    clean:        image→text ranks 1 2 1 3, text→image 1 1 4 1  → R@1 = 5/8, R@5 = 8/8
    noise s1–s5:  image→text 1 3 2 2, text→image 2 1 1 4 (same at every severity) → R@1 = 3/8
    word_swap:    image→text 1 1 1 1, text→image 1 1 1 12 → R@1 = 7/8; rank 12 is outside R@10
    """
    rows = []

    def add(perturbation, modality, category, severity, i2t, t2i):
        for direction, ranks in (("image_to_text", i2t), ("text_to_image", t2i)):
            for q, r in enumerate(ranks):
                rows.append((perturbation, modality, category, severity, direction, q, q // 2, r))

    add("clean", "none", "clean", 0, [1, 2, 1, 3], [1, 1, 4, 1])
    for s in SEVERITIES:
        add("gaussian_noise", "image", "noise", s, [1, 3, 2, 2], [2, 1, 1, 4])
        add("word_swap", "text", "word", s, [1, 1, 1, 1], [1, 1, 1, 12])
    columns = ["perturbation", "modality", "category", "severity", "direction", "query", "group", "rank"]
    return pd.DataFrame(rows, columns=columns)


def test_recall_at_k_by_hand():
    assert estimators.recall_at_k(np.array([1, 2, 1, 3, 6]), 1) == pytest.approx(2 / 5)
    assert estimators.recall_at_k(np.array([1, 2, 1, 3, 6]), 5) == pytest.approx(4 / 5)


def test_retrieval_metrics_on_toy_rank_table():
    frame = _rank_table()
    tables = {"ranks": frame}
    assert dro_clip_metrics.clean_r1(tables, None) == pytest.approx(5 / 8)
    assert dro_clip_metrics.clean_r5(tables, None) == pytest.approx(1.0)
    assert dro_clip_metrics.worst_corruption_r1(tables, None) == pytest.approx(3 / 8)
    assert dro_clip_metrics.mean_corruption_r1(tables, None) == pytest.approx((3 / 8 + 7 / 8) / 2)
    assert dro_clip_metrics.corruption_r1_spread(tables, None) == pytest.approx(0.25)  # sd of {3/8, 7/8}
    # group 0 (queries 0, 1): clean ranks 1 2 | 1 1 → 3/4; group 1: 1 3 | 4 1 → 2/4
    assert dro_clip_metrics.worst_group_r1(tables, None) == pytest.approx(0.5)
    # under corruption, group 0: noise 2/4, word_swap 4/4 → 6/8; group 1: noise 1/4, word_swap 3/4 → 4/8
    assert dro_clip_metrics.worst_group_corrupted_r1(tables, None) == pytest.approx(0.5)
    assert dro_clip_metrics.worst_category_r1(tables, None) == pytest.approx(3 / 8)  # noise, one perturbation
    # RSUM = 2·(R@1 + R@5 + R@10): clean 2·(5/8 + 1 + 1) = 5.25; noise 2·(3/8 + 1 + 1) = 4.75;
    # word_swap 2·(7/8 + 7/8 + 7/8) = 5.25 → drops 0.5/5.25 and 0 → mean 0.5/10.5
    assert dro_clip_metrics.mmi_relative_drop(tables, None) == pytest.approx(0.5 / 10.5)
    profile = dro_clip_metrics.r1_by_perturbation(tables, None)
    noise = profile[profile["panel"] == "gaussian_noise"]
    assert noise["x"].tolist() == [0, 1, 2, 3, 4, 5]
    assert noise["y"].tolist() == pytest.approx([5 / 8] + [3 / 8] * 5)


def test_worst_category_pools_a_category_and_ignores_stylize():
    """A second noise perturbation with every rank 1 lifts the noise group to (3/8 + 1)/2 = 11/16 while the worst
    single perturbation stays 3/8; stylize (all ranks 4: R@1 = 0) is outside every DRO group."""
    frame = _rank_table()
    shot = frame[frame["perturbation"] == "gaussian_noise"].assign(perturbation="shot_noise", rank=1)
    style = frame[frame["perturbation"] == "gaussian_noise"].assign(perturbation="stylize", category="stylize", rank=4)
    tables = {"ranks": pd.concat([frame, shot, style], ignore_index=True)}
    assert dro_clip_metrics.worst_category_r1(tables, None) == pytest.approx(11 / 16)
    assert dro_clip_metrics.worst_corruption_r1(tables, None) == pytest.approx(0.0)


def test_dro_weight_mean_ratio_averages_over_training():
    erm = pd.DataFrame({"q_max": [1 / 6] * 3, "groups": [6] * 3})
    assert dro_clip_metrics.dro_weight_mean_ratio({}, erm) == pytest.approx(1.0)
    dro = pd.DataFrame({"q_max": [1 / 6, 0.3, 0.5], "groups": [6] * 3})
    assert dro_clip_metrics.dro_weight_mean_ratio({}, dro) == pytest.approx((1 + 1.8 + 3) / 3)


def test_rank_table_schema_rejects_ranks_beyond_the_gallery():
    frame = _rank_table()
    validate(RetrievalRanks, frame[frame["perturbation"] != "word_swap"], "ranks")
    with pytest.raises(Exception, match="ranks_within_gallery"):
        validate(RetrievalRanks, frame, "ranks")  # rank 12 in a gallery of 4
