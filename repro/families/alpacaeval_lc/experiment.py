"""AlpacaEval 2 length-controlled win rate after preference tuning Llama3-8B-Instruct (MallowsPO, arXiv 2405.14953).

Specified, not implemented: repro has no trainer for 8B-parameter preference tuning and no client for
AlpacaEval's external judge. The parameters below are the full-scale setting a user with GPUs, the hub
and a judge API would run; claims use this family only at scales marked ``not_run``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NOT_IMPLEMENTED = (
    "8B-parameter preference tuning on GPUs and AlpacaEval 2 judging by an external API are outside repro; "
    "this family documents the full-scale setting only"
)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["simpo", "mallows_simpo", "none"] = "simpo"
    """Objective: SimPO (Meng et al. 2024), SimPO with MallowsPO dispersion weighting, or no tuning."""
    model: str = "meta-llama/Meta-Llama-3-8B-Instruct"
    """Hub id of the policy (and reference) model."""
    dataset: str = "princeton-nlp/llama3-ultrafeedback-armorm"
    """Hub id of the preference data (UltraFeedback prompts, ArmoRM-labelled; official config default path)."""
    beta: float = Field(10.0, gt=0)
    """β (official mallowsPO_config.py default 10, with length normalisation and reference-free)."""
    gamma_beta_ratio: float = Field(0.3, ge=0)
    """SimPO target margin γ/β (SimPO's Llama3-8B-Instruct setting)."""
    phi_star: float = Field(0.29, gt=0)
    """ϕ*, MallowsPO's ``neg_log_dispersion_mean`` (official default)."""
    learning_rate: float = Field(1e-6, gt=0)
    epochs: int = Field(1, ge=1)
    judge: str = "weighted_alpaca_eval_gpt4_turbo"
    """AlpacaEval 2 annotator config (GPT-4-Turbo, the leaderboard default)."""


SCALES = {"ci": {}, "reduced": {}, "full": {}}
