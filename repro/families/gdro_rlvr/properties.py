"""GDRO (arXiv 2601.19280v1): the two theory results and the two compute-neutrality statements as property checks.

- Lemma 4.1: max_{q∈Δ} Σ q_b L_b + H(q)/η = (1/η) log Σ e^{η L_b}, attained at softmax(ηL), within
  [max L, max L + log B/η] — against a generic constrained optimiser (SLSQP on the simplex).
- Theorem 4.2: the minimiser of Σ q̄ v/n s.t. Σ q̄ n = n̄ is n*_b = n̄ √v_b / Σ q̄ √v — against SLSQP, with the
  shadow-price form √(v_b/μ) of Eq. 31.
- §5 "Prompt-GDRO keeps the rollout budget fixed and changes training pressure through bin-wise reweighting":
  read from real runs' training logs (every prompt gets n̄ rollouts; multipliers constant within a bin and not
  all equal).
- §5 "Rollout-GDRO keeps the mean rollout budget fixed and redistributes rollouts across bins": read from real
  runs (mean rollouts per prompt = n̄ at every step; counts constant within a bin; different across bins).

Controls are instances that must violate the identity: the wrong closed forms (the Lemma's upper bound taken as
its value, the uniform distribution as maximiser; the linear law n ∝ v and the uniform n̄ for Theorem 4.2), a
one-rollout or one-weight perturbation of a real step, and GRPO runs, which neither reweight nor redistribute.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from repro.properties import PropertyCheck, rows


class LemmaParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bins: int = Field(10, ge=2)
    """B, groups (the paper's 10 bins)."""
    loss_scale: float = Field(1.0, gt=0)
    """Standard deviation of the random group losses L_b."""
    eta_low: float = Field(0.1, gt=0)
    eta_high: float = Field(10.0, gt=0)
    """η drawn log-uniformly from [eta_low, eta_high] (the paper's η_q = 0.65 is inside)."""


def _entropic_maximum(losses: np.ndarray, eta: float, start: np.ndarray) -> float:
    """max over the simplex of Σ q L + H(q)/η by SLSQP (equality Σ q = 1, bounds 0 ≤ q ≤ 1)."""
    from scipy.optimize import minimize

    from repro.methods.difficulty_gdro import entropic_objective

    def neg(q: np.ndarray) -> float:
        return -entropic_objective(np.clip(q, 0.0, 1.0), losses, eta)

    def grad(q: np.ndarray) -> np.ndarray:
        q = np.clip(q, 1e-300, 1.0)
        return -(losses - (np.log(q) + 1.0) / eta)

    result = minimize(
        neg,
        start,
        jac=grad,
        method="SLSQP",
        bounds=[(1e-12, 1.0)] * len(losses),
        constraints=[{"type": "eq", "fun": lambda q: q.sum() - 1.0, "jac": lambda q: np.ones_like(q)}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return -float(result.fun)


def measure_entropic_surrogate(
    params: LemmaParams, instances: int, rng: np.random.Generator, runs: list
) -> pd.DataFrame:
    from repro.methods.difficulty_gdro import entropic_objective, entropic_value, softmax_response

    lhs, rhs, c_lhs, c_rhs = [], [], [], []
    for _ in range(instances):
        losses = rng.normal(0.0, params.loss_scale, params.bins)
        eta = float(np.exp(rng.uniform(np.log(params.eta_low), np.log(params.eta_high))))
        value = entropic_value(losses, eta)
        numeric = _entropic_maximum(losses, eta, rng.dirichlet(np.ones(params.bins)))
        top = float(losses.max())
        lhs += [numeric, entropic_objective(softmax_response(losses, eta), losses, eta)]  # Eq. 23; Eq. 24 attains it
        rhs += [value, value]
        lhs += [max(0.0, top - value), max(0.0, value - top - np.log(params.bins) / eta)]  # Eq. 25 (violations)
        rhs += [0.0, 0.0]
        uniform = np.full(params.bins, 1.0 / params.bins)
        c_lhs += [numeric, entropic_objective(uniform, losses, eta)]
        c_rhs += [top + np.log(params.bins) / eta, value]
    return pd.concat(
        [rows(np.array(lhs), np.array(rhs), False), rows(np.array(c_lhs), np.array(c_rhs), True, start=len(lhs))],
        ignore_index=True,
    )


class SqrtLawParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_bins: int = Field(10, ge=2)
    """Active bins per instance drawn from 2 … max_bins."""
    v_low: float = Field(0.01, gt=0)
    v_high: float = Field(10.0, gt=0)
    """Intrinsic variances v_b drawn log-uniformly from [v_low, v_high]."""
    budget_low: float = Field(2.0, gt=0)
    budget_high: float = Field(12.0, gt=0)
    """Mean budget n̄ drawn uniformly (the paper's arms span 2 … 12)."""


def _variance_optimum(q: np.ndarray, v: np.ndarray, budget: float) -> np.ndarray:
    """argmin Σ q v / n s.t. Σ q n = n̄, n > 0, by SLSQP from the uniform allocation."""
    from scipy.optimize import minimize

    result = minimize(
        lambda n: float(np.sum(q * v / n)),
        np.full(len(q), budget),
        jac=lambda n: -q * v / n**2,
        method="SLSQP",
        bounds=[(1e-6, None)] * len(q),
        constraints=[{"type": "eq", "fun": lambda n: q @ n - budget, "jac": lambda n: q}],
        options={"ftol": 1e-16, "maxiter": 1000},
    )
    return result.x


def measure_sqrt_law(params: SqrtLawParams, instances: int, rng: np.random.Generator, runs: list) -> pd.DataFrame:
    from repro.methods.difficulty_gdro import shadow_price_response, sqrt_allocation

    lhs, rhs, c_lhs, c_rhs = [], [], [], []
    for _ in range(instances):
        bins = int(rng.integers(2, params.max_bins + 1))
        q = rng.dirichlet(np.ones(bins))
        v = np.exp(rng.uniform(np.log(params.v_low), np.log(params.v_high), bins))
        v[:2] = params.v_low, params.v_high  # heterogeneous variances: the wrong laws must differ
        budget = float(rng.uniform(params.budget_low, params.budget_high))
        closed = sqrt_allocation(q, v, budget)  # Eq. 30
        numeric = _variance_optimum(q, v, budget)
        mu = float((q @ np.sqrt(v)) / budget) ** 2  # the multiplier that meets the budget
        lhs += [*numeric, *shadow_price_response(v, mu), float(q @ closed)]
        rhs += [*closed, *closed, budget]
        linear = budget * v / float(q @ v)  # n ∝ v: a plausible wrong law
        c_lhs += [float(np.abs(numeric - linear).max()), float(np.abs(numeric - budget).max())]
        c_rhs += [0.0, 0.0]
    return pd.concat(
        [rows(np.array(lhs), np.array(rhs), False), rows(np.array(c_lhs), np.array(c_rhs), True, start=len(lhs))],
        ignore_index=True,
    )


# ------------------------------------------------------------------ compute neutrality, read from real runs


class BudgetParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _training_log(run_dir: Path) -> tuple[dict, pd.DataFrame]:
    """(resolved params, train_prompts table) of a completed gdro_rlvr run, after checking the table's hash."""
    from repro.families.gdro_rlvr.schemas import GdroTrainPrompts
    from repro.files import read_json, sha256_file
    from repro.tables import validate

    record = read_json(Path(run_dir) / "run.json")
    if record["status"] != "completed":
        raise RuntimeError(f"{run_dir}: run did not complete")
    entry = record["artifacts"]["tables"]["train_prompts"]
    path = Path(run_dir) / entry["file"]
    if sha256_file(path) != entry["sha256"]:
        raise RuntimeError(f"{path} changed after its run wrote it (sha256 mismatch)")
    return record["params"], validate(GdroTrainPrompts, pd.read_parquet(path), "train_prompts")


def _within_bin_spread(log: pd.DataFrame, column: str) -> pd.Series:
    """Per step: the largest (max − min) of ``column`` among prompts sharing a bin."""
    spread = log.groupby(["step", "bin"])[column].agg(lambda s: s.max() - s.min())
    return spread.groupby("step").max()


def _across_bin_spread(log: pd.DataFrame, column: str) -> pd.Series:
    """Per step: max − min over bins of the bins' (first) ``column`` value."""
    per_bin = log.groupby(["step", "bin"])[column].first()
    return per_bin.groupby("step").agg(lambda s: s.max() - s.min())


def _perturbed(log: pd.DataFrame, column: str, factor: float, offset: float) -> pd.DataFrame:
    """The first step of ``log`` with one prompt's ``column`` changed — in a bin shared with another prompt."""
    first = log[log["step"] == log["step"].min()].copy()
    counts = first["bin"].map(first["bin"].value_counts())
    target = first.index[counts >= 2][0] if (counts >= 2).any() else first.index[0]
    first.loc[target, column] = first.loc[target, column] * factor + offset
    return first


def _measure_budget(method: str, runs: list, instances: int) -> pd.DataFrame:
    main_l, main_r, ctrl_l, ctrl_r = [], [], [], []
    treated = 0
    for run_dir in runs:
        params, log = _training_log(run_dir)
        if params["method"] == "grpo":  # control: GRPO neither reweights nor redistributes
            acted_on = "weight" if method == "prompt_gdro" else "rollouts"
            ctrl_l.append(float((_across_bin_spread(log, acted_on) > 0).any()))
            ctrl_r.append(1.0)
            continue
        if params["method"] != method:
            raise ValueError(f"{run_dir}: a {params['method']} run; this check reads {method} (and grpo controls)")
        treated += 1
        n_bar = float(params["mean_rollouts"])
        log = log[log["step"] < instances]
        steps = log.groupby("step")
        if method == "prompt_gdro":
            deviation = (log["rollouts"] - n_bar).abs().groupby(log["step"]).max()  # every prompt gets n̄
            main_l += [*deviation, *_within_bin_spread(log, "weight")]  # multipliers constant within a bin
            main_r += [0.0] * (2 * len(deviation))
            main_l.append(float((_across_bin_spread(log, "weight") > 0).any()))  # ... and not all equal
            main_r.append(1.0)
            bumped = _perturbed(log, "rollouts", 1.0, 1.0)
            ctrl_l.append(float(np.abs(bumped["rollouts"] - n_bar).max()))
            ctrl_r.append(0.0)
            reweighted = _perturbed(log, "weight", 1.5, 0.0)
            ctrl_l.append(float(_within_bin_spread(reweighted, "weight").max()))
            ctrl_r.append(0.0)
        else:
            mean = steps["rollouts"].mean()  # the mean budget n̄ holds exactly
            main_l += [*mean, *_within_bin_spread(log, "rollouts")]  # counts constant within a bin
            main_r += [n_bar] * len(mean) + [0.0] * len(mean)
            main_l.append(float((_across_bin_spread(log, "rollouts") > 0).any()))  # ... and redistributed
            main_r.append(1.0)
            bumped = _perturbed(log, "rollouts", 1.0, 1.0)
            ctrl_l += [float(bumped["rollouts"].mean()), float(_within_bin_spread(bumped, "rollouts").max())]
            ctrl_r += [n_bar, 0.0]
    if treated == 0:
        raise ValueError(f"no {method} runs to check")
    return pd.concat(
        [
            rows(np.array(main_l), np.array(main_r), False),
            rows(np.array(ctrl_l), np.array(ctrl_r), True, start=len(main_l)),
        ],
        ignore_index=True,
    )


def measure_prompt_gdro_budget(params: BudgetParams, instances: int, rng, runs: list) -> pd.DataFrame:
    """``instances``: the first this many RL steps of each run are checked."""
    return _measure_budget("prompt_gdro", runs, instances)


def measure_rollout_gdro_budget(params: BudgetParams, instances: int, rng, runs: list) -> pd.DataFrame:
    """``instances``: the first this many RL steps of each run are checked."""
    return _measure_budget("rollout_gdro", runs, instances)


ENTROPIC_SURROGATE = PropertyCheck(
    params=LemmaParams,
    measure=measure_entropic_surrogate,
    equation=(
        "max_{q∈Δ_B} Σ q_b L_b + H(q)/η = (1/η) log Σ_b e^{η L_b}, attained at softmax(ηL), and "
        "max_b L_b ≤ R_η ≤ max_b L_b + log B/η (GDRO Lemma 4.1, Eqs. 22–25)"
    ),
)
SQRT_LAW = PropertyCheck(
    params=SqrtLawParams,
    measure=measure_sqrt_law,
    equation=(
        "argmin_{n>0} Σ q̄_b v_b/n_b s.t. Σ q̄_b n_b = n̄ is n*_b = n̄ √v_b / Σ_j q̄_j √v_j = √(v_b/μ) "
        "(GDRO Theorem 4.2, Eqs. 29–31)"
    ),
)
PROMPT_GDRO_BUDGET = PropertyCheck(
    params=BudgetParams,
    measure=measure_prompt_gdro_budget,
    equation=(
        "Prompt-GDRO runs: n_i = n̄ for every prompt at every step; advantage multipliers constant within a bin "
        "(Eq. 16) and different across bins at some step (GDRO §5, compute neutrality)"
    ),
    needs_runs=True,
)
ROLLOUT_GDRO_BUDGET = PropertyCheck(
    params=BudgetParams,
    measure=measure_rollout_gdro_budget,
    equation=(
        "Rollout-GDRO runs: (1/N) Σ_i n_i = n̄ at every step; n_i constant within a bin and different across bins "
        "at some step (GDRO §3.3 Eq. 19 and §5, compute neutrality)"
    ),
    needs_runs=True,
)
