"""The mallows_bandit family through the harness: its metrics are computed from what it wrote, tampered tables are
refused and failures recorded. tests/test_families.py runs the family contract (it trains, writes valid tables, is
deterministic)."""

import json

import pandas as pd
import pytest

from repro.metrics.scoring import compute_run_metrics
from repro.plan import make_run
from repro.runner import run_arm

TINY = {"contexts": 6, "actions": 4, "train_pairs": 8, "demos": 4, "heldout_pairs": 8, "steps": 40, "betas": [0.5, 5.0]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The DPO arm at seed 0 (tests/test_families.py runs the family contract: weights change, tables validate,
    determinism)."""
    spec = make_run("mallows_bandit", "ci", 0, {"loss": "dpo"}, TINY)
    path = tmp_path_factory.mktemp("dpo0") / "run.json"
    return {("dpo", 0): (spec, path, run_arm(spec, path))}


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
        "neg_log_dispersion_cv",
        "kl_budget_bracketed",
    }
    assert 0 <= values["utility_at_kl_budget"] <= values["max_utility"] <= 1
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
