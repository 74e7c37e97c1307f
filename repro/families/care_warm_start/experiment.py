"""Warm start for CARE's RL arms: supervised fine-tuning of the tiny vision-language policy (arXiv 2512.19554).

The paper's policies start from Qwen2.5-VL-Instruct after a cold-start SFT on Vision-R1-cold traces
(reference/papers.md §3.2 [S]). Here the analogue is a short SFT of :class:`repro.models.tiny_vlm.TinyVLM` on
worked think/answer demonstrations of the six synthetic benchmarks (repro/tasks/visual_reasoning.py), stopped
early on purpose so that RL has room to improve. A share of the demonstrations are *repair demonstrations*
(a wrong count, the RGR cue, the right answer): a tiny policy cannot follow a repair cue it has never seen,
so the RGR arm then tests RGR's mechanism, not a 7B model's emergent self-repair — a deviation stated in
every claim that uses this warm start.

It is its own content-keyed run (``care_rlvr.requires``), computed once per (parameters, seed) and shared by
every arm of that seed. It writes the policy checkpoint, the SFT loss curve and the warm start's answers on a
small check set.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

NOT_IMPLEMENTED = None


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grid: int = Field(4, ge=2, le=6)
    """Board side in cells; one image patch per cell."""
    cell: int = Field(4, ge=3, le=8)
    """Cell side in pixels."""
    min_objects: int = Field(3, ge=1)
    max_objects: int = Field(8, ge=1)
    noise: float = Field(0.15, ge=0)
    """Standard deviation of the Gaussian pixel noise."""
    hidden: int = Field(64, ge=8)
    """Width of the patch encoder and of the Qwen2-architecture decoder."""
    layers: int = Field(2, ge=1)
    """Decoder layers."""
    heads: int = Field(4, ge=1)
    sft_steps: int = Field(400, ge=1)
    """SFT steps (deliberately short: the warm start must leave room for RL)."""
    sft_batch: int = Field(64, ge=1)
    sft_lr: float = Field(3e-3, gt=0)
    repair_demo_fraction: float = Field(0.2, ge=0, lt=1)
    """Share of demonstrations that are repair demonstrations (wrong count, cue, right answer)."""
    trace_noise: float = Field(0.3, ge=0, lt=1)
    """Share of plain demonstrations that are near-miss traces (one count off by one, its implied answer)."""
    check_items_per_benchmark: int = Field(16, ge=1)
    """Items per benchmark of the warm start's own check set (one sample each at temperature 1)."""

    @model_validator(mode="after")
    def _coherent(self) -> Params:
        if self.min_objects > self.max_objects or self.max_objects > self.grid * self.grid:
            raise ValueError("need min_objects <= max_objects <= grid²")
        if self.hidden % self.heads:
            raise ValueError("hidden must be a multiple of heads")
        return self


SCALES = {"ci": {}, "reduced": {}, "full": {}}  # sizes come from care_rlvr (requires), per scale


def run(params: Params, seed: int, rec) -> None:
    import torch

    from repro.methods.sampling import token_logprobs
    from repro.tasks import visual_reasoning as vr

    config = vr.TaskConfig(
        grid=params.grid,
        cell=params.cell,
        min_objects=params.min_objects,
        max_objects=params.max_objects,
        noise=params.noise,
    )
    data_rng, check_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 3])
    model = vr.build_policy(config, params.hidden, params.layers, params.heads)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.sft_lr)
    rec.snapshot_weights("init", optimizer)
    for step in rec.progress(range(params.sft_steps), desc="care warm start"):
        items = config.mixed_items(params.sft_batch, data_rng)
        demos = [
            vr.demonstration(item, data_rng, data_rng.random() < params.repair_demo_fraction, params.trace_noise)
            for item in items
        ]
        images, prompt_ids, prompt_mask = vr.prompt_tensors(items, config)
        response_ids, response_mask = vr.pad_sequences([tokens for tokens, _ in demos])
        supervised = torch.zeros(response_ids.shape)
        for row, (_, mask) in enumerate(demos):
            supervised[row, : len(mask)] = torch.tensor(mask, dtype=torch.float32)
        logp = token_logprobs(functools.partial(model, images), prompt_ids, prompt_mask, response_ids, response_mask)
        loss = -(logp * supervised).sum() / supervised.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec.log_curve(step, loss=loss.item())
    rec.snapshot_weights("final", optimizer)
    rec.save_checkpoint(model.state_dict())

    rows = vr.evaluate_policy(
        model,
        config.test_set(params.check_items_per_benchmark, check_rng),
        config,
        samples=1,
        temperature=1.0,
        generator=torch.Generator().manual_seed(seed),
    )
    rec.write_predictions("answers", pd.DataFrame(rows))
