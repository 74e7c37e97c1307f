"""MallowsPO: "Existing DPO models can be reduced to special cases of the MallowsPO dispersion index."

For a constant dispersion ϕ(x) ≡ ϕ, c = −log ϕ is a constant and the MallowsPO-θ loss
−log σ(c·β·Δ) is exactly the DPO loss at β' = c·β (and at β itself when ϕ = e⁻¹).
Instances draw random log-ratios, β and ϕ; controls give each pair its own dispersion, which no single
DPO β can reproduce.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from repro.properties import PropertyCheck, rows


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    logratio_scale: float = Field(5.0, gt=0)
    """Standard deviation of the random chosen/rejected log-ratios."""
    beta_low: float = Field(0.01, gt=0)
    beta_high: float = Field(10.0, gt=0)
    phi_low: float = Field(0.01, gt=0, lt=1)
    phi_high: float = Field(0.99, gt=0, lt=1)


def measure(params: Params, instances: int, rng: np.random.Generator, runs: list) -> pd.DataFrame:
    import torch

    from repro.methods.preference import dpo_loss, mallows_theta_loss

    def draw(n: int):
        chosen = torch.as_tensor(rng.normal(0, params.logratio_scale, n))
        rejected = torch.as_tensor(rng.normal(0, params.logratio_scale, n))
        beta = torch.as_tensor(np.exp(rng.uniform(np.log(params.beta_low), np.log(params.beta_high), n)))
        phi = torch.as_tensor(rng.uniform(params.phi_low, params.phi_high, n))
        return chosen, rejected, beta, phi

    # Constant dispersion per instance: MallowsPO-θ(β, c) against DPO(c·β), and c = 1 (ϕ = e⁻¹) against DPO(β).
    half = instances // 2
    chosen, rejected, beta, phi = draw(instances)
    c = -torch.log(phi)
    c[half:] = 1.0
    lhs = mallows_theta_loss(chosen, rejected, beta, c)
    rhs = dpo_loss(chosen, rejected, c * beta)
    main = rows(lhs.numpy(), rhs.numpy(), control=False)

    # Controls: a batch of 8 pairs with per-pair dispersions against DPO at the batch's mean c (mean losses).
    n_controls = max(8, instances // 10)
    lhs_c, rhs_c = [], []
    for _ in range(n_controls):
        ch, rj, b, ph = draw(8)
        cc = -torch.log(ph)
        lhs_c.append(mallows_theta_loss(ch, rj, b[0], cc).mean().item())
        rhs_c.append(dpo_loss(ch, rj, cc.mean() * b[0]).mean().item())
    controls = rows(np.asarray(lhs_c), np.asarray(rhs_c), control=True, start=instances)
    return pd.concat([main, controls], ignore_index=True)


CONSTANT_DISPERSION_IS_DPO = PropertyCheck(
    params=Params,
    measure=measure,
    equation=(
        "L_MallowsPO-θ(β; c(x) ≡ c) = L_DPO(c·β) for every constant dispersion, with c = −log ϕ "
        "(Chen et al. 2024, MallowsPO-θ; DPO: Rafailov et al. 2023, Eq. 7)"
    ),
)
