"""From validated claims to jobs: which runs each claim needs at a scale.

Runs are keyed by content — experiment, scale, fully resolved arm parameters and seed — never by
claim, so claims that share an arm share its runs, and editing a claim's expectation changes no
run key (docs/design.md §4). Resolution order for parameters: the family's ``Params`` defaults, then
its ``SCALES[scale]`` overrides, then the claim's arm parameters, then the claim's per-scale
``params``.
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Iterable, Mapping, Sequence
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

GPUS_FROM_SCHEDULER = "REPRO_GPUS"
"""Set to ``scheduler`` where jobs get GPUs from a cluster's scheduler (the workflow sets it from ``config: gpus``,
which profiles/slurm sets): a claim that needs a GPU is then planned, and its runs request one, though the machine
that plans has none. Unset: such a claim is ``not_run`` unless this machine sees a GPU."""
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
    return _Runs().make(experiment, scale, seed, layers)


def _frozen(value):
    """A hashable stand-in for a parameter value that tells apart what validation could tell apart (1, 1.0 and
    True; 0.0 and -0.0; a list and a tuple; key order); TypeError for a value it does not know."""
    if isinstance(value, dict):
        return dict, tuple((key, _frozen(item)) for key, item in value.items())
    if isinstance(value, list | tuple):
        return type(value), tuple(_frozen(item) for item in value)
    if isinstance(value, str):
        return type(value), value
    if value is None or isinstance(value, int | float | datetime.date):  # repr: -0.0, a datetime's time zone
        return type(value), repr(value)
    raise TypeError(f"no frozen form for {type(value).__name__}")


class _Runs:
    """:func:`make_run` for many claims: each distinct set of merged parameters is validated, keyed and asked for
    its prerequisites once, and each distinct run (at a seed) built once, however many claims, arms and seeds share
    it. The results are those of separate :func:`make_run` calls; runs with the same content are the same object."""

    def __init__(self) -> None:
        self.arms: dict = {}
        self.runs: dict = {}

    def arm(self, experiment: str, scale: str, layers: tuple) -> tuple:
        """``(key, experiment, scale, resolved params, content key, prerequisites)``; key None if not cacheable."""
        family = registry.get_experiment(experiment)
        merged: dict = dict(family.SCALES[scale])
        for layer in layers:
            merged.update(layer)
        try:
            key = (experiment, scale, _frozen(merged))
        except TypeError:
            key = None
        arm = self.arms.get(key) if key is not None else None
        if arm is None:
            resolved = family.Params.model_validate(merged).model_dump(mode="json")
            needs = family.requires(family.Params.model_validate(resolved))
            arm = (key, experiment, scale, resolved, arm_key(experiment, scale, resolved), needs)
            if key is not None:
                self.arms[key] = arm
        return arm

    def run(self, arm: tuple, seed: int) -> RunSpec:
        key, experiment, scale, resolved, content_key, needs = arm
        run = self.runs.get((key, seed)) if key is not None else None
        if run is None:
            requires = {}
            for name, (dep_experiment, dep_params, *pinned_seed) in needs.items():
                dep_seed = pinned_seed[0] if pinned_seed else seed
                requires[name] = self.make(dep_experiment, scale, dep_seed, (dep_params,))
            run = RunSpec(experiment, scale, content_key, seed, resolved, requires)
            if key is not None:
                self.runs[(key, seed)] = run
        return run

    def make(self, experiment: str, scale: str, seed: int, layers: tuple) -> RunSpec:
        return self.run(self.arm(experiment, scale, layers), seed)


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
    def paper_id(self) -> str:
        """The claim's paper: its arXiv id without the version."""
        return self.loaded.claim.paper.arxiv.split("v")[0]

    @property
    def in_holm_family(self) -> bool:
        """Whether the claim's verdict is Holm-adjusted over its paper's family (:func:`holm_families`): a
        reproduction claim that runs at the scale."""
        return self.kind == "reproduction" and self.not_run is None

    @property
    def verdict_stem(self) -> Path:
        return VERDICTS_DIR / self.scale / self.id

    @property
    def property_table(self) -> Path:
        return PROPERTIES_DIR / self.scale / f"{self.id}.parquet"


def _gpu_available() -> bool:
    if os.environ.get(GPUS_FROM_SCHEDULER) == "scheduler":
        return True
    import torch

    return torch.cuda.is_available()


def plan_claim(
    loaded: LoadedClaim, scale: str, runs: _Runs | None = None, seeds: Sequence[int] | None = None
) -> ClaimPlan:
    """The runs ``loaded`` needs at ``scale`` (``runs``: shared by the claims of one plan). ``seeds``: run these
    seeds instead of the scale's decisive ``0 … n − 1`` (pilots and the GPU check; never the workflow)."""
    runs = runs if runs is not None else _Runs()
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
        experiment, arm_params, overrides, n = claim.experiment, claim.arms, spec.params, spec.seeds
    elif isinstance(claim, PropertyClaim) and claim.runs is not None:
        experiment, arm_params, overrides, n = claim.runs.experiment, claim.runs.arms, {}, spec.seeds
    else:
        return ClaimPlan(loaded, scale, None, {})
    for arm, params in arm_params.items():
        resolved = runs.arm(experiment, scale, (params, overrides))
        arms[arm] = [runs.run(resolved, seed) for seed in (range(n) if seeds is None else seeds)]
    return ClaimPlan(loaded, scale, None, arms)


@dataclass(frozen=True)
class Plan:
    scale: str
    claims: dict[str, ClaimPlan]
    runs: dict[Path, RunSpec]
    gpu_runs: frozenset[Path] = frozenset()
    """Folders of the runs (prerequisites included) of claims that need a GPU at this scale: their jobs request one."""

    def run_for_dir(self, experiment: str, scale: str, key: str, seed: int) -> RunSpec:
        return self.runs[RUNS_DIR / experiment / scale / key / f"seed{seed}"]

    @functools.cached_property
    def run_users(self) -> dict[Path, list[str]]:
        """{run folder: ["claim:arm", ...]}: the claims and arms each run serves, each once, in claim order; a run
        that is another's prerequisite is marked "claim:arm (prerequisite)" (a shared pre-training serves every seed
        of an arm, and is named once for it)."""
        users: dict[Path, dict[str, None]] = {}
        for claim_id, claim_plan in sorted(self.claims.items()):
            for arm, runs in claim_plan.arms.items():
                for run in runs:
                    for needed in run.closure():
                        name = arm if needed is run else f"{arm} (prerequisite)"
                        users.setdefault(needed.dir, {})[f"{claim_id}:{name}"] = None
        return {path: list(names) for path, names in users.items()}

    def run_chains(self, seconds: Mapping[str, float], default: float = 1.0) -> dict[Path, float]:
        """{run folder: seconds of the longest chain of runs that starts with it}: the run's typical seconds
        (``seconds[experiment]``, else ``default``) plus the longest chain among the runs that require it (a warm
        start's chain goes through its longest dependent). Starting the longest chains first keeps a long run from
        starting last, when the other cores have nothing left to do."""
        dependents: dict[Path, list[Path]] = {}
        for run in self.runs.values():
            for needed in run.requires.values():
                dependents.setdefault(needed.dir, []).append(run.dir)
        chains: dict[Path, float] = {}

        def chain(path: Path) -> float:
            if path not in chains:
                after = max((chain(user) for user in dependents.get(path, ())), default=0.0)
                chains[path] = float(seconds.get(self.runs[path].experiment, default)) + after
            return chains[path]

        for path in self.runs:
            chain(path)
        return chains


def holm_families(claim_plans: Iterable[ClaimPlan]) -> dict[str, list[str]]:
    """Paper -> ids of its claims whose verdicts are Holm-adjusted together (:attr:`ClaimPlan.in_holm_family`),
    sorted; papers without one are left out. The one definition of the family: the workflow adjusts over it and
    ``repro pilot`` reports the seeds that survive α/m, m its size."""
    families: dict[str, list[str]] = {}
    for claim_plan in sorted(claim_plans, key=lambda c: c.id):
        if claim_plan.in_holm_family:
            families.setdefault(claim_plan.paper_id, []).append(claim_plan.id)
    return families


def build_plan(claims_dir: Path, scale: str, repo_root: Path | None = None) -> Plan:
    if scale not in ("ci", "reduced", "full"):
        raise ValueError(f"config: scale: must be one of ci, reduced, full (got {scale!r})")
    loaded = load_claims(Path(claims_dir), repo_root)
    shared = _Runs()
    claims = {item.id: plan_claim(item, scale, shared) for item in loaded}
    runs: dict[Path, RunSpec] = {}
    gpu_runs: set[Path] = set()
    seen: set[int] = set()  # runs shared by claims are one object: its closure is listed once
    for claim_plan in claims.values():
        spec = scale_spec(claim_plan.loaded.claim, scale)
        needs_gpu = spec is not None and "gpu" in spec.requires
        for run in claim_plan.runs:
            if needs_gpu:
                gpu_runs.update(needed.dir for needed in run.closure())
            if id(run) in seen:
                continue
            seen.add(id(run))
            for needed in run.closure():
                runs[needed.dir] = needed
    return Plan(scale, claims, runs, frozenset(gpu_runs))
