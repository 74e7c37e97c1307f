"""What identifies a run: its experiment, scale, resolved parameters and seed (content keys, docs/design.md §4).

Kept apart from claim parsing and planning so that the runner core, which imports this, is keyed by its own code
only: editing the claim schema or the metrics re-runs no training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from repro.files import sha256_json

RUNS_DIR = Path("results/runs")


@dataclass(frozen=True)
class RunSpec:
    experiment: str
    scale: str
    arm_key: str
    seed: int
    params: dict = field(hash=False, compare=False)
    requires: dict[str, RunSpec] = field(default_factory=dict, hash=False, compare=False)
    """Prerequisite runs (same scale and seed) this run reads, by name — e.g. a shared warm start."""

    @property
    def dir(self) -> Path:
        return RUNS_DIR / self.experiment / self.scale / self.arm_key / f"seed{self.seed}"

    @property
    def run_json(self) -> Path:
        return self.dir / "run.json"

    @property
    def metrics(self) -> Path:
        return self.dir / "metrics.parquet"

    def as_dict(self) -> dict:
        return {
            "experiment": self.experiment,
            "scale": self.scale,
            "arm_key": self.arm_key,
            "seed": self.seed,
            "params": self.params,
            "requires": {name: req.as_dict() for name, req in sorted(self.requires.items())},
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict) -> RunSpec:
        requires = {name: cls.from_dict(req) for name, req in data.get("requires", {}).items()}
        return cls(data["experiment"], data["scale"], data["arm_key"], int(data["seed"]), data["params"], requires)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        return cls.from_dict(json.loads(text))

    def closure(self) -> list[RunSpec]:
        """This run and all its prerequisites, prerequisites first."""
        out: list[RunSpec] = []
        for req in self.requires.values():
            out.extend(req.closure())
        out.append(self)
        return out


def arm_key(experiment: str, scale: str, params: dict) -> str:
    return sha256_json({"experiment": experiment, "scale": scale, "params": params})[:12]
