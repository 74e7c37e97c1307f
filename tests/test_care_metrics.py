"""CARE's metrics on hand-checked toy tables, and its property checks (estimator identities and run properties)."""

import json

import numpy as np
import pandas as pd
import pytest

from repro.families.care_rlvr import metrics as care_metrics
from repro.families.care_rlvr import properties as care_props
from repro.families.care_warm_start import metrics as warm_metrics


def _answers(correct_by_benchmark):
    rows = []
    for benchmark, correct in correct_by_benchmark.items():
        for i, c in enumerate(correct):
            rows.append({"benchmark": benchmark, "item": i // 2, "sample": i % 2, "correct": c})
    return {"answers": pd.DataFrame(rows)}


def _curve(**columns):
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"step": range(n), **columns})


def test_macro_accuracy_is_the_unweighted_mean_of_benchmarks():
    tables = _answers({"count": [True, True, True, False], "compare": [True, False]})
    assert warm_metrics.macro_accuracy(tables, None) == pytest.approx((75.0 + 50.0) / 2)  # not 4/6 pooled
    assert care_metrics.METRICS["accuracy_count"].fn(tables, None) == pytest.approx(75.0)
    assert np.isnan(care_metrics.METRICS["accuracy_twostep"].fn(tables, None))  # absent benchmark: an error downstream


def test_training_reward_auc_and_path_efficiency_by_hand():
    rising = _curve(
        reward_mean=[0.1] * 2 + [0.2] * 2 + [0.3] * 2 + [0.4] * 2 + [0.5] * 2 + [0.6] * 2 + [0.7] * 2 + [0.8] * 2
    )
    assert care_metrics.training_reward_auc({}, rising) == pytest.approx(45.0)
    assert care_metrics.training_reward_path_efficiency({}, rising) == pytest.approx(1.0)
    zigzag = _curve(reward_mean=[0.5, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6])
    # blocks of one step: net +0.1 over a path of 7·0.1
    assert care_metrics.training_reward_path_efficiency({}, zigzag) == pytest.approx(1 / 7)
    assert care_metrics.training_reward_path_efficiency({}, _curve(reward_mean=[0.4] * 16)) == 0.0
    falling = _curve(reward_mean=list(np.linspace(0.9, 0.1, 16)))
    assert care_metrics.training_reward_path_efficiency({}, falling) == pytest.approx(-1.0)


def test_training_reward_trend_is_spearmans_rho():
    from scipy import stats

    trend = care_metrics.training_reward_trend
    assert trend({}, _curve(reward_mean=list(np.linspace(0.1, 0.9, 16)))) == pytest.approx(1.0)
    assert trend({}, _curve(reward_mean=list(np.linspace(0.9, 0.1, 16)))) == pytest.approx(-1.0)
    assert care_metrics.training_reward_trend({}, _curve(reward_mean=[0.4] * 16)) == 0.0
    # a rise with ties and setbacks: equals scipy's Spearman ρ (average ranks for ties)
    noisy = [0.1, 0.3, 0.2, 0.3, 0.5, 0.4, 0.6, 0.6, 0.5, 0.8]
    expected = stats.spearmanr(np.arange(len(noisy)), noisy)[0]
    assert care_metrics.training_reward_trend({}, _curve(reward_mean=noisy)) == pytest.approx(expected)
    # a stationary curve: ρ near 0 with sd about 1/√(n − 1)
    rng = np.random.default_rng(0)
    rhos = [care_metrics.training_reward_trend({}, _curve(reward_mean=list(rng.random(64)))) for _ in range(400)]
    assert abs(np.mean(rhos)) < 0.03 and np.std(rhos) == pytest.approx(1 / np.sqrt(63), rel=0.15)


def test_signal_bookkeeping_metrics_by_hand():
    curve = _curve(
        advantage_mass=[4.0, 6.0],
        advantage_mass_failed=[1.0, 2.0],
        advantage_mass_repaired=[0.0, 1.0],
        zero_signal_groups=[1, 3],
        groups=[8, 8],
        rgr_attempts=[4, 0],
        rgr_repairs=[3, 0],
        extra_decodes=[4, 0],
        policy_decodes=[64, 64],
        step_seconds=[0.1, 0.3],
    )
    assert care_metrics.failure_signal_share({}, curve) == pytest.approx(4.0 / 10.0)
    assert care_metrics.zero_signal_group_fraction({}, curve) == pytest.approx(4 / 16)
    assert care_metrics.rgr_repair_success_rate({}, curve) == pytest.approx(0.75)
    assert care_metrics.rgr_extra_decode_fraction({}, curve) == pytest.approx(4 / 128)
    assert care_metrics.train_seconds_per_step({}, curve) == pytest.approx(0.2)
    silent = curve.assign(advantage_mass=0.0, advantage_mass_failed=0.0, advantage_mass_repaired=0.0, rgr_attempts=0)
    assert care_metrics.failure_signal_share({}, silent) == 0.0
    assert care_metrics.rgr_repair_success_rate({}, silent) == 0.0


@pytest.mark.parametrize(
    ("measure", "tolerance"),
    [(care_props.measure_one_positive, 1e-5), (care_props.measure_delta_invariance, 1e-3)],
)
def test_estimator_properties_hold_and_their_controls_fail(measure, tolerance):
    table = measure(care_props.EstimatorParams(), 400, np.random.default_rng(0), [])
    main, controls = table[~table["control"]], table[table["control"]]
    assert len(main) == 400 and main["abs_err"].max() <= tolerance
    assert main["lhs"].round(9).nunique() > 1
    assert (controls["abs_err"] > tolerance).all()


def _fake_run(folder, params, curve):
    folder.mkdir(parents=True)
    curve.to_parquet(folder / "curve.parquet")
    (folder / "run.json").write_text(json.dumps({"params": params, "artifacts": {"curve": {"file": "curve.parquet"}}}))
    return folder


def test_run_properties_read_curves(tmp_path):
    care_curve = _curve(all_negative_groups=[0, 2, 1], all_negative_signalled=[0, 2, 1], extra_decodes=[3, 0, 5])
    care_curve["policy_decodes"] = 64
    grpo_curve = _curve(all_negative_groups=[1, 3, 0], all_negative_signalled=[0, 0, 0])
    care_run = _fake_run(tmp_path / "care", {"method": "care", "rescue": True, "rgr": True}, care_curve)
    grpo_run = _fake_run(tmp_path / "grpo", {"method": "grpo", "rescue": True, "rgr": False}, grpo_curve)
    rescue = care_props.measure_rescue_signal(care_props.RunsParams(), 100, None, [care_run, grpo_run])
    main, controls = rescue[~rescue["control"]], rescue[rescue["control"]]
    assert main["lhs"].tolist() == [2.0, 1.0] and main["abs_err"].max() == 0.0  # only steps with all-negative groups
    assert controls["abs_err"].tolist() == [1.0, 3.0]
    decodes = care_props.measure_rgr_decodes(care_props.RunsParams(), 100, None, [care_run])
    main = decodes[~decodes["control"]]
    assert main["lhs"].tolist() == pytest.approx([67 / 64, 1.0, 69 / 64])
    assert (decodes[decodes["control"]]["abs_err"] > 0).all()
    with pytest.raises(ValueError, match="never exercised"):
        quiet = _fake_run(
            tmp_path / "quiet",
            {"method": "care", "rescue": True, "rgr": True},
            grpo_curve.assign(all_negative_groups=0),
        )
        care_props.measure_rescue_signal(care_props.RunsParams(), 100, None, [quiet])
