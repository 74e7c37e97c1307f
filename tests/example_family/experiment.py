"""Example family (not a paper's): fit the slope w of y = w·x + noise by SGD on synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

NOT_IMPLEMENTED = None


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slope: float = 2.0
    """The true w."""
    noise: float = Field(0.1, ge=0)
    """Standard deviation of the label noise."""
    items: int = Field(64, ge=2)
    """Training items, and as many evaluation items."""
    steps: int = Field(20, ge=1)
    """Full-batch SGD steps."""
    lr: float = Field(0.1, gt=0)
    """SGD learning rate."""


SCALES = {"ci": {}, "reduced": {"items": 1024, "steps": 200}, "full": {"items": 65536, "steps": 2000}}


def run(params: Params, seed: int, rec) -> None:
    import torch  # heavy imports inside run(): loading the family for claim checks stays light

    rng = np.random.default_rng(seed)
    x = rng.normal(size=2 * params.items)
    y = params.slope * x + params.noise * rng.normal(size=x.size)
    x_train, y_train = torch.as_tensor(x[: params.items, None]), torch.as_tensor(y[: params.items])
    model = torch.nn.Linear(1, 1, bias=False, dtype=torch.float64)  # initialised from the harness's seeded RNG
    optimizer = torch.optim.SGD(model.parameters(), lr=params.lr)
    rec.snapshot_weights("init", optimizer)  # the object that trains, the same at init and final
    for step in rec.progress(range(params.steps)):
        loss = ((model(x_train).squeeze(-1) - y_train) ** 2).mean()
        rec.log_curve(step, loss=loss.item(), w=model.weight.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    rec.snapshot_weights("final", optimizer)
    with torch.no_grad():
        prediction = model(torch.as_tensor(x[params.items :, None])).squeeze(-1).numpy()
    items = {"item": np.arange(params.items), "x": x[params.items :], "y": y[params.items :]}
    rec.write_predictions("items", pd.DataFrame({**items, "prediction": prediction}))
