"""Verdict statistics, each rule checked against numbers computable by hand."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from repro import stats


def test_summarize_matches_hand_computation():
    s = stats.summarize(np.array([1.0, 2.0, 3.0, 4.0]), alpha=0.05)
    assert s.mean == 2.5
    assert s.sd == pytest.approx(math.sqrt(5 / 3))  # sum of squares 5, n − 1 = 3
    assert s.se == pytest.approx(math.sqrt(5 / 3) / 2)
    half = 2.353363434801823 * s.se  # t(0.95, 3)
    assert (s.lo, s.hi) == pytest.approx((2.5 - half, 2.5 + half))


def test_summarize_rejects_bad_samples():
    with pytest.raises(ValueError):
        stats.summarize(np.array([1.0]))
    with pytest.raises(ValueError):
        stats.summarize(np.array([1.0, np.nan]))


def test_welch_matches_scipy():
    x, y = np.array([5.1, 4.9, 5.6, 5.8, 6.0]), np.array([4.0, 4.4, 3.9, 5.0])
    s = stats.welch(x, y, alpha=0.025)
    ref = sps.ttest_ind(x, y, equal_var=False)
    assert s.mean / s.se == pytest.approx(ref.statistic)
    assert s.df == pytest.approx(ref.df)


def test_paired_effects():
    assert stats.paired_effects(np.array([2.0, 3.0]), np.array([1.0, 2.0]), "difference").tolist() == [1.0, 1.0]
    assert stats.paired_effects(np.array([2.0, 3.0]), np.array([1.0, 2.0]), "relative").tolist() == [100.0, 50.0]
    with pytest.raises(ValueError):
        stats.paired_effects(np.array([1.0]), np.array([0.0]), "relative")


def _summary(mean, se, n=10, alpha=0.05):
    """A Summary with a chosen mean and se (df = n − 1)."""
    half = sps.t.ppf(1 - alpha, n - 1) * se
    return stats.Summary.of(n, mean, se * math.sqrt(n), se, n - 1, mean - half, mean + half, alpha)


def test_direction_verified_when_lower_bound_above_zero():
    d = stats.decide_direction(_summary(1.0, 0.1), "greater", margin=0.5)
    assert d.outcome == "verified"
    assert d.p_verify < 0.05


def test_direction_falsified_on_reversal_and_on_negligible_effect():
    assert stats.decide_direction(_summary(-1.0, 0.1), "greater", margin=0.5).outcome == "falsified"
    # significantly positive but certainly below the smallest effect of interest δ: falsified, not verified
    d = stats.decide_direction(_summary(0.1, 0.01), "greater", margin=0.5)
    assert d.outcome == "falsified" and "smaller than the minimum effect" in d.reason


def test_direction_inconclusive_when_interval_straddles():
    assert stats.decide_direction(_summary(0.2, 0.2), "greater", margin=0.5).outcome == "inconclusive"


def test_direction_less_mirrors_greater():
    assert stats.decide_direction(_summary(-1.0, 0.1), "less", margin=0.5).outcome == "verified"
    assert stats.decide_direction(_summary(1.0, 0.1), "less", margin=0.5).outcome == "falsified"


def test_placebo_with_zero_variance_is_falsified_never_verified():
    s = stats.summarize(np.zeros(5))
    assert stats.decide_direction(s, "greater", margin=0.01).outcome == "falsified"


def test_tost_equal():
    assert stats.decide_value(_summary(10.05, 0.02), "equal", theta=10.0, margin=0.2).outcome == "verified"
    assert stats.decide_value(_summary(11.0, 0.02), "equal", theta=10.0, margin=0.2).outcome == "falsified"
    assert stats.decide_value(_summary(10.15, 0.1), "equal", theta=10.0, margin=0.2).outcome == "inconclusive"


def test_tost_p_value_is_the_larger_one_sided_p():
    s = _summary(10.05, 0.02)
    d = stats.decide_value(s, "equal", theta=10.0, margin=0.2)
    p_low = sps.t.sf((0.05 + 0.2) / 0.02, 9)
    p_high = sps.t.cdf((0.05 - 0.2) / 0.02, 9)
    assert d.p_verify == pytest.approx(max(p_low, p_high))


def test_non_inferiority():
    assert stats.decide_value(_summary(9.9, 0.02), "at_least", theta=10.0, margin=0.2).outcome == "verified"
    assert stats.decide_value(_summary(9.0, 0.02), "at_least", theta=10.0, margin=0.2).outcome == "falsified"
    assert stats.decide_value(_summary(10.1, 0.02), "at_most", theta=10.0, margin=0.2).outcome == "verified"
    assert stats.decide_value(_summary(11.0, 0.02), "at_most", theta=10.0, margin=0.2).outcome == "falsified"


def test_paper_spread_widens_the_interval():
    narrow = stats.decide_value(_summary(10.0, 0.05), "equal", theta=10.0, margin=0.2)
    wide = stats.decide_value(_summary(10.0, 0.05), "equal", theta=10.0, margin=0.2, paper_sd=0.5, paper_runs=3)
    assert narrow.outcome == "verified" and wide.outcome == "inconclusive"
    assert wide.extra["se"] == pytest.approx(math.sqrt(0.05**2 + 0.5**2 / 3))


def test_prediction_interval_mode_by_hand():
    """TOST on d = x̄ − θ with SE_pred = s·√(1 + 1/n): verified needs the (1 − 2α) interval inside ±δ."""
    x = np.array([10.0, 11.0, 12.0, 11.0, 10.0, 12.0, 11.0, 11.0])  # mean 11
    sd = float(np.std(x, ddof=1))
    se = sd * math.sqrt(1 + 1 / 8)
    h1, h2 = sps.t.ppf(0.95, 7) * se, sps.t.ppf(0.975, 7) * se
    margin = h1 + 0.5
    assert stats.decide_prediction(x, "equal", theta=11 + 0.49, margin=margin, precision=0.0).outcome == "verified"
    between = stats.decide_prediction(x, "equal", theta=11 + 0.51 + h2, margin=margin, precision=0.0)
    assert between.outcome == "inconclusive"
    beyond = stats.decide_prediction(x, "equal", theta=11 + margin + h2 + 0.01, margin=margin, precision=0.0)
    assert beyond.outcome == "falsified"
    # θ known only to its rounding u: verification needs the interval inside ±(δ − u/2)
    assert stats.decide_prediction(x, "equal", 11 + 0.45, margin, precision=0.2).outcome == "inconclusive"
    # p-values are the TOST p-values of the same test
    d = stats.decide_prediction(x, "equal", theta=11.2, margin=margin, precision=0.0)
    low = sps.t.sf((-0.2 + margin) / se, 7)  # H0: d ≤ −δ
    high = sps.t.cdf((-0.2 - margin) / se, 7)  # H0: d ≥ δ
    assert d.p_verify == pytest.approx(max(low, high))


def test_a_wide_prediction_interval_is_inconclusive_not_verified():
    """The issue's case: our mean gain is 0 with s = 2.7 over 3 seeds; the paper's single run says 13.13 ± 5.
    θ lies inside our (huge) prediction interval, which is no agreement: the interval cannot tell θ from θ ± δ."""
    d = stats.decide_prediction(np.array([-2.7, 0.0, 2.7]), "equal", 13.13, margin=5.0, precision=0.01)
    assert d.outcome == "inconclusive" and "too wide" in d.reason
    assert not d.extra["informative"] and d.extra["h"] > 5.0
    n = d.extra["seeds_informative"]  # seeds that would make h < δ − u/2 at this spread
    assert n is not None and sps.t.ppf(0.95, n - 1) * 2.7 * math.sqrt(1 + 1 / n) < 4.995
    assert sps.t.ppf(0.95, n - 2) * 2.7 * math.sqrt(1 + 1 / (n - 1)) >= 4.995
    assert stats.prediction_seeds_needed(10.0, 5.0) is None  # spread alone wider than δ: no seed count suffices


def test_prediction_interval_at_least():
    x = np.array([10.0, 11.0, 12.0, 11.0, 10.0, 12.0, 11.0, 11.0])
    se = float(np.std(x, ddof=1)) * math.sqrt(1 + 1 / 8)
    h1 = sps.t.ppf(0.95, 7) * se
    margin = h1 + 0.5
    assert stats.decide_prediction(x, "at_least", 11 + 0.4, margin, 0.0).outcome == "verified"
    assert stats.decide_prediction(x, "at_least", 11 + margin + h1 + 0.1, margin, 0.0).outcome == "falsified"
    far = stats.decide_prediction(x, "at_least", 0.0, margin, 0.0)  # far above the floor
    assert far.outcome == "verified" and 0 < far.p_verify < 1e-6  # a real p-value, not 0 by construction
    assert far.p_falsify == pytest.approx(1.0, abs=1e-6)


def test_minimum_detectable_effect_by_hand():
    mde = stats.minimum_detectable_effect(2.0, 10)
    assert mde == pytest.approx((sps.t.ppf(0.95, 9) + sps.t.ppf(0.8, 9)) * 2.0 / math.sqrt(10))
    # consistent with seeds_needed: at n = seeds_needed(sd, δ), the MDE is at most δ
    n = stats.seeds_needed(2.0, 1.0)
    assert stats.minimum_detectable_effect(2.0, n) <= 1.0 < stats.minimum_detectable_effect(2.0, n - 1)


def test_holm_with_logically_related_hypotheses():
    """Shaffer's cap: of 2m hypotheses (verify and falsify per claim) at most m are true."""
    p = [0.01, 0.9, 0.02, 0.8, 0.5, 0.03]  # three claims, (verify, falsify) each
    assert stats.holm(p, max_true=3) == pytest.approx([0.03, 1.0, 0.06, 1.0, 1.0, 0.09])
    assert stats.holm(p) == pytest.approx([0.06, 1.0, 0.10, 1.0, 1.0, 0.12])  # plain Holm over 6


def test_absurd_claim_is_falsified():
    effects = np.array([30.0, 25.0, 35.0, 28.0])  # +30 % relative
    s = stats.summarize(effects)
    assert stats.decide_value(s, "at_least", theta=1000.0, margin=5.0).outcome == "falsified"


def test_control_gap_gate():
    treatment = np.array([0.80, 0.82, 0.81, 0.83])
    control = np.array([0.50, 0.52, 0.49, 0.51])
    assert stats.control_gap(treatment, control, "difference", 0.05, higher_is_better=True).passed
    assert not stats.control_gap(treatment, treatment - 0.01, "difference", 0.05, higher_is_better=True).passed
    # lower is better: the control must be higher
    assert stats.control_gap(control, treatment, "difference", 0.05, higher_is_better=False).passed
    assert not stats.control_gap(treatment, control, "difference", 0.05, higher_is_better=False).passed


def test_probability_of_improvement():
    a, b = np.array([3.0, 2.0, 5.0, 1.0]), np.array([1.0, 2.0, 4.0, 2.0])
    est, lo, hi = stats.probability_of_improvement(a, b, paired=True, rng=np.random.default_rng(0))
    assert est == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert 0.0 <= lo <= est <= hi <= 1.0
    est_u, _, _ = stats.probability_of_improvement(
        np.array([2.0, 3.0]), np.array([1.0, 2.0]), paired=False, rng=np.random.default_rng(0)
    )
    assert est_u == pytest.approx((1 + 1 + 0.5 + 1) / 4)  # pairs: 2>1, 2=2, 3>1, 3>2


def test_seeds_needed():
    # need (t(.95,n-1) + t(.8,n-1)) * sd / sqrt(n) <= distance; sd = distance gives n = 9 with t-quantiles
    n = stats.seeds_needed(1.0, 1.0)
    assert n is not None and (sps.t.ppf(0.95, n - 1) + sps.t.ppf(0.8, n - 1)) / math.sqrt(n) <= 1.0
    assert (sps.t.ppf(0.95, n - 2) + sps.t.ppf(0.8, n - 2)) / math.sqrt(n - 1) > 1.0
    assert stats.seeds_needed(1.0, 0.0) is None
    assert stats.seeds_needed(0.0, 1.0) == 2


def test_holm_and_bh_by_hand():
    p = [0.01, 0.04, 0.03, 0.20]
    assert stats.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.20])
    assert stats.benjamini_hochberg(p) == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.20])


def test_bootstrap_interval_contains_mean():
    x = np.arange(20, dtype=float)
    lo, hi = stats.bootstrap_mean_interval(x, np.random.default_rng(1))
    assert lo < x.mean() < hi


def test_a_decisive_spread_above_the_pilots_is_tested_by_the_variance_ratio():
    """F-table value F(0.95; 5, 11) = 3.20: 6 decisive seeds whose sd is √3.20 times a 12-seed pilot's sit at
    p ≈ 0.05; equal spreads on equal seeds at p = 0.5; a smaller decisive spread is no evidence of understatement."""
    assert stats.spread_over_pilot(math.sqrt(3.20), 6, 1.0, 12) == pytest.approx(0.05, abs=0.001)
    assert stats.spread_over_pilot(2.0, 8, 2.0, 8) == pytest.approx(0.5)
    assert stats.spread_over_pilot(0.5, 6, 1.0, 12) > 0.5
    # prompt-gdro-4b's ci rule: pilot sd 5.02 on 12 seeds, decisive sd 9.76 on 6
    assert stats.spread_over_pilot(9.76, 6, 5.02, 12) < 0.05
    assert math.isnan(stats.spread_over_pilot(1.0, 1, 1.0, 12)) and math.isnan(stats.spread_over_pilot(1.0, 6, 0.0, 12))
