"""The mallows_bandit family through the harness: its metrics are computed from what it wrote, tampered tables are
refused and failures recorded; each β's optimum is reached (it is the Bradley–Terry fit scaled by 1/(c(x)·β), found
independently here), c(x) changes that optimum, and the oracle frontier bounds every arm. tests/test_families.py runs
the family contract (it trains, writes valid tables, is deterministic)."""

import json

import numpy as np
import pandas as pd
import pytest

from repro.metrics.scoring import compute_run_metrics
from repro.plan import make_run
from repro.runner import run_arm

TINY = {"contexts": 6, "actions": 4, "labels_per_pair": 16, "demos": 4, "heldout_pairs": 8, "betas": [0.5, 2.0, 5.0]}
ARMS = {
    "dpo": {"loss": "dpo"},
    "oracle": {"loss": "mallows_theta", "dispersion": "oracle"},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """DPO and MallowsPO-θ (oracle c(x)) at seed 0, on the same data (tests/test_families.py runs the family
    contract: weights change, tables validate, determinism)."""
    out = {}
    for arm, layer in ARMS.items():
        spec = make_run("mallows_bandit", "ci", 0, layer, TINY)
        path = tmp_path_factory.mktemp(arm) / "run.json"
        out[(arm, 0)] = (spec, path, run_arm(spec, path))
    return out


def _log_ratios(path) -> pd.DataFrame:
    """log π_β(a|x)/π_ref(a|x) − its mean over actions, one column per β, rows (context, action); and c(x)."""
    policy = pd.read_parquet(path.parent / "predictions-policy.parquet")
    h = np.log(policy["policy_prob"]) - np.log(policy["reference_prob"])
    policy = policy.assign(h=h - h.groupby([policy["beta"], policy["context"]]).transform("mean"))
    return policy.pivot(index=["context", "action"], columns="beta", values="h"), policy.groupby("context")[
        "neg_log_dispersion"
    ].first()


def _bradley_terry(wins: np.ndarray, iters: int = 20000) -> np.ndarray:
    """Bradley–Terry MLE per context by Hunter's (2004) MM algorithm, an independent solver: (C, K) log-scores with
    mean 0 over actions."""
    n = wins + wins.transpose(0, 2, 1)
    gamma = np.ones(wins.shape[:2])
    for _ in range(iters):
        denom = (n / (gamma[:, :, None] + gamma[:, None, :])).sum(axis=2)
        gamma = wins.sum(axis=2) / denom
        gamma /= np.exp(np.log(gamma).mean(axis=1, keepdims=True))
    return np.log(gamma)


def test_metrics_are_computed_from_predictions(runs):
    path = runs[("dpo", 0)][1]
    table, diagnostics = compute_run_metrics(path)
    values = dict(zip(table["metric"], table["value"], strict=True))
    assert set(values) == {
        "utility_at_kl_budget",
        "expected_utility",
        "kl_to_reference",
        "heldout_preference_accuracy",
        "ranking_accuracy",
        "max_utility",
        "oracle_utility_at_kl_budget",
        "oracle_gap_at_kl_budget",
        "max_final_grad_norm",
        "kl_monotone_in_beta",
        "share_contexts_with_optimum",
        "neg_log_dispersion_cv",
        "kl_budget_bracketed",
    }
    assert 0 <= values["utility_at_kl_budget"] <= values["max_utility"] <= 1
    assert values["utility_at_kl_budget"] <= values["oracle_utility_at_kl_budget"]  # nothing beats the oracle
    assert values["oracle_gap_at_kl_budget"] >= 0
    assert values["neg_log_dispersion_cv"] == 0.0  # DPO: c(x) ≡ 1, MallowsPO's mechanism absent
    assert diagnostics["input_dependence"]["policy.distinct_output_profiles"] > 1


def test_tampered_predictions_are_refused(runs):
    path = runs[("dpo", 0)][1]
    table = path.parent / "predictions-policy.parquet"
    original = table.read_bytes()
    try:
        df = pd.read_parquet(table)
        df.loc[0, "policy_prob"] += 1e-9  # a "better" policy edited in after the run
        df.to_parquet(table, index=False)
        with pytest.raises(Exception, match="sha256 mismatch"):
            compute_run_metrics(path)
    finally:
        table.write_bytes(original)
    compute_run_metrics(path)


def test_failure_is_recorded_not_raised(tmp_path, monkeypatch):
    from repro.families.mallows_bandit import experiment as mallows_bandit

    def boom(params, seed, rec):
        raise ValueError("planted failure")

    monkeypatch.setattr(mallows_bandit, "run", boom)
    spec = make_run("mallows_bandit", "ci", 0, {"loss": "dpo"}, TINY)
    record = run_arm(spec, tmp_path / "run.json")
    assert record["status"] == "failed" and "planted failure" in record["error"]
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "failed"


def test_incoherent_params_are_rejected():
    with pytest.raises(ValueError):
        make_run("mallows_bandit", "ci", 0, {"loss": "dpo", "dispersion": "oracle"})


def test_each_beta_reaches_its_optimum(runs):
    """At every β the run stops at the loss's minimiser: the gradient vanishes, KL falls with β, and β·log π/π_ref
    is the same for every β (π_β ∝ π_ref·exp(ŝ/β), the closed form of a tabular DPO optimum)."""
    path = runs[("dpo", 0)][1]
    values = dict(zip(*compute_run_metrics(path)[0][["metric", "value"]].T.to_numpy(), strict=True))
    assert values["max_final_grad_norm"] <= 1e-9
    assert values["kl_monotone_in_beta"] == 1.0 and values["share_contexts_with_optimum"] == 1.0
    h, _ = _log_ratios(path)
    scaled = h * np.asarray(h.columns)[None, :]
    np.testing.assert_allclose(scaled.to_numpy(), scaled.iloc[:, [0]].to_numpy().repeat(h.shape[1], 1), atol=1e-7)


def test_optimum_is_the_bradley_terry_fit_scaled_by_dispersion(runs):
    """MallowsPO-θ's optimum at β is h = ŝ/(c(x)·β), ŝ the context's Bradley–Terry MLE (found here by MM on the
    same labels), and DPO's is ŝ/β: c(x) moves the optimum per context (an optimiser that cancelled c(x), or a run
    stopped before its optimum, fails this)."""
    from repro.families.mallows_bandit.experiment import Params, _training_labels
    from repro.tasks.mallows import make_preference_bandit

    params = Params(**ARMS["oracle"], **TINY)
    rng = np.random.default_rng(0)
    task = make_preference_bandit(
        params.contexts,
        params.actions,
        params.phi_low,
        params.phi_high,
        params.labels_per_pair,
        params.demos,
        params.heldout_pairs,
        rng,
    )
    scores = _bradley_terry(_training_labels(params, task, rng).wins).ravel()
    h_dpo, _ = _log_ratios(runs[("dpo", 0)][1])
    h_mallows, c = _log_ratios(runs[("oracle", 0)][1])
    assert c.std() / c.mean() > 0.1  # the dispersion varies across contexts
    for beta in h_dpo.columns:
        np.testing.assert_allclose(beta * h_dpo[beta].to_numpy(), scores, atol=1e-6)
        c_rows = c.reindex(h_mallows.index.get_level_values("context")).to_numpy()
        np.testing.assert_allclose(c_rows * beta * h_mallows[beta].to_numpy(), scores, atol=1e-6)
        assert np.abs(h_mallows[beta] - h_dpo[beta]).max() > 1e-2


def test_oracle_frontier_is_reached_by_the_oracle_path():
    """A sweep of policies π ∝ π_ref·exp(u/τ) is the oracle frontier: its gap to it at the budget is ~0, and a
    sweep of worse policies has a positive gap."""
    from repro.families.mallows_bandit import metrics

    rng = np.random.default_rng(1)
    n_c, n_k = 5, 4
    q = rng.dirichlet(np.ones(n_k), n_c)
    u = rng.random((n_c, n_k))
    rows = []
    for tau in np.exp(np.linspace(-4, 4, 400)):
        for utility, label in ((u, "oracle"), (u[:, ::-1], "reversed")):
            p = q * np.exp(utility / tau)
            p /= p.sum(axis=1, keepdims=True)
            rows.append(
                pd.DataFrame(
                    {
                        "label": label,
                        "beta": tau,
                        "context": np.repeat(np.arange(n_c), n_k),
                        "action": np.tile(np.arange(n_k), n_c),
                        "policy_prob": p.ravel(),
                        "reference_prob": q.ravel(),
                        "true_utility": u.ravel(),
                    }
                )
            )
    frame = pd.concat(rows, ignore_index=True)
    oracle = {"policy": frame[frame["label"] == "oracle"].drop(columns="label")}
    reversed_ = {"policy": frame[frame["label"] == "reversed"].drop(columns="label")}
    assert metrics.oracle_gap_at_kl_budget(oracle, None) == pytest.approx(0.0, abs=2e-4)
    assert metrics.oracle_gap_at_kl_budget(reversed_, None) > 0.05
