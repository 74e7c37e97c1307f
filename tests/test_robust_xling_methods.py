"""robust_xling's building blocks: the synthetic multilingual world, RS-DA's substitution rate, the PGD
perturbation (inside its budget, raising the loss), the Gaussian smoothing noise, InfoNCE against a hand
computation and open_clip's ClipLoss, the greedy attack and the metrics on a hand-made table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from repro.families.robust_xling import metrics as xm
from repro.families.robust_xling.experiment import attack
from repro.families.robust_xling.schemas import AttackedPredictions, PairPredictions
from repro.methods.robust_training import (
    gaussian_embedding_noise,
    info_nce,
    perturbation_ratio,
    pgd_embedding_perturbation,
)
from repro.tables import validate
from repro.tasks import xling_pairs as xp


def _world(**kw):
    args = dict(
        targets=(0.0, 0.5, 1.0),
        concepts=24,
        forms=2,
        length=5,
        successors=3,
        cognates=0.8,
        reorder=4,
        code_switch=0.5,
        seed=0,
    )
    return xp.build_world(**{**args, **kw})


# ---------------------------------------------------------------- the world


def test_language_distance_sets_shared_forms_word_order_and_code_switching():
    world = _world()
    shared = [(world.forms[lang] == world.forms[0]).all(axis=1).mean() for lang in range(4)]
    assert shared[0] == 1.0
    assert shared[1] == pytest.approx(0.8, abs=1 / 24)  # distance 0: cognates x 1
    assert shared[2] == pytest.approx(0.4, abs=1 / 24)
    assert shared[3] == 0.0  # distance 1: nothing shared
    assert (world.orders[0] == np.arange(5)).all() and (world.orders[1] == np.arange(5)).all()
    assert not (world.orders[3] == np.arange(5)).all()  # distance 1: 4 transpositions
    assert world.code_switch.tolist() == [0.0, 0.5, 0.25, 0.0]
    # every non-shared form is a token of its own language only
    own = world.forms[3].ravel()
    assert len(set(own)) == own.size and not set(own) & set(world.forms[0].ravel())


def test_pairs_are_balanced_paraphrases_or_one_concept_changed():
    world = _world()
    rng = np.random.default_rng(1)
    p = xp.pairs(world, 200, 0, 3, rng)
    assert p.label.mean() == 0.5
    differ = (p.concepts_first != p.concepts_second).sum(axis=1)
    assert (differ[p.label == 1] == 0).all() and (differ[p.label == 0] == 1).all()
    concept = world.concept_of()
    # the second sentence is written in language 3's order and vocabulary
    assert (concept[p.second] == p.concepts_second[:, world.orders[3]]).all()
    assert set(p.second.ravel()) <= set(world.forms[3].ravel())
    ids, types = xp.encode_pairs(p.first, p.second)
    assert ids.shape == (200, 2 * 5 + 3) and (ids[:, 0] == xp.CLS).all() and types[:, -1].all()


def test_unlabelled_pairs_restate_the_first_sentence_at_the_given_rate():
    world = _world()
    first, second = xp.unlabelled_pairs(world, 4000, np.random.default_rng(2), restated=0.7)
    concept = world.concept_of()
    same = (concept[first] == concept[second]).all(axis=1)
    assert same.mean() == pytest.approx(0.7, abs=0.03)


@pytest.mark.parametrize("forms", [2, 3, 5])
def test_rsda_substitution_rate_matches_its_parameter(forms):
    """perturb.py redraws each word uniformly from {word} ∪ neighbours: with k = forms − 1 neighbours the share of
    words that change is k/(k + 1), and every replacement is a neighbour (same concept, same language)."""
    world = _world(forms=forms)
    neighbours = world.neighbours()
    tokens = xp.pairs(world, 2000, 2, 2, np.random.default_rng(3)).first
    out, replaced, eligible = xp.substitute(tokens, neighbours, np.random.default_rng(4))
    assert eligible == tokens.size
    assert replaced / eligible == pytest.approx((forms - 1) / forms, abs=0.01)
    concept = world.concept_of()
    assert (concept[out] == concept[tokens]).all()
    assert set(out.ravel()) <= set(world.forms[2].ravel())


# ---------------------------------------------------------------- methods


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, embeds):
        return self.head(torch.tanh(embeds).mean(1))


def test_pgd_stays_within_its_budget_and_raises_the_loss():
    model = _Tiny()
    g = torch.Generator().manual_seed(0)
    embeds = torch.randn(16, 6, 4, generator=g)
    mask = torch.ones(16, 6, dtype=torch.bool)
    mask[:, 0] = False  # e.g. [CLS]: never perturbed
    y = torch.randint(2, (16,), generator=g)

    def loss_fn(e):
        return torch.nn.functional.cross_entropy(model(e), y)

    clean = loss_fn(embeds).item()
    for epsilon, steps in ((0.1, 1), (0.5, 3)):
        delta, adversarial = pgd_embedding_perturbation(loss_fn, embeds, mask, epsilon, steps)
        per_token = delta.norm(dim=-1) / embeds.norm(dim=-1)
        assert (per_token <= epsilon + 1e-6).all()
        assert (delta[:, 0] == 0).all()
        assert adversarial.item() > clean
        assert adversarial.item() == pytest.approx(loss_fn(embeds + delta).item())
        assert perturbation_ratio(delta, embeds, mask, epsilon) == pytest.approx(1.0, abs=1e-4)
        # a random direction of the same size raises the loss far less than the adversarial one
        noise = torch.randn(embeds.shape, generator=g)
        noise = noise / noise.norm(dim=-1, keepdim=True) * delta.norm(dim=-1, keepdim=True)
        assert loss_fn(embeds + noise).item() - clean < (adversarial.item() - clean) / 2
    assert perturbation_ratio(torch.zeros_like(embeds), embeds, mask, 0.5) == 0.0


def test_gaussian_smoothing_noise_has_its_relative_size():
    g = torch.Generator().manual_seed(0)
    embeds = torch.randn(64, 10, 256, generator=g) * 3
    mask = torch.rand(64, 10, generator=g) > 0.2
    noise = gaussian_embedding_noise(embeds, mask, 0.5, torch.Generator().manual_seed(1))
    ratio = (noise.norm(dim=-1) / embeds.norm(dim=-1))[mask]
    assert ratio.mean().item() == pytest.approx(0.5, abs=0.01)
    assert (noise[~mask] == 0).all()


def test_info_nce_matches_a_hand_computation_and_open_clip():
    from open_clip.loss import ClipLoss

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    tau = 0.1
    loss = info_nce(a, b, tau)
    an, bn = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    hand = 0.0
    for i in range(6):
        row = [math.exp(float(an[i] @ bn[j]) / tau) for j in range(6)]
        col = [math.exp(float(bn[i] @ an[j]) / tau) for j in range(6)]
        hand += -math.log(row[i] / sum(row)) / 2 - math.log(col[i] / sum(col)) / 2
    assert loss.item() == pytest.approx(hand / 6, rel=1e-10)
    reference = ClipLoss()(an, bn, torch.tensor(1 / tau, dtype=torch.float64))
    assert loss.item() == pytest.approx(reference.item(), rel=1e-12)
    # identical views reach far below chance (log n); unrelated ones do not
    assert info_nce(a, a, tau).item() < 0.1 * math.log(6) < info_nce(a, b, tau).item()


# ---------------------------------------------------------------- attack and metrics


class _Lookup(torch.nn.Module):
    """A 'model' that calls a pair a paraphrase iff the first word of both sentences is the same token."""

    def forward(self, input_ids, token_type_ids):
        length = (input_ids.shape[1] - 3) // 2
        same = (input_ids[:, 1] == input_ids[:, length + 2]).float()
        return type("Out", (), {"logits": torch.stack([1 - same, same], dim=1) * 5})()


def test_attack_uses_synonyms_within_its_budget_and_only_lowers_accuracy():
    world = _world()
    p = xp.pairs(world, 200, 0, 0, np.random.default_rng(5))
    model = _Lookup()
    clean = model(*map(torch.as_tensor, xp.encode_pairs(p.first, p.second))).logits.argmax(-1).numpy()
    attacked, used = attack(model, p.first, p.second, p.label, world.neighbours(), budget=2)
    assert (used <= 2).all() and (used[clean != p.label] == 0).all()
    correct_clean, correct_attacked = clean == p.label, attacked == p.label
    assert correct_attacked.sum() < correct_clean.sum()
    assert not (correct_attacked & ~correct_clean).any()
    # paraphrases whose first words share a form are flipped by one substitution of that word
    assert (attacked[(p.label == 1) & correct_clean] == 0).all()


def test_metrics_on_a_hand_made_table():
    rows = []
    for lang, correct in (("en", 4), ("t1", 3), ("t2", 1)):
        for item in range(4):
            rows.append(("standard", lang, lang, item, 1, int(item < correct)))
    for a, b, correct in (("en", "t1", 2), ("t1", "en", 0)):
        for item in range(4):
            rows.append(("generalized", a, b, item, 0, 1 - int(item < correct)))
    pairs = validate(PairPredictions, pd.DataFrame(rows, columns=list(PairPredictions.to_schema().columns)), "pairs")
    attacked = validate(
        AttackedPredictions,
        pd.DataFrame(
            {
                "language": ["t1", "t1", "t2", "t2", "en"],
                "item": [0, 1, 0, 1, 0],
                "label": [1, 1, 1, 1, 1],
                "clean_prediction": [1, 1, 1, 0, 1],
                "prediction": [1, 0, 0, 0, 1],
                "substitutions": [0, 1, 2, 0, 0],
            }
        ),
        "attacked",
    )
    alignment = pd.DataFrame(
        {
            "language": ["t1", "t1", "t2"],
            "item": [0, 1, 0],
            "translation_cosine": [0.9, 0.7, 0.2],
            "random_cosine": [0.1, 0.3, 0.2],
            "translation_rank": [1, 3, 1],
        }
    )
    tables = {"pairs": pairs, "attacked": attacked, "alignment": alignment}
    curve = pd.DataFrame({"contrastive_loss": [np.nan, np.nan], "contrastive_chance": [3.0, 3.0]})
    assert xm.source_accuracy(tables, curve) == 100.0
    assert xm.target_accuracy(tables, curve) == pytest.approx((75.0 + 25.0) / 2)
    assert xm.generalized_accuracy(tables, curve) == pytest.approx(25.0)
    assert xm.generalized_minus_standard(tables, curve) == pytest.approx(25.0 - 50.0)
    assert xm.adversarial_accuracy(tables, curve) == pytest.approx((50.0 + 0.0) / 2)
    assert xm.adversarial_source_accuracy(tables, curve) == 100.0
    assert xm.alignment_gap(tables, curve) == pytest.approx((0.6 + 0.0) / 2)
    assert xm.translation_cosine(tables, curve) == pytest.approx((0.8 + 0.2) / 2)
    assert xm.random_cosine(tables, curve) == pytest.approx((0.2 + 0.2) / 2)
    assert xm.translation_retrieval(tables, curve) == pytest.approx((50.0 + 100.0) / 2)
    assert xm.standard_accuracy("t2")(tables, curve) == 25.0
    assert math.isnan(xm.standard_accuracy("t4")(tables, curve))
    assert xm.contrastive_loss_ratio(tables, curve) == 1.0  # no contrastive term: not engaged
    engaged = pd.DataFrame({"contrastive_loss": [3.0, 2.0, 1.0, 0.3], "contrastive_chance": [3.0] * 4})
    assert xm.contrastive_loss_ratio(tables, engaged) == pytest.approx(0.1)
