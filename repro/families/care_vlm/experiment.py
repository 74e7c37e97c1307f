"""CARE on real vision-language models (Wang et al., arXiv 2512.19554): the paper's full-scale setting.

Specified, not implemented: repro has no RL trainer for 7B–8B vision-language models (the paper uses
EasyR1/verl on GPUs) and no LMMs-Eval harness. The parameters below document what a user with GPUs and the hub
would run; claims use this family only at scales marked ``not_run``. The setting (reference/papers.md §3.2–3.3):
Qwen2.5-VL-7B-Instruct or Qwen3-VL-8B-Instruct, cold-start SFT on Vision-R1-cold, RL on ≈49.3K prompts
(ChartQA + Geometry3K + ViRL39K) with G = 8, CARE's K = 4, M = 6, s = 0.5, δ = 0.1, γ_pos = 0.005, RGR at
T = 0.6 / top-p 0.95, evaluation with LMMs-Eval on MathVista, MathVerse, MATH-Vision, MMMU and MMMU-Pro
(standard, vision), five seeds ([S]: a third-party paper note).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NOT_IMPLEMENTED = (
    "RL of 7B-8B vision-language models on GPUs (EasyR1/verl) and LMMs-Eval benchmarking are outside repro; "
    "this family documents the full-scale setting only"
)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "Qwen/Qwen3-VL-8B-Instruct"
    """Hub id of the policy (the paper also trains Qwen/Qwen2.5-VL-7B-Instruct and -3B)."""
    method: Literal["grpo", "care", "none"] = "care"
    """RL objective, or none (the instruct checkpoint as released)."""
    rgr: bool = True
    train_data: tuple[str, ...] = ("ChartQA", "Geometry3K", "ViRL39K")
    """RL prompts (≈49.3K, papers.md §3.2 [S])."""
    group_size: int = Field(8, ge=2)
    lr: float = Field(1e-6, gt=0)
    """Official ``examples/config.yaml``."""
    kl_coef: float = Field(0.01, ge=0)
    benchmarks: tuple[str, ...] = (
        "mathvista",
        "mathverse",
        "math_vision",
        "mmmu",
        "mmmu_pro_standard",
        "mmmu_pro_vision",
    )


SCALES = {"ci": {}, "reduced": {}, "full": {}}
