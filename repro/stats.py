"""Statistics behind verdicts: pure functions of arrays, no I/O, explicit random state.

Method: reference/anchors.md §3 — Student-t intervals over seeds (paired where seeds pair),
TOST equivalence and non-inferiority for value claims with a margin declared in advance,
prediction-interval mode when the paper reports a single run (CORE-Bench, generalised),
a minimum-effect test for direction claims, the negative-control sensitivity gate, probability
of improvement with a percentile bootstrap (repro.bootstrap), a seeds-needed estimate, and Holm /
Benjamini–Hochberg adjustment across a paper's claims (repro.multiplicity); both are re-exported here.

Its results are records of the verdict (repro.verdict_record): a sample's :class:`Summary` and a decision rule's
:class:`Decision`.

Conventions: ``alpha`` is the one-sided error rate of each bound, so one-sided decisions read the
bounds of the two-sided (1 − 2α) interval (90 % for α = 0.05), which is also TOST's interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from repro.bootstrap import bootstrap_mean_interval, probability_of_improvement
from repro.multiplicity import benjamini_hochberg, holm
from repro.verdict_record import Decision, Summary

__all__ = [
    "Decision",
    "Gap",
    "Summary",
    "benjamini_hochberg",
    "bootstrap_mean_interval",
    "control_gap",
    "decide_direction",
    "decide_prediction",
    "decide_value",
    "holm",
    "minimum_detectable_effect",
    "paired_effects",
    "prediction_seeds_needed",
    "probability_of_improvement",
    "seeds_needed",
    "summarize",
    "t_statistic",
    "welch",
]


def _t(q: float, df: float) -> float:
    return float(sps.t.ppf(q, df)) if math.isfinite(df) else float(sps.norm.ppf(q))


def summarize(x: np.ndarray, alpha: float = 0.05) -> Summary:
    """x: (n,) finite values. Student-t interval of the mean with df = n − 1."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError("need a 1-D sample of at least 2 values")
    if not np.all(np.isfinite(x)):
        raise ValueError("sample contains non-finite values")
    n = x.size
    mean = float(x.mean())
    sd = float(x.std(ddof=1))
    se = sd / math.sqrt(n)
    half = _t(1 - alpha, n - 1) * se
    return Summary.of(n, mean, sd, se, n - 1, mean - half, mean + half, alpha)


def welch(x: np.ndarray, y: np.ndarray, alpha: float = 0.05) -> Summary:
    """Difference of means x − y with Welch–Satterthwaite df (unpaired samples)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or y.size < 2:
        raise ValueError("Welch needs at least 2 values per sample")
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    # Welch–Satterthwaite; with no spread at all the df are immaterial (the interval has zero width).
    df = float(x.size + y.size - 2) if se == 0.0 else (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    mean = float(x.mean() - y.mean())
    half = _t(1 - alpha, df) * se
    sd = math.sqrt(x.var(ddof=1) + y.var(ddof=1))
    return Summary.of(x.size + y.size, mean, sd, se, df, mean - half, mean + half, alpha)


def paired_effects(treatment: np.ndarray, baseline: np.ndarray, effect: str) -> np.ndarray:
    """Per-seed effects, shape (n,). ``difference``: t − b; ``relative``: 100·(t/b − 1) in percent."""
    t, b = np.asarray(treatment, float), np.asarray(baseline, float)
    if t.shape != b.shape:
        raise ValueError("paired samples must have the same shape")
    if effect == "difference":
        return t - b
    if effect == "relative":
        if np.any(b == 0):
            raise ValueError("relative effect undefined: a baseline value is 0")
        return 100.0 * (t / b - 1.0)
    raise ValueError(f"unknown effect {effect!r}")


def _p_greater(stat_mean: float, bound: float, se: float, df: float) -> float:
    """One-sided p-value for H0: μ ≤ bound against H1: μ > bound."""
    if se == 0.0:
        return 0.0 if stat_mean > bound else 1.0
    return float(sps.t.sf((stat_mean - bound) / se, df))


def _p_less(stat_mean: float, bound: float, se: float, df: float) -> float:
    """One-sided p-value for H0: μ ≥ bound against H1: μ < bound."""
    if se == 0.0:
        return 0.0 if stat_mean < bound else 1.0
    return float(sps.t.cdf((stat_mean - bound) / se, df))


def t_statistic(mean: float, bound: float, se: float) -> float | None:
    """(mean − bound)/se, or None when there is no spread (the decision then rests on the point values)."""
    return None if se == 0.0 else (mean - bound) / se


def decide_direction(d: Summary, relation: str, margin: float) -> Decision:
    """Direction claim on per-seed effects (treatment − baseline, or relative %).

    ``greater`` (``less`` mirrors it):
    - falsified ⇔ UCB < δ: the effect is significantly below the smallest effect of interest
      (a reversal when UCB < 0, otherwise a positive but negligible effect; a placebo lands here);
    - verified ⇔ LCB > 0;
    - inconclusive otherwise.
    The falsification test is applied first, so "significant but smaller than δ" is falsified.
    """
    sign = 1.0 if relation == "greater" else -1.0
    if relation not in ("greater", "less"):
        raise ValueError(f"not a direction relation: {relation!r}")
    mean = sign * d.mean
    lo, hi = (d.lo, d.hi) if sign > 0 else (-d.hi, -d.lo)
    p_verify = _p_greater(mean, 0.0, d.se, d.df)
    p_falsify = _p_less(mean, margin, d.se, d.df)
    word = "above" if sign > 0 else "below"
    if hi < margin:
        kind = "reversed" if hi < 0 else "smaller than the minimum effect of interest"
        outcome, reason = (
            "falsified",
            (f"effect {kind}: the upper bound {hi:.4g} of the {1 - 2 * d.alpha:.0%} interval is below δ = {margin:g}"),
        )
    elif lo > 0:
        outcome, reason = (
            "verified",
            (f"effect {word} zero: the {1 - 2 * d.alpha:.0%} interval [{lo:.4g}, {hi:.4g}] excludes 0"),
        )
    else:
        outcome, reason = (
            "inconclusive",
            (f"the {1 - 2 * d.alpha:.0%} interval [{lo:.4g}, {hi:.4g}] contains 0 and reaches δ = {margin:g}"),
        )
    extra = {"t_vs_zero": t_statistic(mean, 0.0, d.se), "t_vs_margin": t_statistic(mean, margin, d.se), "df": d.df}
    return Decision.of(outcome, reason, "paired-t direction", d.mean, d.lo, d.hi, p_verify, p_falsify, extra)


def decide_value(
    x: Summary,
    relation: str,
    theta: float,
    margin: float,
    paper_sd: float | None = None,
    paper_runs: int | None = None,
) -> Decision:
    """Value claim: is the mean of ``x`` (effects or values, per seed) consistent with θ?

    Means mode (anchors §3.3a): d = x̄ − θ, SE = √(s²/n + s_p²/n_p), Welch df.
    - ``equal`` (TOST): verified ⇔ the (1 − 2α) interval of d lies inside (−δ, δ);
      falsified ⇔ the (1 − α) interval of d misses [−δ, δ]; inconclusive otherwise.
    - ``at_least``: verified ⇔ LCB(d) > −δ; falsified ⇔ UCB(d) < −δ. ``at_most`` mirrors it.
    """
    if paper_runs == 1:
        raise ValueError("paper_runs == 1 is prediction-interval mode: use decide_prediction")
    se, df = _value_se(x, paper_sd, paper_runs)
    d = x.mean - theta
    half1 = _t(1 - x.alpha, df) * se
    if relation == "equal":
        outcome, reason, p_verify, p_falsify = _tost(d, half1, se, df, x.alpha, theta, margin)
        mode = "TOST"
    elif relation in ("at_least", "at_most"):
        outcome, reason, p_verify, p_falsify = _non_inferiority(relation, d, half1, se, df, theta, margin)
        mode = "non-inferiority"
    else:
        raise ValueError(f"not a value relation: {relation!r}")
    extra = {
        "d": d,
        "se": se,
        "df": df,
        "t_vs_lower_margin": t_statistic(d, -margin, se),
        "t_vs_upper_margin": t_statistic(d, margin, se),
    }
    return Decision.of(outcome, reason, mode, x.mean, x.mean - half1, x.mean + half1, p_verify, p_falsify, extra)


def _value_se(x: Summary, paper_sd: float | None, paper_runs: int | None) -> tuple[float, float]:
    """SE and df of d = x̄ − θ: our seeds' alone, or with the paper's spread over its runs (Welch df)."""
    if paper_sd is None:
        return x.se, x.df
    var_ours = x.se**2
    var_paper = paper_sd**2 / paper_runs
    se = math.sqrt(var_ours + var_paper)
    denom = (var_ours**2 / (x.n - 1) if var_ours else 0.0) + (var_paper**2 / (paper_runs - 1) if var_paper else 0.0)
    df = (var_ours + var_paper) ** 2 / denom if denom > 0 else float(x.n - 1)
    return se, df


def _tost(
    d: float, half1: float, se: float, df: float, alpha: float, theta: float, margin: float
) -> tuple[str, str, float, float]:
    """Equivalence (TOST) of d = x̄ − θ within ±δ, with ``half1`` the half-width of its (1 − 2α) interval:
    (outcome, reason, p_verify, p_falsify)."""
    lo, hi = d - half1, d + half1
    p_verify = max(_p_greater(d, -margin, se, df), _p_less(d, margin, se, df))
    half2 = _t(1 - alpha / 2, df) * se
    lo2, hi2 = d - half2, d + half2
    p_falsify = min(1.0, 2 * min(_p_less(d, -margin, se, df), _p_greater(d, margin, se, df)))
    if -margin < lo and hi < margin:
        reason = f"equivalent to θ = {theta:g}: x̄ − θ ∈ [{lo:.4g}, {hi:.4g}] ⊂ (−δ, δ), δ = {margin:g}"
        return "verified", reason, p_verify, p_falsify
    if hi2 < -margin or lo2 > margin:
        reason = (
            f"differs from θ = {theta:g} by more than δ = {margin:g}: "
            f"the {1 - alpha:.0%} interval of x̄ − θ is [{lo2:.4g}, {hi2:.4g}]"
        )
        return "falsified", reason, p_verify, p_falsify
    reason = f"x̄ − θ ∈ [{lo:.4g}, {hi:.4g}] neither inside nor clear of ±δ = {margin:g}"
    return "inconclusive", reason, p_verify, p_falsify


def _non_inferiority(
    relation: str, d: float, half1: float, se: float, df: float, theta: float, margin: float
) -> tuple[str, str, float, float]:
    """``at_least`` (``at_most`` mirrors it) θ − δ for d = x̄ − θ with one-sided bound ``half1``: (outcome, reason,
    p_verify, p_falsify)."""
    lo, hi = d - half1, d + half1
    sign = 1.0 if relation == "at_least" else -1.0
    ds, los, his = sign * d, (lo if sign > 0 else -hi), (hi if sign > 0 else -lo)
    p_verify = _p_greater(ds, -margin, se, df)
    p_falsify = _p_less(ds, -margin, se, df)
    word = "at least" if sign > 0 else "at most"
    if los > -margin:
        reason = f"{word} θ − δ: bound {sign * los + theta:.4g} vs θ = {theta:g}, δ = {margin:g}"
        return "verified", reason, p_verify, p_falsify
    if his < -margin:
        return "falsified", f"significantly short of θ = {theta:g} by more than δ = {margin:g}", p_verify, p_falsify
    reason = f"interval of x̄ − θ [{lo:.4g}, {hi:.4g}] straddles the boundary {-sign * margin:g} (δ = {margin:g})"
    return "inconclusive", reason, p_verify, p_falsify


def decide_prediction(
    x: np.ndarray, relation: str, theta: float, margin: float, precision: float, alpha: float = 0.05
) -> Decision:
    """Prediction-interval mode for a paper value from a single run (anchors §3.3b), informative or inconclusive.

    θ is one draw from the paper's run distribution, so d = x̄ − θ has SE_pred = s·√(1 + 1/n), df = n − 1 (our
    seeds' spread stands in for the paper's). The tests are TOST and non-inferiority on d with SE_pred:
    - ``equal``: verified ⇔ the (1 − 2α) prediction interval of d lies inside (−δ′, δ′), δ′ = δ − u/2 (θ is only
      known to its rounding u); falsified ⇔ the (1 − α) interval misses [−(δ + u/2), δ + u/2];
    - ``at_least``: verified ⇔ LCB(d) > −δ′; falsified ⇔ UCB(d) < −(δ + u/2). ``at_most`` mirrors it.
    Verification therefore needs h ≤ δ′ (the interval must tell θ from θ ± δ): a wide interval is inconclusive
    however close x̄ is to θ, with the seeds that would make it narrow enough in ``extra["seeds_informative"]``.
    p_verify / p_falsify are the one-sided (TOST) p-values of exactly these decisions.
    """
    s = summarize(x, alpha)
    se = s.sd * math.sqrt(1 + 1 / s.n)
    df = float(s.n - 1)
    d = s.mean - theta
    verify_margin, falsify_margin = margin - precision / 2, margin + precision / 2
    h = _t(1 - alpha, df) * se  # one-sided bound of the (1 − 2α) interval
    h2 = _t(1 - alpha / 2, df) * se
    p_verify, p_falsify, verified, falsified = _prediction_tests(
        relation, d, h, h2, se, df, verify_margin, falsify_margin
    )
    informative = h < verify_margin
    needed = prediction_seeds_needed(s.sd, verify_margin, alpha) if not informative else None
    if falsified:
        outcome, reason = (
            "falsified",
            f"θ = {theta:g} lies beyond our prediction interval by more than δ = {margin:g} "
            f"(x̄ = {s.mean:.4g}, x̄ − θ = {d:.4g}, h = {h2 if relation == 'equal' else h:.4g})",
        )
    elif verified:
        outcome, reason = (
            "verified",
            f"θ = {theta:g} is within δ = {margin:g} of our runs: x̄ − θ = {d:.4g} ± {h:.4g} lies inside "
            f"±{verify_margin:g}",
        )
    elif not informative:
        outcome, reason = (
            "inconclusive",
            f"the prediction interval is too wide to tell θ from θ ± δ: h = {h:.4g} ≥ δ = {verify_margin:g} "
            f"(x̄ = {s.mean:.4g}, s = {s.sd:.4g})",
        )
    else:
        outcome, reason = (
            "inconclusive",
            f"x̄ − θ = {d:.4g} ± {h:.4g} is neither inside ±{verify_margin:g} nor clear of ±{falsify_margin:g}",
        )
    return Decision.of(
        outcome,
        reason,
        "prediction interval",
        s.mean,
        s.mean - h,
        s.mean + h,
        p_verify,
        p_falsify,
        {
            "d": d,
            "h": h,
            "se_pred": se,
            "df": df,
            "informative": informative,
            "seeds_informative": needed,
            "t_vs_lower_margin": t_statistic(d, -verify_margin, se),
            "t_vs_upper_margin": t_statistic(d, verify_margin, se),
        },
    )


def _prediction_tests(
    relation: str, d: float, h: float, h2: float, se: float, df: float, verify_margin: float, falsify_margin: float
) -> tuple[float, float, bool, bool]:
    """TOST (``equal``) or non-inferiority (``at_least``, ``at_most`` mirrors it) on d = x̄ − θ with the prediction
    interval's bounds ``h`` (1 − 2α) and ``h2`` (1 − α): (p_verify, p_falsify, verified, falsified)."""
    if relation == "equal":
        p_verify = max(_p_greater(d, -verify_margin, se, df), _p_less(d, verify_margin, se, df))
        p_falsify = min(1.0, 2 * min(_p_less(d, -falsify_margin, se, df), _p_greater(d, falsify_margin, se, df)))
        verified = -verify_margin < d - h and d + h < verify_margin
        falsified = d + h2 < -falsify_margin or d - h2 > falsify_margin
        return p_verify, p_falsify, verified, falsified
    if relation in ("at_least", "at_most"):
        sign = 1.0 if relation == "at_least" else -1.0
        p_verify = _p_greater(sign * d, -verify_margin, se, df)
        p_falsify = _p_less(sign * d, -falsify_margin, se, df)
        return p_verify, p_falsify, sign * d - h > -verify_margin, sign * d + h < -falsify_margin
    raise ValueError(f"prediction-interval mode needs equal/at_least/at_most, not {relation!r}")


def prediction_seeds_needed(sd: float, margin: float, alpha: float = 0.05, n_max: int = 10_000) -> int | None:
    """Smallest n with t(1 − α, n − 1)·sd·√(1 + 1/n) < margin (a prediction interval narrow enough to tell θ from
    θ ± margin), or None if none up to n_max: the run-to-run spread alone is then wider than the margin."""
    if margin <= 0:
        return None
    if sd == 0:
        return 2
    for n in range(2, n_max + 1):
        if _t(1 - alpha, n - 1) * sd * math.sqrt(1 + 1 / n) < margin:
            return n
    return None


def minimum_detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean effect a one-sided paired t-test at level α detects with the given power from n seeds:
    (t(1 − α, n − 1) + t(power, n − 1))·sd/√n (the noncentral-t approximation behind ``seeds_needed``)."""
    if n < 2:
        return float("inf")
    return (_t(1 - alpha, n - 1) + _t(power, n - 1)) * sd / math.sqrt(n)


def spread_over_pilot(sd: float, n: int, pilot_sd: float, pilot_n: int) -> float:
    """One-sided p-value that the decisive seeds' per-seed sd (``sd`` over ``n`` seeds) exceeds the pilot's
    (``pilot_sd`` over ``pilot_n`` seeds) only by chance: P(F(n − 1, pilot_n − 1) ≥ (sd/pilot_sd)²), the variance-
    ratio F-test under normal effects. A small p says the pilot understated the spread that the seeds were sized
    for, so their power at the margin was below the 80 % planned. NaN when either sample has under 2 seeds or the
    pilot's sd is 0."""
    if n < 2 or pilot_n < 2 or not pilot_sd > 0:
        return float("nan")
    return float(sps.f.sf((sd / pilot_sd) ** 2, n - 1, pilot_n - 1))


@dataclass(frozen=True)
class Gap:
    control: str
    summary: Summary
    passed: bool
    paired: bool


def control_gap(
    treatment: np.ndarray,
    control: np.ndarray,
    effect: str,
    margin: float,
    higher_is_better: bool,
    alpha: float = 0.05,
    name: str = "control",
    paired: bool = True,
) -> Gap:
    """Negative-control sensitivity gate (anchors §3.4).

    Δ = treatment − control, direction-adjusted so that positive means the control is worse
    (for ``relative`` effects Δ = 100·(t/c − 1), sign-flipped when lower is better).
    Passes ⇔ LCB(1 − α) of Δ > δ: the evaluation resolves differences at least as large as the margin.
    """
    t, c = np.asarray(treatment, float), np.asarray(control, float)
    if paired:
        if effect == "relative":
            if np.any(c == 0):
                raise ValueError("relative gap undefined: a control value is 0")
            delta = 100.0 * (t / c - 1.0) if higher_is_better else 100.0 * (c / t - 1.0)
        else:
            delta = (t - c) if higher_is_better else (c - t)
        s = summarize(delta, alpha)
    else:
        s = welch(t, c, alpha) if higher_is_better else welch(c, t, alpha)
    return Gap(name, s, bool(s.lo > margin), paired)


def seeds_needed(
    sd: float, distance: float, alpha: float = 0.05, power: float = 0.8, n_max: int = 10_000
) -> int | None:
    """Smallest n with (t(1−α, n−1) + t(power, n−1))·sd/√n ≤ distance, or None if n > n_max.

    ``distance`` is how far the current estimate sits from the decision boundary it must clear.
    """
    if distance <= 0 or not math.isfinite(distance):
        return None
    if sd == 0:
        return 2
    for n in range(2, n_max + 1):
        if (_t(1 - alpha, n - 1) + _t(power, n - 1)) * sd / math.sqrt(n) <= distance:
            return n
    return None
