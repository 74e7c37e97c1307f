"""Calibration family for the verdict machinery: logistic regression on synthetic data, with planted faults.

Not a paper's experiment. Its claims (tests/fixtures/claims) check that every gate fires on the fault
it exists for: constant predictions and untrained, seed-blind or decoy-snapshotting runs are ``invalid``, an
evaluation whose labels are noise is ``invalid`` (insensitive), a crashing arm is ``error``, a placebo comparison
is never ``verified``, and an absurd effect is ``falsified`` — and that a gate does not fire where it should not:
a model that trained and collapsed to a constant output is a result, not a stub.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

NOT_IMPLEMENTED = None


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    features: int = Field(8, ge=1)
    """Input dimension."""
    signal: float = Field(2.0, ge=0)
    """Distance between the two class means (in units of the noise sd), along a random direction."""
    train_items: int = Field(256, ge=2)
    eval_items: int = Field(512, ge=2)
    steps: int = Field(100, ge=0)
    """Full-batch gradient steps on the logistic loss."""
    lr: float = Field(0.5, gt=0)
    shuffle_labels: bool = False
    """Negative control: training labels permuted."""
    eval_label_noise: float = Field(0.0, ge=0, le=0.5)
    """Share of evaluation labels replaced by coin flips (0.5: the evaluation cannot tell anything)."""
    plant: Literal[
        "none", "constant_predictions", "crash", "no_training", "ignore_seed", "decoy_weights", "collapse"
    ] = "none"
    """The fault to plant. constant_predictions: a stub that never trains and writes ½ for every item;
    crash: raises in the training loop; no_training: never updates the model, writes its untrained predictions;
    ignore_seed: data and initialisation from seed 0 whatever the run's seed; decoy_weights: as no_training, but
    hands the weight snapshots a decoy tensor it changes each step; collapse: not a fault but a real outcome, trains
    under a lasso penalty so strong (COLLAPSE_L1) that the weight goes to exactly 0 and the trained model predicts
    its bias, one probability, for every input."""


COLLAPSE_L1 = 10.0
"""λ of the ``collapse`` plant's lasso penalty: above every gradient component of the logistic loss here
(|∂L/∂w_j| ≤ mean |x_j| ≤ 0.8 + signal / 2), so each proximal step sets every weight to exactly 0."""


SCALES = {"ci": {}, "reduced": {}, "full": {}}


def run(params: Params, seed: int, rec) -> None:
    import torch

    seed = 0 if params.plant == "ignore_seed" else seed
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=params.features)
    direction /= np.linalg.norm(direction)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        x = rng.normal(size=(n, params.features)) + np.outer(y - 0.5, direction) * params.signal
        return x, y

    x_train, y_train = sample(params.train_items)
    x_eval, y_eval = sample(params.eval_items)
    if params.shuffle_labels:
        y_train = rng.permutation(y_train)
    noisy = rng.random(params.eval_items) < 2 * params.eval_label_noise
    y_eval = np.where(noisy, rng.integers(0, 2, params.eval_items), y_eval)

    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(params.features, 1, dtype=torch.float64)
    with torch.no_grad():  # small random weights, zero bias
        model.weight.copy_(torch.randn(1, params.features, generator=generator, dtype=torch.float64) * 0.01)
        model.bias.zero_()
    # The decoy plant hands the harness a tensor it changes itself, in place of the model it never trains.
    snapshot = torch.zeros(params.features, dtype=torch.float64) if params.plant == "decoy_weights" else model
    trains = params.steps > 0 and params.plant not in ("constant_predictions", "no_training", "decoy_weights")
    rec.snapshot_weights("init", snapshot)
    xt, yt = torch.as_tensor(x_train), torch.as_tensor(y_train, dtype=torch.float64)
    for step in rec.progress(range(max(params.steps, 1))):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xt).squeeze(-1), yt)
        if trains:
            model.zero_grad()
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= params.lr * p.grad
                if params.plant == "collapse":
                    # Proximal step of the lasso penalty λ‖w‖₁ (soft thresholding, as in ISTA); the bias is
                    # not penalised. λ exceeds every gradient component, so the weight ends exactly at 0.
                    w = model.weight
                    w.copy_(w.sign() * (w.abs() - params.lr * COLLAPSE_L1).clamp(min=0))
        if params.plant == "decoy_weights":
            snapshot += params.lr
        if params.plant == "crash" and step == 3:
            raise RuntimeError("planted crash in the training loop")
        rec.log_curve(step, loss=loss.item())
    rec.snapshot_weights("final", snapshot)
    with torch.no_grad():
        prob = torch.sigmoid(model(torch.as_tensor(x_eval)).squeeze(-1)).numpy()
    if params.plant == "constant_predictions":
        prob = np.full(params.eval_items, 0.5)
    rec.write_predictions("items", pd.DataFrame({"item": np.arange(params.eval_items), "label": y_eval, "prob": prob}))
