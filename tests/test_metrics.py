"""Metric functions on toy tables whose values can be computed by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from repro import registry
from repro.families.mallows_bandit import metrics as bandit_metrics
from repro.families.planted import metrics as planted_metrics
from repro.metrics import scoring


def _policy(rows):
    return pd.DataFrame(
        rows, columns=["beta", "context", "action", "policy_prob", "reference_prob", "true_utility", "dispersion"]
    )


def test_utility_at_kl_budget_interpolates_along_the_sweep():
    # one context, two actions with utilities 1 and 0; reference uniform (U_ref = 0.5)
    def point(beta, p):
        return [(beta, 0, 0, p, 0.5, 1.0, 0.5), (beta, 0, 1, 1 - p, 0.5, 0.0, 0.5)]

    def kl(p):
        return p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)

    tables = {"policy": _policy(point(10.0, 0.6) + point(1.0, 0.97) + point(0.1, 0.99))}
    k_small, k_mid = kl(0.6), kl(0.97)
    assert k_small < bandit_metrics.KL_BUDGET < k_mid
    expected = 0.6 + (0.97 - 0.6) * (bandit_metrics.KL_BUDGET - k_small) / (k_mid - k_small)
    assert bandit_metrics.utility_at_kl_budget(tables, None) == pytest.approx(expected)
    assert bandit_metrics.max_utility(tables, None) == pytest.approx(0.99)
    # the single-β metrics read the sweep point whose KL is closest to the budget (β = 1, p = 0.97)
    assert bandit_metrics.expected_utility(tables, None) == pytest.approx(0.97)
    assert bandit_metrics.kl_to_reference(tables, None) == pytest.approx(k_mid)


def test_utility_at_kl_budget_never_exceeds_budget_points():
    rows = [(1.0, 0, 0, 0.5, 0.5, 1.0, 0.5), (1.0, 0, 1, 0.5, 0.5, 0.0, 0.5)]  # policy == reference
    assert bandit_metrics.utility_at_kl_budget({"policy": _policy(rows)}, None) == pytest.approx(0.5)


def test_heldout_preference_accuracy_counts_ties_half():
    policy = _policy([(1.0, 0, a, 0.25, 0.25, 0.0, 0.5) for a in range(4)])
    pairs = pd.DataFrame(
        {
            "beta": [1.0] * 4,
            "context": [0] * 4,
            "action_a": [0, 1, 2, 3],
            "action_b": [1, 2, 3, 0],
            "a_preferred": [True, False, True, True],
            "logprob_margin": [0.3, 0.2, 0.0, -0.1],
        }
    )
    value = bandit_metrics.heldout_preference_accuracy({"policy": policy, "heldout_pairs": pairs}, None)
    assert value == pytest.approx((1 + 0 + 0.5 + 0) / 4)


def test_ranking_accuracy():
    policy = _policy(
        [(1.0, 0, 0, 0.5, 0.3, 1.0, 0.5), (1.0, 0, 1, 0.3, 0.3, 0.5, 0.5), (1.0, 0, 2, 0.2, 0.4, 0.0, 0.5)]
    )
    assert bandit_metrics.ranking_accuracy({"policy": policy}, None) == 1.0
    reversed_policy = policy.assign(policy_prob=[0.2, 0.3, 0.5])
    assert bandit_metrics.ranking_accuracy({"policy": reversed_policy}, None) == 0.0


def test_accuracy_and_log_loss():
    items = pd.DataFrame({"item": [0, 1, 2, 3], "label": [1, 0, 1, 0], "prob": [0.9, 0.2, 0.4, 0.5]})
    assert planted_metrics.accuracy({"items": items}, None) == 0.5  # 0.5 rounds to class 1
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.5)) / 4
    assert planted_metrics.log_loss({"items": items}, None) == pytest.approx(expected)


def test_distinct_output_profiles():
    df = pd.DataFrame({"c": [0, 0, 1, 1, 2, 2], "p": [0.2, 0.8, 0.2, 0.8, 0.8, 0.2]})
    assert scoring.distinct_output_profiles(df, ("c",), ("p",)) == (3, 2)
    assert scoring.distinct_output_profiles(df.assign(p=0.5), ("c",), ("p",)) == (3, 1)


def _profiles_with_pandas(df, input_columns, output_columns):
    """The count as it was first written (a pivot of each input's outputs and drop_duplicates): the reference."""
    cols, outs = list(input_columns), list(output_columns)
    frame = df[cols + outs].copy()
    frame[outs] = frame[outs].astype(float).round(12)
    frame = frame.sort_values(cols, kind="stable")
    frame["_position"] = frame.groupby(cols, sort=False).cumcount()
    wide = frame.pivot(index=cols, columns="_position", values=outs)
    return len(wide), len(wide.drop_duplicates())


def test_distinct_output_profiles_count_as_pandas_does():
    """Profiles of different lengths, order within an input, -0.0 and 0.0, NaN, values equal after rounding to 12
    decimals, several input and output columns, an empty table: the same counts as pandas' pivot and
    drop_duplicates."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        rows = int(rng.integers(0, 40))
        df = pd.DataFrame(
            {
                "a": rng.integers(0, int(rng.integers(1, 8)), rows),
                "b": rng.integers(0, 2, rows),
                "p": rng.choice([0.0, -0.0, 1.0, np.nan, 0.5], rows),
                "q": rng.choice([1e-13, 0.0, 2.0], rows),
            }
        )
        for inputs, outputs in ((("a",), ("p",)), (("a", "b"), ("p", "q")), (("b",), ("q",))):
            expected = _profiles_with_pandas(df, inputs, outputs)
            assert scoring.distinct_output_profiles(df, inputs, outputs) == expected


@pytest.mark.parametrize("family", sorted(registry.FAMILIES))
def test_every_metric_is_registered_with_a_direction(family):
    for name, metric in registry.get_metrics(family).METRICS.items():
        assert isinstance(metric.higher_is_better, bool) and metric.description, name
        assert metric.resolution > 0, name
