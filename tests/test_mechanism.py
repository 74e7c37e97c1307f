"""Mechanism diagnostics on tiny synthetic curves whose values can be computed by hand: a method whose mechanism
never engaged (uniform weights, n̄ rollouts, constant dispersion) scores the "not engaged" value."""

import math

import numpy as np
import pandas as pd
import pytest

from repro import metrics, registry
from repro.families.care_rlvr import metrics as care_metrics
from repro.families.dro_clip import metrics as dro_clip_metrics
from repro.families.gdro_rlvr import metrics as gdro_rlvr_metrics
from repro.families.gdro_rlvr.schemas import GDRO_MAX_BINS
from repro.families.mallows_bandit import metrics as bandit_metrics
from repro.families.planted import metrics as planted_metrics


@pytest.mark.parametrize("name", sorted(registry.FAMILIES))
def test_every_mechanism_diagnostic_says_what_engaged_means(name):
    family = registry.get_metrics(name).METRICS
    for diagnostic in registry.mechanism_diagnostics(name):
        assert family[diagnostic].fn.__doc__, diagnostic  # says what value means "engaged"


def test_a_metric_needs_a_positive_resolution():
    with pytest.raises(ValueError, match="resolution"):
        metrics.Metric(planted_metrics.accuracy, True, "accuracy", resolution=0.0)


# ------------------------------------------------------------------ gdro_rlvr


def _gdro_curve(steps: list[dict]) -> pd.DataFrame:
    """Curve rows from per-step {"share": [...], "weight": [...], "rollouts": [...]} (bins beyond the list: NaN);
    a step without "share" is a warm-start row (reward null)."""
    rows = []
    for step, given in enumerate(steps):
        row = {"step": step, "reward": 0.0 if "share" in given else math.nan}
        for name in ("share", "weight", "rollouts"):
            values = given.get(name, [])
            row.update({f"{name}_bin{b}": values[b] if b < len(values) else math.nan for b in range(GDRO_MAX_BINS)})
        rows.append(row)
    return pd.DataFrame(rows)


def test_gdro_uniform_treatment_is_zero_divergence():
    grpo = _gdro_curve([{"share": [0.5, 0.25, 0.25], "weight": [1.0, 1.0, 1.0], "rollouts": [4.0, 4.0, 4.0]}] * 3)
    assert gdro_rlvr_metrics.advantage_weight_tv_from_uniform({}, grpo) == 0.0
    assert gdro_rlvr_metrics.rollout_budget_tv_from_uniform({}, grpo) == 0.0
    warm_start_only = _gdro_curve([{}, {}])
    assert gdro_rlvr_metrics.advantage_weight_tv_from_uniform({}, warm_start_only) == 0.0
    assert gdro_rlvr_metrics.rollout_budget_tv_from_uniform({}, warm_start_only) == 0.0


def test_gdro_advantage_weight_divergence_by_hand():
    # step 0: two equal bins weighted 1.5 and 0.5 -> weight mass 0.75 / 0.25 against prompt shares 0.5 / 0.5: TV 0.25;
    # step 1: one bin holds every prompt -> no reweighting is possible: TV 0; an empty bin's NaN weight is ignored.
    curve = _gdro_curve(
        [
            {"share": [0.5, 0.5], "weight": [1.5, 0.5], "rollouts": [4.0, 4.0]},
            {"share": [1.0, 0.0], "weight": [3.0, math.nan], "rollouts": [4.0, math.nan]},
        ]
    )
    assert gdro_rlvr_metrics.advantage_weight_tv_from_uniform({}, curve) == pytest.approx((0.25 + 0.0) / 2)
    assert gdro_rlvr_metrics.rollout_budget_tv_from_uniform({}, curve) == 0.0


def test_gdro_rollout_budget_divergence_by_hand():
    # a quarter of the prompts get 5 rollouts, a quarter 3, half n̄ = 4: rollout shares 5/16, 3/16, 8/16 -> TV 1/16
    curve = _gdro_curve([{}, {"share": [0.25, 0.25, 0.5], "weight": [1.0, 1.0, 1.0], "rollouts": [5.0, 3.0, 4.0]}])
    assert gdro_rlvr_metrics.rollout_budget_tv_from_uniform({}, curve) == pytest.approx(1 / 16)
    assert gdro_rlvr_metrics.advantage_weight_tv_from_uniform({}, curve) == 0.0


# ------------------------------------------------------------------ dro_clip


def test_dro_weight_max_ratio():
    erm = pd.DataFrame({"q_max": [1 / 6] * 3, "groups": [6] * 3})
    assert dro_clip_metrics.dro_weight_max_ratio({}, erm) == pytest.approx(1.0)
    dro = pd.DataFrame({"q_max": [1 / 6, 0.3, 0.25], "groups": [6] * 3})
    assert dro_clip_metrics.dro_weight_max_ratio({}, dro) == pytest.approx(1.8)  # the largest over training


# ------------------------------------------------------------------ care_rlvr


def _care_curve(**columns) -> pd.DataFrame:
    base = {"groups": [16, 16], "anchored_groups": [0, 0], "all_negative_groups": [0, 0]}
    base.update({"rescued_groups": [0, 0], "rgr_repairs": [0, 0]})
    return pd.DataFrame({**base, **columns})


def test_care_diagnostics_are_zero_without_care():
    grpo = _care_curve(all_negative_groups=[3, 1])
    assert care_metrics.anchored_group_fraction({}, grpo) == 0.0
    assert care_metrics.rescue_rate({}, grpo) == 0.0
    assert care_metrics.rgr_repaired_group_fraction({}, grpo) == 0.0
    assert care_metrics.rescue_rate({}, _care_curve()) == 0.0  # no all-negative group: nothing to rescue


def test_care_diagnostics_by_hand():
    care = _care_curve(anchored_groups=[10, 6], all_negative_groups=[3, 1], rescued_groups=[3, 0], rgr_repairs=[2, 0])
    assert care_metrics.anchored_group_fraction({}, care) == pytest.approx(16 / 32)
    assert care_metrics.rescue_rate({}, care) == pytest.approx(3 / 4)
    assert care_metrics.rgr_repaired_group_fraction({}, care) == pytest.approx(2 / 32)


# ------------------------------------------------------------------ mallows_bandit


def _bandit_policy(c: list[float], policies: dict[float, float]) -> pd.DataFrame:
    """Two actions per context, reference uniform; ``policies``: β -> π(action 0) in every context."""
    rows = []
    for beta, p in policies.items():
        for context, c_x in enumerate(c):
            for action, prob in enumerate((p, 1 - p)):
                rows.append((beta, context, action, prob, 0.5, float(action == 0), 0.5, c_x))
    columns = ["beta", "context", "action", "policy_prob", "reference_prob", "true_utility", "dispersion"]
    return pd.DataFrame(rows, columns=[*columns, "neg_log_dispersion"])


def test_neg_log_dispersion_cv():
    assert bandit_metrics.neg_log_dispersion_cv({"policy": _bandit_policy([1.0, 1.0, 1.0], {1.0: 0.6})}, None) == 0.0
    spread = _bandit_policy([0.5, 1.5], {1.0: 0.6, 2.0: 0.55})
    assert bandit_metrics.neg_log_dispersion_cv({"policy": spread}, None) == pytest.approx(0.5)  # sd 0.5 / mean 1


def test_kl_budget_bracketed():
    def kl(p):
        return p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)

    assert kl(0.6) < bandit_metrics.KL_BUDGET < kl(0.97)
    bracketing = _bandit_policy([1.0], {10.0: 0.6, 1.0: 0.97})
    assert bandit_metrics.kl_budget_bracketed({"policy": bracketing}, None) == 1.0
    all_below = _bandit_policy([1.0], {10.0: 0.55, 1.0: 0.6})
    assert bandit_metrics.kl_budget_bracketed({"policy": all_below}, None) == 0.0


# ------------------------------------------------------------------ planted


def test_training_loss_drop():
    assert planted_metrics.training_loss_drop({}, pd.DataFrame({"loss": [2.0, 1.5, 0.5]})) == pytest.approx(0.75)
    assert planted_metrics.training_loss_drop({}, pd.DataFrame({"loss": np.full(4, 0.69)})) == 0.0  # never trained
