"""From validated claims to jobs: which runs each claim needs at a scale.

Runs are keyed by content — experiment, scale, fully resolved arm parameters and seed — never by
claim, so claims that share an arm share its runs, and editing a claim's expectation changes no
run key (docs/design.md §4). Resolution order for parameters: the family's ``Params`` defaults, then
its ``SCALES[scale]`` overrides, then the claim's arm parameters, then the claim's per-scale
``params``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repro import registry
from repro.claims import (
    LoadedClaim,
    PropertyClaim,
    ReproductionClaim,
    load_claims,
    scale_spec,
)
from repro.runspec import RUNS_DIR, RunSpec, arm_key

VERDICTS_DIR = Path("results/verdicts")
PROPERTIES_DIR = Path("results/properties")


def resolve_params(experiment: str, scale: str, *layers: dict) -> dict:
    family = registry.get_experiment(experiment)
    merged: dict = dict(family.SCALES[scale])
    for layer in layers:
        merged.update(layer)
    return family.Params.model_validate(merged).model_dump(mode="json")


def make_run(experiment: str, scale: str, seed: int, *layers: dict) -> RunSpec:
    """The run of ``experiment`` with resolved parameters, and (recursively) its prerequisite runs.

    A family that builds on other runs (a warm start shared by every arm, say) defines
    ``requires(params) -> {name: (experiment, params)}`` (:class:`repro.registry.Experiment`); each prerequisite is a
    run of its own,
    keyed by its own content and therefore computed once and shared. A prerequisite runs at the same
    seed unless the family pins one with ``(experiment, params, seed)``: one checkpoint shared by every
    seed, as papers start every seed's RL from the same base model.
    """
    resolved = resolve_params(experiment, scale, *layers)
    family = registry.get_experiment(experiment)
    requires = {}
    needs = family.requires(family.Params.model_validate(resolved))
    for name, (dep_experiment, dep_params, *pinned_seed) in needs.items():
        requires[name] = make_run(dep_experiment, scale, pinned_seed[0] if pinned_seed else seed, dep_params)
    return RunSpec(experiment, scale, arm_key(experiment, scale, resolved), seed, resolved, requires)


@dataclass(frozen=True)
class ClaimPlan:
    loaded: LoadedClaim
    scale: str
    not_run: str | None
    arms: dict[str, list[RunSpec]]
    """Runs per arm name (reproductions, and properties checked on runs)."""

    @property
    def id(self) -> str:
        return self.loaded.id

    @property
    def kind(self) -> str:
        return self.loaded.claim.kind

    @property
    def runs(self) -> list[RunSpec]:
        return [run for runs in self.arms.values() for run in runs]

    @property
    def needs_property_check(self) -> bool:
        return self.kind == "property" and self.not_run is None

    @property
    def verdict_stem(self) -> Path:
        return VERDICTS_DIR / self.scale / self.id

    @property
    def property_table(self) -> Path:
        return PROPERTIES_DIR / self.scale / f"{self.id}.parquet"


def _gpu_available() -> bool:
    import torch

    return torch.cuda.is_available()


def plan_claim(loaded: LoadedClaim, scale: str) -> ClaimPlan:
    claim = loaded.claim
    spec = scale_spec(claim, scale)
    if spec is None:  # derivation / textual: scale-free, no runs
        return ClaimPlan(loaded, scale, None, {})
    if spec.not_run is not None:
        return ClaimPlan(loaded, scale, spec.not_run, {})
    if "gpu" in spec.requires and not _gpu_available():
        return ClaimPlan(loaded, scale, "needs a GPU and none is visible (torch.cuda.is_available() is False)", {})
    arms: dict[str, list[RunSpec]] = {}
    if isinstance(claim, ReproductionClaim):
        experiment, arm_params, overrides, seeds = claim.experiment, claim.arms, spec.params, spec.seeds
    elif isinstance(claim, PropertyClaim) and claim.runs is not None:
        experiment, arm_params, overrides, seeds = claim.runs.experiment, claim.runs.arms, {}, spec.seeds
    else:
        return ClaimPlan(loaded, scale, None, {})
    for arm, params in arm_params.items():
        arms[arm] = [make_run(experiment, scale, seed, params, overrides) for seed in range(seeds)]
    return ClaimPlan(loaded, scale, None, arms)


@dataclass(frozen=True)
class Plan:
    scale: str
    claims: dict[str, ClaimPlan]
    runs: dict[Path, RunSpec]

    def run_for_dir(self, experiment: str, scale: str, key: str, seed: int) -> RunSpec:
        return self.runs[RUNS_DIR / experiment / scale / key / f"seed{seed}"]


def build_plan(claims_dir: Path, scale: str, repo_root: Path | None = None) -> Plan:
    if scale not in ("ci", "reduced", "full"):
        raise ValueError(f"config: scale: must be one of ci, reduced, full (got {scale!r})")
    loaded = load_claims(Path(claims_dir), repo_root)
    claims = {item.id: plan_claim(item, scale) for item in loaded}
    runs: dict[Path, RunSpec] = {}
    for claim_plan in claims.values():
        for run in claim_plan.runs:
            for needed in run.closure():
                runs[needed.dir] = needed
    return Plan(scale, claims, runs)
