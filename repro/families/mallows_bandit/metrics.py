"""Trusted metrics of the preference bandit (β sweep), computed from its policy tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repro.metrics import Metric

KL_BUDGET = 0.5
"""Nats of KL(π‖π_ref) at which bandit policies are compared (the operating point of the frontier)."""


def _sweep(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per β: mean over contexts of expected true utility and of KL(π‖π_ref). Rows sorted by β."""
    policy = tables["policy"]
    p, q = policy["policy_prob"].to_numpy(), policy["reference_prob"].to_numpy()
    kl_terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    frame = policy.assign(util=p * policy["true_utility"], kl=kl_terms)
    per_context = frame.groupby(["beta", "context"])[["util", "kl"]].sum()
    return per_context.groupby("beta").mean().sort_index()


def utility_at_kl_budget(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Best expected true utility reachable with KL(π‖π_ref) ≤ KL_BUDGET along the β sweep.

    The sweep's (KL, utility) points, plus π_ref itself at (0, U_ref), are joined piecewise-linearly
    in order of decreasing β (increasing freedom from π_ref); the metric is the largest utility on
    that path within the budget (interpolating on the segment that crosses it).
    """
    policy = tables["policy"]
    first = policy[policy["beta"] == policy["beta"].iloc[0]]
    u_ref = float((first["reference_prob"] * first["true_utility"]).groupby(first["context"]).sum().mean())
    sweep = _sweep(tables).iloc[::-1]  # β descending: from near π_ref outwards
    kls = np.concatenate([[0.0], np.maximum(sweep["kl"].to_numpy(), 0.0)])
    utils = np.concatenate([[u_ref], sweep["util"].to_numpy()])
    best = u_ref
    for i in range(1, kls.size):
        k0, k1, u0, u1 = kls[i - 1], kls[i], utils[i - 1], utils[i]
        if k1 <= KL_BUDGET:
            best = max(best, u1)
        elif k0 < KL_BUDGET:  # the segment crosses the budget
            best = max(best, u0 + (u1 - u0) * (KL_BUDGET - k0) / (k1 - k0))
    return float(best)


def max_utility(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Largest expected true utility over the β sweep, whatever its KL."""
    return float(_sweep(tables)["util"].max())


def _operating_beta(tables: dict[str, pd.DataFrame]) -> float:
    """The swept β whose KL(π‖π_ref) is closest to KL_BUDGET (the operating point of the single-β metrics)."""
    sweep = _sweep(tables)
    return float((sweep["kl"] - KL_BUDGET).abs().idxmin())


def expected_utility(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mean over contexts of Σ_a π(a|x)·u(x,a) at the operating β."""
    return float(_sweep(tables).loc[_operating_beta(tables), "util"])


def kl_to_reference(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mean over contexts of KL(π(·|x) ‖ π_ref(·|x)) in nats at the operating β."""
    return float(_sweep(tables).loc[_operating_beta(tables), "kl"])


def heldout_preference_accuracy(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of held-out annotator pairs whose preferred action the policy ranks higher (ties ½), at the
    swept β whose KL is closest to KL_BUDGET."""
    pairs = tables["heldout_pairs"]
    pairs = pairs[pairs["beta"] == _operating_beta(tables)]
    margin = pairs["logprob_margin"].to_numpy()
    agree = np.where(pairs["a_preferred"].to_numpy(), margin > 0, margin < 0).astype(float)
    agree[margin == 0] = 0.5
    return float(agree.mean())


def ranking_accuracy(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of action pairs, averaged over contexts, that π orders as the true utility does (ties ½),
    at the swept β whose KL is closest to KL_BUDGET."""
    policy = tables["policy"]
    policy = policy[policy["beta"] == _operating_beta(tables)]
    scores = []
    for _, group in policy.groupby("context"):
        p = group["policy_prob"].to_numpy()
        u = group["true_utility"].to_numpy()
        i, j = np.triu_indices(p.size, k=1)
        du, dp = np.sign(u[i] - u[j]), np.sign(p[i] - p[j])
        keep = du != 0
        agree = np.where(dp[keep] == 0, 0.5, (dp[keep] == du[keep]).astype(float))
        scores.append(agree.mean())
    return float(np.mean(scores))


def neg_log_dispersion_cv(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (MallowsPO): the coefficient of variation (sd with ddof 0 over mean) across contexts
    of c(x), the per-context multiplier of β the policy was trained with. MallowsPO-θ with a constant c(x) is DPO
    (the ``mallowspo_constant_dispersion_is_dpo`` property), so engaged means clearly above 0; DPO gives 0."""
    policy = tables["policy"]
    c = policy[policy["beta"] == policy["beta"].iloc[0]].groupby("context")["neg_log_dispersion"].first()
    return float(c.std(ddof=0) / c.mean())


def kl_budget_bracketed(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Diagnostic of the β sweep: 1 when some swept β ends with KL(π‖π_ref) at or below KL_BUDGET and some at or
    above it (the frontier metrics then interpolate between two trained policies), else 0."""
    kl = _sweep(tables)["kl"]
    return float(kl.min() <= KL_BUDGET <= kl.max())


def _oracle_frontier_utility(tables: dict[str, pd.DataFrame]) -> float:
    """The best mean expected true utility of any policy with mean KL(π‖π_ref) ≤ KL_BUDGET, given the true utilities.

    Maximising mean_x E_π[u] − τ·mean_x KL(π‖π_ref) gives π_τ(a|x) ∝ π_ref(a|x)·exp(u(x,a)/τ), one τ for all
    contexts (the Lagrange multiplier of the mean-KL budget); mean KL falls monotonically in τ, so τ is found by
    bisection on log τ. If even the greedy policy (τ → 0) stays within the budget, its utility is the answer.
    """
    policy = tables["policy"]
    first = policy[policy["beta"] == policy["beta"].iloc[0]].sort_values(["context", "action"])
    n_c = first["context"].nunique()
    log_q = np.log(first["reference_prob"].to_numpy().reshape(n_c, -1))
    u = first["true_utility"].to_numpy().reshape(n_c, -1)

    def at(log_tau: float) -> tuple[float, float]:
        logits = log_q + u / np.exp(log_tau)
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        p = np.exp(log_p)
        return float((p * (log_p - log_q)).sum(axis=1).mean()), float((p * u).sum(axis=1).mean())

    lo, hi = -12.0, 12.0  # τ from 6e-6 (greedy to float precision) to 1.6e5 (π_ref)
    if at(lo)[0] <= KL_BUDGET:
        return at(lo)[1]
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at(mid)[0] > KL_BUDGET else (lo, mid)
    return at(hi)[1]


def oracle_utility_at_kl_budget(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """The oracle frontier at the budget: the best expected true utility any policy reaches with mean
    KL(π‖π_ref) ≤ KL_BUDGET (closed form in the true utilities; the same for every arm of a seed)."""
    return _oracle_frontier_utility(tables)


def oracle_gap_at_kl_budget(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """How far the arm's frontier falls short of the oracle frontier at the budget: oracle − utility_at_kl_budget
    (≥ 0: a mixture of two swept policies has KL at most the interpolated one, KL being convex)."""
    return _oracle_frontier_utility(tables) - utility_at_kl_budget(tables, curve)


def max_final_grad_norm(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Convergence diagnostic: the largest over β of ‖∇_logits L_β‖₂ at the end of training (L_β the mean loss over
    labels). About 0 when every β's optimum was reached (the solver's tolerance is ``grad_tol``, 1e-10)."""
    policy = tables["policy"]
    return float(np.sqrt((policy["loss_grad"] ** 2).groupby(policy["beta"]).sum()).max())


def kl_monotone_in_beta(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Convergence diagnostic: 1 if KL(π_β‖π_ref) strictly falls as β grows along the sweep, else 0. At each β's
    optimum it must (π_β ∝ π_ref·exp(ŝ/(c·β)) for the context's Bradley–Terry scores ŝ); a sweep read off an
    optimiser's transient, or a loss without a finite optimum, need not."""
    return float(np.all(np.diff(_sweep(tables)["kl"].to_numpy()) < 0))


def share_contexts_with_optimum(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of contexts whose win graph is strongly connected, i.e. whose loss has a finite minimiser at every β
    (1 by design; below 1 the frontier reads an unbounded fit in those contexts)."""
    policy = tables["policy"]
    return float(policy.groupby("context")["optimum_exists"].all().mean())


# Resolutions: utilities are exact expectations over known distributions, on [0, 1] (1% of the range); KL is
# exact, on [0, log K] = [0, 2.08] nats at ci (K = 8 actions); held-out accuracy samples 32 contexts × 64 annotator
# pairs at ci; ranking accuracy is exact (the true order is known). Gradient norms are float64 sums over 256 logits at
# ci: 1e-12 is well above their rounding.
METRICS: dict[str, Metric] = {
    "utility_at_kl_budget": Metric(
        utility_at_kl_budget,
        True,
        f"best expected true utility with KL(π‖π_ref) ≤ {KL_BUDGET} nats (β sweep)",
        resolution=0.01,
    ),
    "expected_utility": Metric(expected_utility, True, "expected true utility at the operating β", resolution=0.01),
    "kl_to_reference": Metric(kl_to_reference, False, "KL(π‖π_ref), nats, at the operating β", resolution=0.02),
    "heldout_preference_accuracy": Metric(
        heldout_preference_accuracy,
        True,
        "agreement with held-out annotators' pairwise preferences",
        resolution=1 / (32 * 64),
    ),
    "ranking_accuracy": Metric(
        ranking_accuracy, True, "pairwise agreement with the true utility order", resolution=0.01
    ),
    "max_utility": Metric(max_utility, True, "best expected true utility over the β sweep", resolution=0.01),
    "oracle_utility_at_kl_budget": Metric(
        oracle_utility_at_kl_budget,
        True,
        f"oracle frontier: best expected true utility of any policy with KL(π‖π_ref) ≤ {KL_BUDGET} nats",
        resolution=0.01,
    ),
    "oracle_gap_at_kl_budget": Metric(
        oracle_gap_at_kl_budget,
        False,
        f"oracle frontier minus the arm's utility at KL ≤ {KL_BUDGET} nats",
        resolution=0.01,
    ),
    "max_final_grad_norm": Metric(
        max_final_grad_norm,
        False,
        "largest final ‖∇L_β‖₂ over the β sweep (convergence diagnostic; ≈ 0 at the optimum)",
        resolution=1e-12,
    ),
    "kl_monotone_in_beta": Metric(
        kl_monotone_in_beta,
        True,
        "1 if KL(π_β‖π_ref) strictly falls in β along the sweep, else 0 (convergence diagnostic)",
        resolution=1.0,  # an indicator: only a flip is a difference
    ),
    "share_contexts_with_optimum": Metric(
        share_contexts_with_optimum,
        True,
        "share of contexts whose loss has a finite minimiser (strongly connected win graph)",
        resolution=1 / 32,  # one context of 32 at ci
    ),
    "neg_log_dispersion_cv": Metric(
        neg_log_dispersion_cv,
        True,
        "coefficient of variation of c(x) across contexts (MallowsPO mechanism diagnostic; DPO: 0)",
        resolution=0.01,  # continuous; 1% of the [0, 1] range its values fall in
        mechanism=True,
    ),
    "kl_budget_bracketed": Metric(
        kl_budget_bracketed,
        True,
        f"1 if the β sweep's KLs bracket the {KL_BUDGET}-nat budget, else 0 (diagnostic)",
        resolution=1.0,  # an indicator: only a flip is a difference
        mechanism=True,
    ),
}
