"""CARE's components checked by hand (repro/methods/care.py; official code in papers.md §3.3)."""

import math

import pytest
import torch

from repro.methods import care

CUE = (90, 91, 92)
THINK, THINK_END, ANSWER = 3, 4, 5


def test_anchor_is_shortest_think_then_shortest_answer_then_first():
    think = [5, 2, 2, 2, 9]
    answer = [1, 3, 1, 1, 1]
    assert care.select_anchor([0, 1, 2, 3], think, answer) == 2  # think 2 ties; answer 1 beats 3; 2 before 3
    assert care.select_anchor([0, 4], think, answer) == 0
    with pytest.raises(ValueError):
        care.select_anchor([], think, answer)


def _unit(angles_deg):
    a = torch.tensor(angles_deg, dtype=torch.float64) * math.pi / 180
    return torch.stack([torch.cos(a), torch.sin(a)], dim=1)


def test_hard_negatives_nearest_pool_then_farthest_first():
    # anchor 0 at 0°; failures at 10°, 20°, 30°, 100°, 170°, 175°, 180° (cosine distance grows with the angle)
    emb = _unit([0, 10, 20, 30, 100, 170, 175, 180])
    failures = [1, 2, 3, 4, 5, 6, 7]
    # pool = the 4 nearest: 10°, 20°, 30°, 100°; start at the nearest (10°), then the pool member farthest from
    # the chosen set: 100°, then 30° (min distance to {10°, 100°} is 20° for 30° vs 10° for 20°)
    assert care.cosine_hard_negatives(0, failures, emb, k=3, m=4) == [1, 4, 3]
    # K' = min(K, pool, failures)
    assert care.cosine_hard_negatives(0, [5, 6], emb, k=4, m=6) == [5, 6]
    assert care.cosine_hard_negatives(0, [], emb, k=4, m=6) == []
    # the pool is the M nearest: with m = 1 only the nearest failure can be chosen
    assert care.cosine_hard_negatives(0, failures, emb, k=4, m=1) == [1]


def test_rescue_negatives_start_farthest_from_pseudo_anchor():
    emb = _unit([0, 10, 90, 180, 170])
    # from pseudo-anchor 0°: farthest is 180° (index 3), then the candidate farthest from {180°}: 10°, then 90°
    assert care.diverse_negatives(0, [1, 2, 3, 4], emb, k=3) == [3, 1, 2]


def test_subgroup_zscore_uses_population_std():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0])
    # mean 1/4, population sd √(3)/4 → anchor (3/4)/(√3/4) = √3; a negative (−1/4)/(√3/4) = −1/√3
    assert care.subgroup_zscore(r, eps=0.0).tolist() == pytest.approx([math.sqrt(3), *[-1 / math.sqrt(3)] * 3])


@pytest.mark.parametrize("k_prime", [1, 2, 3, 4, 7])
def test_one_positive_identity_sqrt_k_prime(k_prime):
    """With one positive and K′ negatives: A_raw = √K′ for the anchor and −1/√K′ for each negative, exactly."""
    rewards = torch.tensor([1.0] + [0.0] * k_prime)
    raw = care.subgroup_zscore(rewards, eps=0.0)
    assert raw[0].item() == pytest.approx(math.sqrt(k_prime), rel=1e-12)
    assert raw[1:].tolist() == pytest.approx([-1 / math.sqrt(k_prime)] * k_prime, rel=1e-12)


def test_negative_only_scaling_and_equalisation_by_hand():
    # K′ = 2 of K = 4: A_raw = (√2, −1/√2, −1/√2); negatives × s = 0.5; everything × √(4/2) = √2
    adv = care.anchored_advantages(torch.tensor([1.0, 0.0, 0.0]), k=4, s=0.5, eps=0.0)
    assert adv.tolist() == pytest.approx([2.0, -0.5, -0.5])
    # the anchor is untouched by s; without equalisation the factor is 1
    flat = care.anchored_advantages(torch.tensor([1.0, 0.0, 0.0]), k=4, s=0.1, equalize=False, eps=0.0)
    assert flat.tolist() == pytest.approx([math.sqrt(2), -0.1 / math.sqrt(2), -0.1 / math.sqrt(2)])
    assert care.equalization(4, 1) == 2.0 and care.equalization(4, 4) == 1.0


def test_failed_repair_gets_s_refl_and_a_verified_repair_counts_as_positive():
    failed = care.anchored_advantages(torch.tensor([1.0, 0.0, 0.0]), k=2, s=0.5, eps=0.0, reflected_failed=1)
    assert failed.tolist() == pytest.approx([math.sqrt(2), -0.25 / math.sqrt(2), -0.5 / math.sqrt(2)])
    # a repair that succeeded is a second positive: it keeps its raw z-score like the anchor
    repaired = care.anchored_advantages(torch.tensor([1.0, 1.0, 0.0]), k=2, s=0.5, eps=0.0)
    # mean 2/3, population sd √2/3: positives (1/3)/(√2/3) = 1/√2, negative −s·√2
    assert repaired.tolist() == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(2), -0.5 * math.sqrt(2)])


@pytest.mark.parametrize("k_prime", [1, 2, 4])
def test_rescue_delta_cancels(k_prime):
    """Pseudo-rewards (δ, −δ/K′, …) have mean 0 and population sd δ/√K′: z-scoring removes δ."""
    pseudo = care.rescue_pseudo_rewards(k_prime, 0.1)
    assert pseudo.mean().item() == pytest.approx(0.0, abs=1e-15)
    assert pseudo.std(unbiased=False).item() == pytest.approx(0.1 / math.sqrt(k_prime))
    small, large = (care.rescue_advantages(k_prime, 4, delta, eps=1e-6) for delta in (0.1, 10.0))
    torch.testing.assert_close(small, large, rtol=0, atol=1e-4)
    expected = torch.tensor([math.sqrt(k_prime)] + [-0.5 / math.sqrt(k_prime)] * k_prime, dtype=torch.float64)
    torch.testing.assert_close(large, expected * math.sqrt(4 / k_prime), rtol=1e-6, atol=0)
    # only a δ comparable to ε changes anything (the cancellation's one exception)
    tiny = care.rescue_advantages(k_prime, 4, 1e-7, eps=1e-6)
    assert (tiny - large).abs().max().item() > 0.5


def test_plan_and_advantages_of_groups():
    emb = _unit([0, 5, 40, 80, 120, 160])
    logp = torch.tensor([-3.0, -1.0, -2.0, -4.0, -5.0, -6.0])
    lens = [3] * 6
    mixed = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    plan = care.plan_group(mixed, lens, [1] * 6, emb, logp, k=2, m=3)
    assert (plan.anchor, plan.negatives, plan.rescued) == (0, [1, 3], False)  # pool 5°, 40°, 80°: 5° then 80°
    adv = care.group_advantages(plan, mixed, k=2, eps=0.0)
    assert adv.tolist() == pytest.approx([math.sqrt(2), -0.5 / math.sqrt(2), 0.0, -0.5 / math.sqrt(2), 0.0, 0.0])
    # all negative: the pseudo-anchor is the failure with the largest Σ log π (rollout 1), rescue on
    zeros = torch.zeros(6)
    rescue = care.plan_group(zeros, lens, [1] * 6, emb, logp, k=2, m=3)
    assert rescue.rescued and rescue.anchor == 1 and len(rescue.negatives) == 2
    adv = care.group_advantages(rescue, zeros, k=2, eps=0.0)
    assert adv[1].item() == pytest.approx(math.sqrt(2)) and (adv < 0).sum().item() == 2
    # rescue off, or all positive: no subgroup, no signal
    assert care.group_advantages(care.plan_group(zeros, lens, [1] * 6, emb, logp, rescue=False), zeros).abs().sum() == 0
    ones = torch.ones(6)
    assert care.group_advantages(care.plan_group(ones, lens, [1] * 6, emb, logp), ones).abs().sum() == 0


def test_region_weights_by_hand():
    # two responses of 6 tokens: <think> a b </think> <answer> x ; the second has no answer span
    response = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    think = torch.tensor([[0, 1, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0]])
    answer = torch.tensor([[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]])
    adv = torch.tensor([2.0, -1.0])
    positive = torch.tensor([True, False])
    out = care.region_weighted_advantages(adv, response, think, answer, positive, gamma_pos=0.5)
    # positive: weights think 0.5, 0.5, answer 1 → Σw = 2; tokens get 2·w/2
    assert out[0].tolist() == pytest.approx([0.0, 0.5, 0.5, 0.0, 0.0, 1.0])
    # no answer span: the whole (4-token) response has weight 1 each → −1/4 per token
    assert out[1].tolist() == pytest.approx([-0.25] * 4 + [0.0, 0.0])
    assert out.sum(dim=1).tolist() == pytest.approx(adv.tolist())  # the weights are normalised per response
    failed = care.region_weighted_advantages(adv, response, think, answer, torch.tensor([False, False]), 0.5)
    assert failed[0].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 0.0, 2.0])  # failures' think gets 0


def test_insert_repair_cue_like_official_text_edit():
    # "<think> 7 8 </think> <answer> 9 </answer>" → cue before </think>, cut after <answer>
    assert care.insert_repair_cue([THINK, 7, 8, THINK_END, ANSWER, 9, 6], CUE, THINK, THINK_END, ANSWER) == [
        THINK,
        7,
        8,
        *CUE,
        THINK_END,
        ANSWER,
    ]
    # unclosed think: cue at the end, then <answer> (no </think> added, as in rgr.py)
    assert care.insert_repair_cue([THINK, 7], CUE, THINK, THINK_END, ANSWER) == [THINK, 7, *CUE, ANSWER]
    # no think span: a new one holding only the cue
    assert care.insert_repair_cue([ANSWER, 9], CUE, THINK, THINK_END, ANSWER) == [THINK, *CUE, THINK_END, ANSWER]
    assert care.insert_repair_cue([], CUE, THINK, THINK_END, ANSWER) == [THINK, *CUE, THINK_END, ANSWER]
