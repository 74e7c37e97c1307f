"""GDRO methods (arXiv 2601.19280): the online pass@k classifier, Prompt-GDRO's weights, Rollout-GDRO's exact-budget
allocation, and the theory of §4 against numerical optimisers; the chain-sums task; pass@k metrics."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from repro.families.gdro_rlvr.metrics import mean_at_8, pass_at_8, worst_tier_pass_at_8
from repro.methods.difficulty_gdro import (
    PassAtKClassifier,
    PromptGDRO,
    RolloutGDRO,
    entropic_objective,
    entropic_value,
    exact_budget_allocation,
    shadow_price_response,
    softmax_response,
    sqrt_allocation,
    variance_proxy,
    weighted_standard_error,
)
from repro.metrics.estimators import pass_at_k
from repro.tasks import chain_sums as cs
from repro.tasks import dapo_math

# ------------------------------------------------------------------ §3.1 classifier


def test_classifier_window_bins_and_hysteresis():
    clf = PassAtKClassifier(edges=(0.25, 0.5, 0.75), history=4, hysteresis=0.1)
    assert clf.assign([7]).tolist() == [0]  # no history: accuracy 0, bin 0 (official code's convention)
    clf.record([7], [True])
    assert clf.estimate(7) == 1.0 and clf.assign([7]).tolist() == [3]
    for ok in (False, False, False):
        clf.record([7], [ok])
    assert clf.estimate(7) == 0.25  # window of the last 4 visits: 1, 0, 0, 0
    # raw bin is 1 ([0.25, 0.5)), but leaving bin 3 downwards needs < 0.75 − 0.1: it does, so it moves
    assert clf.assign([7]).tolist() == [1]
    clf.record([7], [True])  # window 0, 0, 0, 1 → 0.25 again; then 0, 0, 1, 1 → 0.5
    clf.record([7], [True])
    assert clf.estimate(7) == 0.5
    # raw bin 2 ([0.5, 0.75)) but 0.5 < 0.5 + 0.1: hysteresis keeps bin 1
    assert clf.assign([7]).tolist() == [1]
    clf.record([7], [True])  # 0, 1, 1, 1 → 0.75: crosses 0.5 by more than 0.1
    assert clf.assign([7]).tolist() == [3]


def test_step_bins_come_from_past_visits_only():
    """A step's prompts are binned before the step's indicators are recorded (official ray_trainer order), so a
    prompt solved on every past visit stays in the top bin on the step it fails, and the hardest bin holds prompts
    never solved *before* this step, which can still have non-zero advantages now."""
    clf = PassAtKClassifier(history=50, hysteresis=0.0)
    for _ in range(5):
        clf.record(["easy", "hard"], [True, False])
    bins = clf.assign(["easy", "hard"])
    clf.record(["easy", "hard"], [False, True])  # this step: the easy one fails, the hard one is solved once
    assert bins.tolist() == [9, 0]
    assert clf.assign(["easy", "hard"]).tolist() == [8, 1]  # only the next visit sees it (5/6 and 1/6)


def test_classifier_sliding_window_forgets():
    clf = PassAtKClassifier(history=2, hysteresis=0.0)
    clf.record([1, 1, 1], [True, False, False])
    assert clf.estimate(1) == 0.0  # only the last two visits count (Eq. 10)


# ------------------------------------------------------------------ §3.2 Prompt-GDRO


def _stationary_toy(gdro: PromptGDRO, steps: int, seed: int = 0) -> None:
    """Bins 0 … 9 with share ∝ (1 + bin) (hard bins rare, like accbin_0) and mean loss falling with the bin."""
    rng = np.random.default_rng(seed)
    share = np.arange(1, 11) / np.arange(1, 11).sum()
    mean_loss = np.linspace(0.5, -0.5, 10)  # bin 0 hardest
    for _ in range(steps):
        bins = rng.choice(10, size=256, p=share)
        gdro.update(bins, mean_loss[bins] + rng.normal(0, 0.2, bins.size))


@pytest.mark.parametrize("weighting", ["paper", "code"])
def test_prompt_gdro_weights_move_to_the_hardest_bins(weighting):
    gdro = PromptGDRO(10, weighting=weighting)
    q0 = gdro.distribution()
    assert np.allclose(q0, 0.1)  # S_0 = 0: uniform
    _stationary_toy(gdro, 200)
    q = gdro.distribution()
    assert q.argmax() == 0 and q[0] > 3 * q0[0]  # the hardest (and rarest) bin gets the most mass
    assert q[:3].sum() > q[-3:].sum() * 5
    weights = gdro.sample_weights(np.arange(10))
    assert np.all(np.diff(weights) <= 1e-12)  # monotone: harder bins weigh more
    assert weights.max() <= gdro.weight_cap


def test_prompt_gdro_share_normalisation_counters_frequency_bias():
    """EMA-debiased scores track mean (intensive) loss; dividing by the bin share lets a rare hard bin compete."""
    with_norm, without = PromptGDRO(2), PromptGDRO(2, share_normalize=False)
    bins = np.array([0] * 4 + [1] * 60)  # bin 0 rare
    losses = np.where(bins == 0, 0.2, 0.1)
    for _ in range(100):  # 0.88^100 ≈ 3e-6: the EMA has converged
        with_norm.update(bins, losses)
        without.update(bins, losses)
    assert without.scores[0] == pytest.approx(0.2, rel=1e-3) and without.scores[1] == pytest.approx(0.1, rel=1e-3)
    assert with_norm.scores[0] / with_norm.scores[1] > 10  # 0.2/(4/64) vs 0.1/(60/64)


def test_prompt_gdro_eq16_by_hand_and_cap():
    gdro = PromptGDRO(3, eta=0.65, weight_cap=15.0, score_clip=10.0)
    gdro.scores = np.array([1.0, 0.0, 10.0])
    w = gdro.sample_weights(np.array([0, 1, 2, 0]))
    assert w.tolist() == pytest.approx([math.exp(0.65), 1.0, 15.0, math.exp(0.65)])  # e^{6.5} capped at 15
    q = gdro.distribution()
    omega = np.exp(0.65 * np.array([1.0, 0.0, 10.0]))
    assert q.tolist() == pytest.approx((0.99 * omega / omega.sum() + 0.01 / 3).tolist())  # Eq. 15
    code = PromptGDRO(3, weighting="code")
    code.scores = np.array([1.0, 0.0, 10.0])
    cw = code.sample_weights(np.array([0, 1, 1, 1]))
    assert cw.mean() == pytest.approx(1.0) or cw.max() == 15.0  # mean-1 before the cap


def test_prompt_gdro_ema_by_hand():
    gdro = PromptGDRO(2, ema=0.12, share_normalize=False)
    gdro.update(np.array([0, 0, 1]), np.array([1.0, 3.0, -1.0]))
    assert gdro.scores.tolist() == pytest.approx([0.12 * 2.0, 0.12 * -1.0])  # S_1 = 0.88·0 + 0.12·mean
    code = PromptGDRO(2, weighting="code")
    code.update(np.array([0, 1]), np.array([1.0, 1.0]))
    assert code.scores.tolist() == pytest.approx([2.0, 2.0])  # first observation, divided by share 1/2


def test_prompt_gdro_standardized_scores_are_scale_free():
    """The official code's use_zscore: the weights depend on the bins' scores only up to an affine map, so a loss
    signal of size 5e-4 (ci's clipped-surrogate drift) moves the adversary as far as one of size 1, and
    ω stays within e^{±η·z_cap}."""
    tiny, unit = PromptGDRO(10, standardize=True), PromptGDRO(10, standardize=True)
    _stationary_toy(unit, 50)
    tiny.scores, tiny.observed = unit.scores * 5e-4 + 0.01, unit.observed.copy()
    assert np.allclose(tiny.bin_weights(), unit.bin_weights())
    w = unit.bin_weights()
    assert w.max() / w.min() > 5 and w.max() <= math.exp(0.65 * 3) + 1e-12 and w.min() >= math.exp(-0.65 * 3) - 1e-12
    assert w.argmax() == 0  # still the hardest bin
    raw = PromptGDRO(10)
    raw.scores = unit.scores * 5e-4
    assert np.allclose(raw.bin_weights(), 1.0, atol=0.02)  # Eq. 14 unstandardised: within 2 % of uniform
    fresh = PromptGDRO(3, standardize=True)
    assert np.allclose(fresh.bin_weights(), 1.0)  # nothing observed: uniform


# ------------------------------------------------------------------ §3.3 Rollout-GDRO


def _brute_force(log_probs, counts, arms, target, center):
    best = None
    for combo in itertools.product(range(len(arms)), repeat=len(counts)):
        if sum(arms[a] * c for a, c in zip(combo, counts, strict=True)) != target:
            continue
        key = (
            round(sum(log_probs[j, a] for j, a in enumerate(combo)), 9),
            -sum(c * abs(arms[a] - center) for a, c in zip(combo, counts, strict=True)),
        )
        if best is None or key > best[0]:
            best = (key, combo)
    return best


def test_exact_budget_allocation_matches_brute_force():
    rng = np.random.default_rng(0)
    arms = np.arange(2, 13)
    for _ in range(40):
        n_active = int(rng.integers(1, 4))
        counts = rng.integers(1, 6, n_active)
        log_probs = np.log(rng.dirichlet(np.ones(len(arms)), n_active))
        target = 4 * int(counts.sum())
        picked = exact_budget_allocation(log_probs, counts, arms, target, 4.0)
        assert int((arms[picked] * counts).sum()) == target
        key, _ = _brute_force(log_probs, counts, arms, target, 4.0)
        assert sum(log_probs[j, a] for j, a in enumerate(picked)) == pytest.approx(key[0], abs=1e-9)


def test_exact_budget_ties_go_to_the_uniform_allocation():
    arms = np.arange(2, 13)
    picked = exact_budget_allocation(np.zeros((3, len(arms))), np.array([5, 2, 9]), arms, 64, 4.0)
    assert arms[picked].tolist() == [4, 4, 4]


@pytest.mark.parametrize("arm_score", ["paper", "code"])
def test_rollout_gdro_realised_mean_budget_is_exact_every_step(arm_score):
    rng = np.random.default_rng(1)
    gdro = RolloutGDRO(10, arm_score=arm_score)
    redistributed = 0
    for _ in range(300):
        bins = rng.choice(10, size=32, p=np.linspace(1, 3, 10) / np.linspace(1, 3, 10).sum())
        per_prompt, per_bin = gdro.allocate(bins)
        assert per_prompt.sum() == 4 * 32  # Σ_b q̂(b) n_b = n̄ exactly (Eq. 19)
        assert per_prompt.min() >= 2 and per_prompt.max() <= 12
        assert np.all(per_prompt == per_bin[bins])  # one count per bin
        redistributed += len(set(per_bin[np.unique(bins)].tolist())) > 1
        losses = rng.normal(0.1 * bins, 0.05)  # hard (low) bins show higher loss
        gdro.update(bins, per_bin, losses)
        assert gdro.mu == 0.0  # Eq. 21 sees n̂ = n̄: the shadow price never moves (papers.md divergence 2)
    assert redistributed > 0  # it does move rollouts between bins (how often depends on the scores)


def test_rollout_gdro_arm_scores_follow_their_sign_convention():
    for arm_score, favoured in (("paper", "low"), ("code", "high")):
        gdro = RolloutGDRO(1, arm_score=arm_score)
        bins = np.zeros(8, dtype=np.int64)
        for n, loss in ((2, 1.0), (12, -1.0)):  # arm 2 saw loss +1, arm 12 saw loss −1
            per_bin = np.array([n])
            gdro.update(bins, per_bin, np.full(8, loss))
        p = gdro.arm_probabilities()[0]
        high_loss_arm, low_loss_arm = p[0], p[-1]
        assert (low_loss_arm > high_loss_arm) if favoured == "low" else (high_loss_arm > low_loss_arm)


# ------------------------------------------------------------------ §4 theory


def test_square_root_law_matches_a_numerical_optimiser():
    rng = np.random.default_rng(2)
    for _ in range(25):
        b = int(rng.integers(2, 11))
        q, v, budget = rng.dirichlet(np.ones(b)), np.exp(rng.uniform(-4, 2, b)), float(rng.uniform(2, 12))

        def alloc(z, q=q, budget=budget):  # any positive allocation meeting the budget: n ∝ e^z, scaled
            return budget * np.exp(z) / (q @ np.exp(z))

        result = minimize(lambda z, q=q, v=v: variance_proxy(q, v, alloc(z)), np.zeros(b), method="BFGS", tol=1e-14)
        numeric = alloc(result.x)
        closed = sqrt_allocation(q, v, budget)
        assert np.allclose(numeric, closed, rtol=1e-4, atol=1e-4)
        assert q @ closed == pytest.approx(budget)
        mu = (q @ np.sqrt(v) / budget) ** 2
        assert np.allclose(shadow_price_response(v, mu), closed)
        # and it beats the uniform and the linear law whenever v varies
        assert variance_proxy(q, v, closed) <= variance_proxy(q, v, np.full(b, budget)) + 1e-12
        assert variance_proxy(q, v, closed) <= variance_proxy(q, v, budget * v / (q @ v)) + 1e-12


def test_lemma_4_1_entropic_value_and_bounds():
    rng = np.random.default_rng(3)
    for _ in range(25):
        losses, eta = rng.normal(size=10), float(np.exp(rng.uniform(-2, 2)))
        value = entropic_value(losses, eta)
        result = minimize(
            lambda z, losses=losses, eta=eta: (
                -entropic_objective(np.exp(z - z.max()) / np.exp(z - z.max()).sum(), losses, eta)
            ),
            np.zeros(10),
            method="BFGS",
            options={"gtol": 1e-10},
        )
        assert -result.fun == pytest.approx(value, abs=1e-6)
        assert entropic_objective(softmax_response(losses, eta), losses, eta) == pytest.approx(value, abs=1e-12)
        assert losses.max() <= value <= losses.max() + math.log(10) / eta


def test_wse_by_hand():
    assert weighted_standard_error([0.5, 0.5, 0.0], [1.0, 0.5, 9.0], [4, 1, 1]) == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)


# ------------------------------------------------------------------ task


def test_chain_sum_answers_by_hand():
    digits = np.full((2, 5), cs.BLANK)
    digits[0, :3] = [7, 5, 9]
    digits[1, :5] = [1, 2, 3, 4, 5]
    assert cs.to_text(cs.prompt_tokens(digits)) == ["759__=", "12345="]
    assert cs.to_text(cs.answer_tokens(digits)) == ["721$", "13605$"]  # 7, 7+5=12→2, 2+9=11→1


def test_exact_match_needs_the_whole_chain_then_eos():
    ref = cs.answer_tokens(np.array([[7, 5, 9, cs.BLANK]]))
    good = np.array([[7, 2, 1, cs.EOS, cs.PAD]])
    trailing = np.array([[7, 2, 1, cs.EOS, 3]])  # anything after the first EOS is ignored
    short = np.array([[7, 2, cs.EOS, cs.PAD, cs.PAD]])
    no_eos = np.array([[7, 2, 1, 4, 4]])
    got = cs.exact_match(np.concatenate([good, trailing, short, no_eos]), np.repeat(ref, 4, axis=0))
    assert got.tolist() == [True, True, False, False]


def test_task_split_is_heavy_tailed_held_out_and_seeded():
    task = cs.make_chain_sum_task(np.random.default_rng(0), 1000, 16)
    assert np.bincount(task.pool.tier).tolist() == [500, 250, 120, 60, 40, 30]
    assert np.bincount(task.eval.tier).tolist() == [16] * 6
    assert not set(task.pool.uid) & set(task.eval.uid)
    assert len(set(task.pool.uid)) == len(task.pool)
    sup = cs.sample_supervised(task, np.random.default_rng(1), 4000, max_tier=1)
    assert set(sup.tier.tolist()) == {0, 1} and not set(sup.uid) & set(task.eval.uid)
    again = cs.make_chain_sum_task(np.random.default_rng(0), 1000, 16)
    assert np.array_equal(again.pool.digits, task.pool.digits)
    other = cs.make_chain_sum_task(np.random.default_rng(1), 1000, 16)
    assert not np.array_equal(other.eval.digits, task.eval.digits)


def test_only_held_out_prompts_of_the_same_length_limit_a_tier():
    """The reduced scale's split (512 training prompts, 128 held out per tier): 3-digit prompts number 1,000, of which
    the 128 held-out ones are taken, so 256 training prompts fit; held-out prompts of other lengths do not count."""
    task = cs.make_chain_sum_task(np.random.default_rng(0), 512, 128)
    assert np.bincount(task.pool.tier).tolist()[0] == 256
    assert not set(task.pool.uid) & set(task.eval.uid)
    with pytest.raises(ValueError, match="cannot draw 900 distinct 3-digit prompts \\(128 of 1000 are taken\\)"):
        cs.make_chain_sum_task(np.random.default_rng(0), 1800, 128)


def test_dapo_answer_check():
    assert dapo_math.extract_answer("work...\nAnswer: 42\n") == "42"
    assert dapo_math.extract_answer("so \\boxed{\\frac{1}{2}}.") == "\\frac{1}{2}"
    assert dapo_math.is_correct("Answer: $\\dfrac{1}{2}$", "\\frac{1}{2}")
    assert dapo_math.is_correct("Answer: 30^\\circ.", "30")
    assert not dapo_math.is_correct("Answer: 41", "42")
    assert not dapo_math.is_correct("no answer here", "42")


# ------------------------------------------------------------------ metrics


def test_pass_at_k_estimator_by_hand():
    assert pass_at_k(np.array([8, 8, 10]), np.array([0, 1, 3]), 8).tolist() == [0.0, 1.0, 1.0]
    assert pass_at_k(np.array([10]), np.array([1]), 8)[0] == pytest.approx(1 - math.comb(9, 8) / math.comb(10, 8))
    assert pass_at_k(np.array([8]), np.array([2]), 1)[0] == pytest.approx(0.25)
    with pytest.raises(ValueError):
        pass_at_k(np.array([4]), np.array([1]), 8)


def test_mean_pass_and_worst_tier_by_hand():
    correct = [True] * 8 + [True] + [False] * 7 + [False] * 8  # prompt 0: 8/8, prompt 1: 1/8, prompt 2: 0/8
    samples = pd.DataFrame(
        {
            "prompt_id": np.repeat([0, 1, 2], 8),
            "tier": np.repeat([0, 1, 1], 8),
            "sample": np.tile(np.arange(8), 3),
            "correct": correct,
        }
    )
    tables = {"samples": samples}
    assert mean_at_8(tables, None) == pytest.approx((1 + 1 / 8 + 0) / 3)
    assert pass_at_8(tables, None) == pytest.approx(2 / 3)
    assert worst_tier_pass_at_8(tables, None) == pytest.approx(0.5)
