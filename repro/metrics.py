"""Trusted metric functions, computed from a run's predictions and curve only.

Experiments never compute their headline metrics (docs/design.md §4): they write per-item predictions
and a training curve; the functions here turn those into numbers. Each metric declares its
direction and its resolution, which the verdict's negative-control gate uses.

Mechanism diagnostics are metrics too: each family lists in ``MECHANISM_DIAGNOSTICS`` those of its metrics that
show whether a method's mechanism engaged at this scale (e.g. how far group DRO's weights moved from uniform).
They are computed for every arm; an arm without the mechanism gets the "not engaged" value (0 divergence, a ratio
of 1), so a treatment that only pretends to run its method fails the claim's ``mechanism`` check.

Signature of a metric: ``fn(tables, curve) -> float`` where ``tables`` maps a family's prediction
table names to validated DataFrames.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Metric:
    fn: Callable[[dict[str, pd.DataFrame], pd.DataFrame], float]
    higher_is_better: bool
    description: str
    resolution: float
    """The smallest difference between two arms' means, in the metric's own units, that its evaluation can honestly
    resolve (what the negative-control gate requires a gap to exceed). Sampled metrics: at least one evaluation
    item's worth at the ci scale's evaluation-set size (pass@8 over N prompts: 1/N); exact or continuous metrics
    (expected utility over a known distribution, KL): about 1% of the metric's natural range."""

    def __post_init__(self) -> None:
        if not self.resolution > 0:
            raise ValueError(f"a metric's resolution must be positive, not {self.resolution!r}")


# ------------------------------------------------------------------ preference bandit (β sweep)

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


# ------------------------------------------------------------------ AlpacaEval (specified only)


def lc_win_rate(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """AlpacaEval 2's length-controlled win rate (Dubois et al. 2024): a GLM of the judge's preferences with a
    length term, read with the length term at zero. Not implemented: no run in repro produces judgements."""
    raise NotImplementedError("LC win rate needs AlpacaEval 2's GLM over external-judge preferences")


# ------------------------------------------------------------------ planted calibration family


def accuracy(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of items whose thresholded probability (≥ ½ → 1) equals the label."""
    items = tables["items"]
    return float(((items["prob"] >= 0.5).astype(int) == items["label"]).mean())


def log_loss(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mean binary cross-entropy in nats, probabilities clipped to [1e-7, 1 − 1e-7]."""
    items = tables["items"]
    p = items["prob"].clip(1e-7, 1 - 1e-7).to_numpy()
    y = items["label"].to_numpy()
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def training_loss_drop(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (planted): the relative fall of the training loss, (first logged − last logged) / first.
    Engaged: clearly above 0 (the optimiser lowered the loss); 0 for a run that never updates, negative if the loss
    rose."""
    loss = curve["loss"].to_numpy(dtype=float)
    return float((loss[0] - loss[-1]) / loss[0])


# Resolutions: utilities are exact expectations over known distributions, on [0, 1] (1% of the range); KL is
# exact, on [0, log K] = [0, 2.08] nats at ci (K = 8 actions); held-out accuracy samples 32 contexts × 64 annotator
# pairs at ci; ranking accuracy is exact (the true order is known). AlpacaEval 2 has 805 instructions. The
# planted family evaluates 512 items.
METRICS: dict[str, Metric] = {
    "utility_at_kl_budget": Metric(
        utility_at_kl_budget,
        True,
        f"best expected true utility with KL(π‖π_ref) ≤ {KL_BUDGET} nats (β sweep)",
        resolution=0.01,
    ),
    "max_utility": Metric(max_utility, True, "best expected true utility over the β sweep", resolution=0.01),
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
    "lc_win_rate": Metric(lc_win_rate, True, "AlpacaEval 2 length-controlled win rate, %", resolution=100 / 805),
    "accuracy": Metric(accuracy, True, "classification accuracy", resolution=1 / 512),
    "log_loss": Metric(log_loss, False, "binary cross-entropy, nats", resolution=0.01 * math.log(2)),
    "training_loss_drop": Metric(
        training_loss_drop, True, "relative fall of the training loss (mechanism diagnostic)", resolution=0.01
    ),
    "neg_log_dispersion_cv": Metric(
        neg_log_dispersion_cv,
        True,
        "coefficient of variation of c(x) across contexts (MallowsPO mechanism diagnostic; DPO: 0)",
        resolution=0.01,  # continuous; 1% of the [0, 1] range its values fall in
    ),
    "kl_budget_bracketed": Metric(
        kl_budget_bracketed,
        True,
        f"1 if the β sweep's KLs bracket the {KL_BUDGET}-nat budget, else 0 (diagnostic)",
        resolution=1.0,  # an indicator: only a flip is a difference
    ),
}


# ------------------------------------------------------------------ pass@k / mean@k (GDRO, arXiv 2601.19280)

GDRO_K = 8
"""k of mean@k and pass@k (GDRO §5: "each prompt is evaluated with 8 sampled completions")."""


def pass_at_k(n: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    """Unbiased pass@k per prompt from n samples with c correct: 1 − C(n−c, k)/C(n, k) (Chen et al. 2021, Eq. 1).

    n, c: (P,) integer arrays with n ≥ k. Computed as 1 − Π_{i=n−c+1}^{n} (1 − k/i), which is exact and stable.
    """
    n, c = np.asarray(n, int), np.asarray(c, int)
    if np.any(n < k):
        raise ValueError(f"pass@{k} needs at least {k} samples per prompt")
    out = np.empty(n.shape, float)
    for idx, (ni, ci) in enumerate(zip(n.tolist(), c.tolist(), strict=True)):
        out[idx] = 1.0 if ni - ci < k else 1.0 - float(np.prod(1.0 - k / np.arange(ni - ci + 1, ni + 1)))
    return out


def _per_prompt(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per held-out prompt: its tier, sample count n, correct count c and unbiased pass@k."""
    samples = tables["samples"]
    grouped = samples.groupby("prompt_id").agg(tier=("tier", "first"), n=("correct", "size"), c=("correct", "sum"))
    return grouped.assign(pass_k=pass_at_k(grouped["n"].to_numpy(), grouped["c"].to_numpy(), GDRO_K))


def mean_at_8(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """mean@8: the share of correct samples, averaged over prompts (each prompt has 8 samples)."""
    per = _per_prompt(tables)
    return float((per["c"] / per["n"]).mean())


def pass_at_8(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """pass@8 (unbiased estimator), averaged over the held-out prompts."""
    return float(_per_prompt(tables)["pass_k"].mean())


def worst_tier_pass_at_8(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """The lowest per-tier pass@8 (worst-group robustness, the GDRO objective's target)."""
    return float(_per_prompt(tables).groupby("tier")["pass_k"].mean().min())


def _tier_pass_at_8(tier: int) -> Callable[[dict[str, pd.DataFrame], pd.DataFrame], float]:
    def metric(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
        per = _per_prompt(tables)
        if tier not in set(per["tier"]):
            raise ValueError(f"no held-out prompts of tier {tier}")
        return float(per.loc[per["tier"] == tier, "pass_k"].mean())

    metric.__doc__ = f"pass@8 over the held-out prompts of difficulty tier {tier}."
    return metric


GDRO_TIERS = 6
"""Per-tier pass@8 metrics are registered for tiers 0 … 5 (the gdro_rlvr task's six tiers)."""


def _reallocation_tv(curve: pd.DataFrame, per_bin: str) -> float:
    """Mean over RL steps of the total-variation distance between the bins' shares of the step's training signal
    and their shares of its prompts: ½ Σ_b |s_b·v_b / Σ_c s_c·v_c − s_b|, with s_b the bin's prompt share
    (``share_bin{b}``) and v_b what each of its prompts received (``{per_bin}_bin{b}``: advantage multiplier or
    rollouts). 0 when every prompt receives the same (GRPO's uniform treatment); the share of the signal the
    adversary moved across bins otherwise. Warm-start rows (no RL, ``reward`` null) are not steps; a run without
    RL steps moved nothing: 0."""
    from repro.schemas import GDRO_MAX_BINS

    steps = curve[curve["reward"].notna()]
    if steps.empty:
        return 0.0
    share = np.nan_to_num(steps[[f"share_bin{b}" for b in range(GDRO_MAX_BINS)]].to_numpy(dtype=float))
    value = steps[[f"{per_bin}_bin{b}" for b in range(GDRO_MAX_BINS)]].to_numpy(dtype=float)
    mass = np.where(share > 0, share * value, 0.0)
    signal = mass / mass.sum(axis=1, keepdims=True)
    return float((0.5 * np.abs(signal - share).sum(axis=1)).mean())


def advantage_weight_tv_from_uniform(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (Prompt-GDRO, §3.2): how far the bin weights applied to the advantages (Eq. 16) moved
    the learning signal away from GRPO's equal weight per prompt, as a total-variation distance in [0, 1), mean over
    RL steps (see ``_reallocation_tv``). Engaged: clearly above 0; exactly 0 for GRPO and Rollout-GDRO (every
    multiplier 1) and for a step whose prompts share one bin."""
    return _reallocation_tv(curve, "weight")


def rollout_budget_tv_from_uniform(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (Rollout-GDRO, §3.3): how far the rollout allocation moved the step's rollout budget
    away from n̄ per prompt, as a total-variation distance in [0, 1), mean over RL steps (see ``_reallocation_tv``).
    Engaged: clearly above 0; exactly 0 for GRPO and Prompt-GDRO (n̄ rollouts for every prompt)."""
    return _reallocation_tv(curve, "rollouts")


# Resolutions: ci evaluates 6 tiers × 64 held-out prompts (gdro_rlvr ``eval_per_tier``); a prompt is the
# evaluation item (its 8 samples are not independent), so 1/384 overall and 1/64 per tier. The diagnostics are
# total-variation distances on [0, 1]: 1% of the range.
METRICS.update(
    {
        "mean_at_8": Metric(
            mean_at_8, True, "mean@8: share of correct samples (8 per prompt)", resolution=1 / (6 * 64)
        ),
        "pass_at_8": Metric(
            pass_at_8, True, "pass@8 (unbiased estimator) over held-out prompts", resolution=1 / (6 * 64)
        ),
        "worst_tier_pass_at_8": Metric(worst_tier_pass_at_8, True, "lowest per-tier pass@8", resolution=1 / 64),
        **{
            f"pass_at_8_tier{t}": Metric(_tier_pass_at_8(t), True, f"pass@8 on difficulty tier {t}", resolution=1 / 64)
            for t in range(GDRO_TIERS)
        },
        "advantage_weight_tv_from_uniform": Metric(
            advantage_weight_tv_from_uniform,
            True,
            "TV distance of Prompt-GDRO's advantage weighting from equal weights per prompt (mechanism diagnostic)",
            resolution=0.01,
        ),
        "rollout_budget_tv_from_uniform": Metric(
            rollout_budget_tv_from_uniform,
            True,
            "TV distance of Rollout-GDRO's rollout allocation from n̄ per prompt (mechanism diagnostic)",
            resolution=0.01,
        ),
    }
)


def distinct_output_profiles(
    df: pd.DataFrame, input_columns: tuple[str, ...], output_columns: tuple[str, ...]
) -> tuple[int, int]:
    """(number of distinct inputs, number of distinct output profiles across inputs).

    An input's output profile is the sequence of its rows' output values (in table order); a model
    whose outputs ignore the input produces one profile for every input.
    """
    cols, outs = list(input_columns), list(output_columns)
    frame = df[cols + outs].copy()
    frame[outs] = frame[outs].astype(float).round(12)
    frame = frame.sort_values(cols, kind="stable")
    frame["_position"] = frame.groupby(cols, sort=False).cumcount()
    wide = frame.pivot(index=cols, columns="_position", values=outs)
    return len(wide), len(wide.drop_duplicates())


class MetricsError(RuntimeError):
    """The run's artifacts cannot be scored (failed run, missing or tampered table, schema failure)."""


def compute_run_metrics(run_json: Path) -> tuple[pd.DataFrame, dict]:
    """Score one run from its files. Returns (RunMetrics table, diagnostics).

    Re-validates every table against the family's schema and checks each file's sha256 against
    the hash the harness recorded, so metrics are only ever computed from what the run wrote.
    """
    from repro import registry
    from repro.files import read_json, sha256_file, sha256_json
    from repro.schemas import ProfileRows, RunMetrics, validate

    run_json = Path(run_json)
    record = read_json(run_json)
    if record["status"] != "completed":
        raise MetricsError(
            f"run status is {record['status']!r}; see its log (error: {str(record.get('error'))[-300:]})"
        )
    family = registry.get_experiment(record["experiment"])
    artifacts = record["artifacts"]
    tables: dict[str, pd.DataFrame] = {}
    hashes = {}
    diagnostics: dict[str, float] = {}
    for name, spec in family.PREDICTIONS.items():
        entry = artifacts["tables"].get(name)
        if entry is None:
            raise MetricsError(f"prediction table {name!r} is missing from run.json")
        path = run_json.parent / entry["file"]
        if not path.is_file():
            raise MetricsError(f"prediction table file {path} is missing")
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise MetricsError(f"{path.name} changed after the run wrote it (sha256 mismatch)")
        tables[name] = validate(spec.schema, pd.read_parquet(path), name)
        hashes[name] = digest
        n_inputs, n_profiles = distinct_output_profiles(tables[name], spec.input_columns, spec.output_columns)
        diagnostics[f"{name}.inputs"] = n_inputs
        diagnostics[f"{name}.distinct_output_profiles"] = n_profiles
    curve_path = run_json.parent / artifacts["curve"]["file"]
    if sha256_file(curve_path) != artifacts["curve"]["sha256"]:
        raise MetricsError("curve.parquet changed after the run wrote it (sha256 mismatch)")
    curve = validate(family.CURVE, pd.read_parquet(curve_path), "curve")
    source = sha256_json(hashes)
    rows = []
    for name in family.METRICS:
        value = METRICS[name].fn(tables, curve)
        if not np.isfinite(value):
            raise MetricsError(f"metric {name} is not finite ({value})")
        rows.append({"metric": name, "value": float(value), "source_sha256": source})
    table = validate(RunMetrics, pd.DataFrame(rows, columns=["metric", "value", "source_sha256"]), "metrics")
    profiles = {}
    for name in getattr(family, "PROFILES", ()):  # optional member of the family protocol
        frame = validate(ProfileRows, PROFILES[name].fn(tables, curve), f"profile {name}")
        profiles[name] = {column: frame[column].tolist() for column in ("panel", "x", "y")}
    return table, {
        "source_sha256": source,
        "prediction_sha256": hashes,
        "input_dependence": diagnostics,
        "profiles": profiles,
    }


# ------------------------------------------------------------------ retrieval under perturbations (dro_clip)

RSUM_KS = (1, 5, 10)
"""Recall cut-offs summed into RSUM (the retrieval literature's R@1 + R@5 + R@10, per direction)."""


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose match is ranked within the top k (ranks start at 1)."""
    return float((np.asarray(ranks) <= k).mean())


def _retrieval(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return tables["ranks"]


def _recall_by(frame: pd.DataFrame, keys: list[str], k: int) -> pd.Series:
    """R@k per ``keys`` group, averaged over queries and both directions (equal query counts per direction)."""
    return (frame["rank"] <= k).groupby([frame[key] for key in keys]).mean()


def _perturbed(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    ranks = _retrieval(tables)
    return ranks[ranks["perturbation"] != "clean"]


def _clean(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    ranks = _retrieval(tables)
    return ranks[ranks["perturbation"] == "clean"]


def clean_r1(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """R@1 on clean data, mean of image→text and text→image."""
    return recall_at_k(_clean(tables)["rank"].to_numpy(), 1)


def clean_r5(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """R@5 on clean data, mean of image→text and text→image."""
    return recall_at_k(_clean(tables)["rank"].to_numpy(), 5)


def _r1_per_perturbation(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """R@1 per perturbation, averaged over its five severities and both directions."""
    return _recall_by(_perturbed(tables), ["perturbation"], 1)


def worst_corruption_r1(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """The lowest per-perturbation R@1 (each averaged over severities 1–5 and both directions)."""
    return float(_r1_per_perturbation(tables).min())


def mean_corruption_r1(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """R@1 averaged over every perturbation, severity and direction."""
    return float(_r1_per_perturbation(tables).mean())


def corruption_r1_spread(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Instability: the standard deviation (ddof 0) of per-perturbation R@1 across perturbations."""
    return float(_r1_per_perturbation(tables).std(ddof=0))


def mmi_relative_drop(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """MMI-style relative drop (Qiu et al.'s MultiModal Impact score is a relative performance drop): the mean
    over perturbations × severities of (RSUM_clean − RSUM)/RSUM_clean, RSUM = Σ over both directions of
    R@1 + R@5 + R@10. 0 when clean RSUM is 0 (nothing to lose)."""

    def rsum(frame: pd.DataFrame, keys: list[str]) -> pd.Series | float:
        parts = [
            (frame["rank"] <= k).groupby([frame[key] for key in keys]).mean() if keys else (frame["rank"] <= k).mean()
            for k in RSUM_KS
        ]
        return 2 * sum(parts)  # mean over both directions, times two directions

    clean = rsum(_clean(tables), [])
    if clean == 0:
        return 0.0
    return float(((clean - rsum(_perturbed(tables), ["perturbation", "severity"])) / clean).mean())


def worst_group_r1(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Clean R@1 of the worst group (scene colour), both directions."""
    return float(_recall_by(_clean(tables), ["group"], 1).min())


def r1_by_perturbation(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> pd.DataFrame:
    """Profile: per perturbation (panel), R@1 (y, both directions) at each severity (x; 0 is clean data)."""
    clean = recall_at_k(_clean(tables)["rank"].to_numpy(), 1)
    by = _recall_by(_perturbed(tables), ["perturbation", "severity"], 1).rename("y").reset_index()
    start = pd.DataFrame({"perturbation": by["perturbation"].unique(), "severity": 0, "y": clean})
    out = pd.concat([start, by], ignore_index=True).rename(columns={"perturbation": "panel", "severity": "x"})
    return out.sort_values(["panel", "x"], kind="stable").reset_index(drop=True)


def dro_weight_max_ratio(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (group DRO): the largest group weight q_g reached during training, relative to its
    uniform start 1/G: max over logged steps of G·max_g q_g, in [1, G]. Engaged: clearly above 1 (the adversary
    moved weight onto some group); ERM never updates q: exactly 1."""
    return float((curve["q_max"] * curve["groups"]).max())


# Resolutions: ci evaluates 6 colours × 32 scenes (dro_clip ``eval_per_group``), each queried in both directions;
# the scene is the evaluation item: 1/192 for recall over all scenes (at every perturbation and severity), 1/32
# for the worst colour group. The MMI-style drop is a ratio on [0, 1] (1% of it); the diagnostic lies on [1, G],
# G ≤ 7: about 1% of that range.
METRICS.update(
    {
        "clean_r1": Metric(clean_r1, True, "R@1 on clean data (image→text and text→image)", resolution=1 / 192),
        "clean_r5": Metric(clean_r5, True, "R@5 on clean data (image→text and text→image)", resolution=1 / 192),
        "worst_corruption_r1": Metric(
            worst_corruption_r1,
            True,
            "lowest per-perturbation R@1 (mean over severities 1–5 and directions)",
            resolution=1 / 192,
        ),
        "mean_corruption_r1": Metric(
            mean_corruption_r1, True, "R@1 averaged over perturbations and severities", resolution=1 / 192
        ),
        "mmi_relative_drop": Metric(
            mmi_relative_drop, False, "mean relative RSUM drop under perturbation (MMI-style)", resolution=0.01
        ),
        "corruption_r1_spread": Metric(
            corruption_r1_spread, False, "sd of per-perturbation R@1 (instability)", resolution=1 / 192
        ),
        "worst_group_r1": Metric(worst_group_r1, True, "clean R@1 of the worst scene-colour group", resolution=1 / 32),
        "dro_weight_max_ratio": Metric(
            dro_weight_max_ratio,
            True,
            "largest group-DRO weight over training, relative to uniform 1/G (mechanism diagnostic)",
            resolution=0.05,
        ),
    }
)


@dataclass(frozen=True)
class Profile:
    """A per-run curve family for review plots: ``fn(tables, curve)`` returns rows (panel, x, y)."""

    fn: Callable[[dict[str, pd.DataFrame], pd.DataFrame], pd.DataFrame]
    x_label: str
    y_label: str


PROFILES: dict[str, Profile] = {
    "r1_by_perturbation": Profile(r1_by_perturbation, "severity (0 = clean)", "R@1"),
}
"""Optional per-family review curves (a family lists the ones it supports in its ``PROFILES``). They are
computed with the metrics, stored in metrics.json, averaged per arm by the verdict and drawn on its plot."""


# ------------------------------------------------------------------ CARE (care_rlvr, care_warm_start, care_vlm)

PATH_BLOCKS = 8
"""Consecutive blocks of RL steps whose mean training reward the path-efficiency (smoothness) metric reads."""


def _benchmark_accuracy(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Accuracy in percent per benchmark: the mean of ``correct`` over the benchmark's items and samples."""
    answers = tables["answers"]
    return answers.groupby("benchmark")["correct"].mean() * 100.0


def macro_accuracy(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Macro-averaged accuracy (percent): the unweighted mean of the per-benchmark accuracies (CARE's headline)."""
    return float(_benchmark_accuracy(tables).mean())


def benchmark_accuracy(benchmark: str) -> Callable[[dict[str, pd.DataFrame], pd.DataFrame], float]:
    """The accuracy (percent) on one benchmark; NaN (a metrics error) when the run has no such benchmark."""

    def fn(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
        return float(_benchmark_accuracy(tables).get(benchmark, float("nan")))

    fn.__doc__ = f"Accuracy (percent) on benchmark {benchmark!r}."
    return fn


def training_reward_auc(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Training efficiency: the mean over RL steps of the rollouts' verifier reward as sampled (percent), i.e.
    the area under the training-accuracy curve. Each step's prompts are fresh draws, so each point estimates
    the policy's accuracy at that step; a policy that learns sooner has a larger area."""
    return float(curve["reward_mean"].mean() * 100.0)


def training_reward_path_efficiency(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Training smoothness: the path efficiency of the training-reward curve, in [−1, 1].

    The steps are cut into PATH_BLOCKS consecutive blocks with mean rewards m_1..m_B; the metric is
    (m_B − m_1) / Σ_b |m_{b+1} − m_b|: 1 for a monotone rise, near 0 for oscillation without progress, −1 for a
    monotone fall (Kaufman's efficiency ratio). A curve that never moves makes no progress: 0.
    """
    rewards = curve["reward_mean"].to_numpy(dtype=float)
    blocks = np.array([b.mean() for b in np.array_split(rewards, min(PATH_BLOCKS, rewards.size))])
    travelled = float(np.abs(np.diff(blocks)).sum())
    return 0.0 if travelled == 0.0 else float((blocks[-1] - blocks[0]) / travelled)


def training_reward_trend(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Training smoothness as steady progress: Spearman's ρ between RL step and the step's training reward, in
    [−1, 1] — 1 when every step is at least as good as the one before, near 0 for a curve that oscillates without
    progress (for a stationary curve ρ has sd ≈ 1/√(steps − 1), a sixth of the 8-block path efficiency's on
    64 steps). A curve that never moves: 0."""
    rewards = curve["reward_mean"].to_numpy(dtype=float)
    ranks = pd.Series(rewards).rank().to_numpy()  # average ranks for ties, as Spearman's ρ defines them
    if rewards.size < 2 or np.ptp(ranks) == 0.0:
        return 0.0
    steps = np.arange(rewards.size, dtype=float)
    return float(np.corrcoef(steps, ranks)[0, 1])


def failure_signal_share(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of the learning signal that comes from failures: Σ|A| on rollouts the verifier failed as sampled
    (hard negatives, rescue pseudo-anchors) plus on RGR repairs of failures, over Σ|A| of all trained
    responses, pooled over steps. A run with no learning signal at all takes none from failures: 0."""
    total = float(curve["advantage_mass"].sum())
    from_failures = float(curve["advantage_mass_failed"].sum() + curve["advantage_mass_repaired"].sum())
    return 0.0 if total == 0.0 else from_failures / total


def zero_signal_group_fraction(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Share of prompt groups, over all RL steps, whose responses all have advantage 0 (no gradient)."""
    return float(curve["zero_signal_groups"].sum() / curve["groups"].sum())


def rgr_repair_success_rate(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Verified repairs per RGR attempt over training (0 when the run attempts no repair)."""
    attempts = float(curve["rgr_attempts"].sum())
    return 0.0 if attempts == 0.0 else float(curve["rgr_repairs"].sum()) / attempts


def rgr_extra_decode_fraction(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Extra decodes during training (RGR re-decodes) per sampled policy rollout."""
    return float(curve["extra_decodes"].sum() / curve["policy_decodes"].sum())


def train_seconds_per_step(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Median wall time of an RL step in seconds (machine- and load-dependent; compare runs of one session)."""
    return float(curve["step_seconds"].median())


def anchored_group_fraction(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (CARE's anchor): the share of prompt groups, over all RL steps, whose advantages came
    from an anchored subgroup (a positive anchor and at least one hard negative). Engaged: clearly above 0; GRPO
    and the untrained control anchor nothing: 0."""
    return float(curve["anchored_groups"].sum() / curve["groups"].sum())


def rescue_rate(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (CARE's all-negative rescue): rescued groups per all-negative group over training.
    Engaged: near 1 (CARE rescues every all-negative group of ≥ 2 rollouts); GRPO rescues none: 0. A run that
    never met an all-negative group had nothing to rescue: 0."""
    all_negative = float(curve["all_negative_groups"].sum())
    return 0.0 if all_negative == 0.0 else float(curve["rescued_groups"].sum()) / all_negative


def rgr_repaired_group_fraction(tables: dict[str, pd.DataFrame], curve: pd.DataFrame) -> float:
    """Mechanism diagnostic (RGR): the share of prompt groups, over all RL steps, in which a verified repair
    replaced a failure. Engaged: clearly above 0; runs without RGR: 0."""
    return float(curve["rgr_repairs"].sum() / curve["groups"].sum())


# Resolutions: ci tests 100 items per benchmark (care_rlvr ``test_items_per_benchmark``; the item, not each of its
# 3 sampled answers, is the unit): 100/100 = 1 point per benchmark, 100/600 of a point for the macro mean over six.
# MathVista testmini has 1,000 items, MMMU-Pro standard 1,730 (full scale only). Training-curve metrics: ci trains
# 64 steps × 16 prompt groups = 1,024 groups; bounded ratios get 1% of their range.
CARE_TEST_ITEMS = 100
CARE_TRAINING_GROUPS = 64 * 16

METRICS.update(
    {
        "macro_accuracy": Metric(
            macro_accuracy,
            True,
            "macro-averaged accuracy over the benchmarks, percent",
            resolution=100 / (6 * CARE_TEST_ITEMS),
        ),
        **{
            f"accuracy_{b}": Metric(
                benchmark_accuracy(b),
                True,
                f"accuracy on the synthetic {b!r} benchmark, percent",
                resolution=100 / CARE_TEST_ITEMS,
            )
            for b in ("count", "filter", "compare", "arith", "twostep", "distractor")
        },
        "mathvista_accuracy": Metric(
            benchmark_accuracy("mathvista"), True, "MathVista accuracy, percent", resolution=100 / 1000
        ),
        "mmmu_pro_standard_accuracy": Metric(
            benchmark_accuracy("mmmu_pro_standard"),
            True,
            "MMMU-Pro (standard) accuracy, percent",
            resolution=100 / 1730,
        ),
        "training_reward_auc": Metric(
            training_reward_auc,
            True,
            "mean training reward over RL steps (area under the curve), percent",
            resolution=100 / CARE_TRAINING_GROUPS,  # one prompt group's worth of the training draws
        ),
        "training_reward_path_efficiency": Metric(
            training_reward_path_efficiency,
            True,
            f"path efficiency of the training-reward curve ({PATH_BLOCKS} blocks)",
            resolution=0.02,  # 1% of [−1, 1]
        ),
        "training_reward_trend": Metric(
            training_reward_trend,
            True,
            "Spearman rank correlation of training reward with RL step (steady progress)",
            resolution=0.02,  # 1% of [−1, 1]
        ),
        "failure_signal_share": Metric(
            failure_signal_share, True, "share of advantage mass from failed rollouts", resolution=0.01
        ),
        "zero_signal_group_fraction": Metric(
            zero_signal_group_fraction,
            False,
            "share of prompt groups with no learning signal",
            resolution=1 / CARE_TRAINING_GROUPS,
        ),
        "rgr_repair_success_rate": Metric(
            rgr_repair_success_rate, True, "verified RGR repairs per attempt", resolution=0.01
        ),
        "rgr_extra_decode_fraction": Metric(
            rgr_extra_decode_fraction,
            False,
            "extra training decodes per policy rollout",
            resolution=0.01 / 8,  # at most one re-decode per group of G = 8: 1% of [0, 1/8]
        ),
        "train_seconds_per_step": Metric(
            train_seconds_per_step,
            False,
            "median RL step wall time, seconds",
            resolution=0.005,  # about 1% of a ci step (0.2–0.5 s on two CPU cores)
        ),
        "anchored_group_fraction": Metric(
            anchored_group_fraction,
            True,
            "share of prompt groups with an anchored CARE subgroup (mechanism diagnostic)",
            resolution=1 / CARE_TRAINING_GROUPS,
        ),
        "rescue_rate": Metric(
            rescue_rate, True, "rescued groups per all-negative group (mechanism diagnostic)", resolution=0.01
        ),
        "rgr_repaired_group_fraction": Metric(
            rgr_repaired_group_fraction,
            True,
            "share of prompt groups with a failure replaced by a verified RGR repair (mechanism diagnostic)",
            resolution=1 / CARE_TRAINING_GROUPS,
        ),
    }
)
