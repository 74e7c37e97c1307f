"""The sequences a CARE/GRPO step trains on."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class Part:
    """Sequences to train on: (B, ·) tensors, π_old's per-token log-probabilities, per-token advantages, and the
    prompt group of each row (mini-batches are cut along groups)."""

    images: Any
    prompt_ids: Any
    prompt_mask: Any
    completion_ids: Any
    completion_mask: Any
    old_logp: Any = None
    advantages: Any = None
    group: Any = None

    def rows(self, keep) -> Part:
        return Part(*(getattr(self, f.name)[keep] for f in fields(self)))
