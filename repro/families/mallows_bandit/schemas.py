"""The preference bandit's tables: the policy per β, held-out annotator pairs, the training curve."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Curve, PredictionTable, Strict


class BanditPolicy(Strict):
    """Learned policy per (β, context, action), with the task's ground truth and convergence record for scoring."""

    beta: Series[float] = pa.Field(gt=0.0)
    context: Series[int] = pa.Field(ge=0)
    action: Series[int] = pa.Field(ge=0)
    policy_prob: Series[float] = pa.Field(ge=0.0, le=1.0)
    reference_prob: Series[float] = pa.Field(gt=0.0, le=1.0)
    true_utility: Series[float]
    dispersion: Series[float] = pa.Field(gt=0.0, lt=1.0)
    neg_log_dispersion: Series[float] = pa.Field(gt=0.0)
    """c(x), the per-context multiplier of β in the loss the policy was trained with (MallowsPO-θ's dispersion
    estimate, after normalisation; 1 for DPO)."""
    loss_grad: Series[float]
    """∂L_β/∂logit(β, context, action) at the end of training, L_β the mean loss over labels (0 at the optimum)."""
    optimum_exists: Series[bool]
    """Whether the context's win graph is strongly connected, i.e. its loss has a finite minimiser at every β."""

    @pa.dataframe_check
    def probabilities_sum_to_one(cls, df: pd.DataFrame) -> bool:
        sums = df.groupby(["beta", "context"])[["policy_prob", "reference_prob"]].sum()
        return bool(((sums - 1.0).abs() < 1e-4).all().all())


class BanditHeldoutPairs(Strict):
    """Held-out preference pairs (fresh annotators) and each β-policy's log-probability margin on them."""

    beta: Series[float] = pa.Field(gt=0.0)
    context: Series[int] = pa.Field(ge=0)
    action_a: Series[int] = pa.Field(ge=0)
    action_b: Series[int] = pa.Field(ge=0)
    a_preferred: Series[bool]
    logprob_margin: Series[float]
    """log π(a|x) − log π(b|x)."""


class BanditCurve(Curve):
    loss: Series[float]
    train_pair_accuracy: Series[float] = pa.Field(ge=0.0, le=1.0)
    kl_to_reference: Series[float] = pa.Field(ge=0.0)
    """Mean over β and contexts of KL(π‖π_ref) during training (a diagnostic curve; the final values are
    recomputed by its metrics module from the predictions)."""
    grad_norm: Series[float] = pa.Field(ge=0.0)
    """Largest over β of ‖∇_logits L_β‖₂ at this Newton iteration (the solver stops at ``grad_tol``)."""


PREDICTIONS = {
    "policy": PredictionTable(BanditPolicy, ("beta", "context"), ("policy_prob",)),
    "heldout_pairs": PredictionTable(
        BanditHeldoutPairs, ("beta", "context", "action_a", "action_b"), ("logprob_margin",)
    ),
}
CURVE = BanditCurve
