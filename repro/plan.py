"""From validated claims to jobs: which runs each claim needs at a scale.

Runs are keyed by content — experiment, scale, fully resolved arm parameters and seed — never by
claim, so claims that share an arm share its runs, and editing a claim's expectation changes no
run key (docs/design.md §4). Resolution order for parameters: the family's ``Params`` defaults, then
its ``SCALES[scale]`` overrides, then the claim's arm parameters, then the claim's per-scale
``params``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

from repro import registry
from repro.claims import (
    LoadedClaim,
    PropertyClaim,
    ReproductionClaim,
    load_claims,
    scale_spec,
)
from repro.files import sha256_json

RUNS_DIR = Path("results/runs")
VERDICTS_DIR = Path("results/verdicts")
PROPERTIES_DIR = Path("results/properties")


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


def resolve_params(experiment: str, scale: str, *layers: dict) -> dict:
    family = registry.get_experiment(experiment)
    merged: dict = dict(family.SCALES[scale])
    for layer in layers:
        merged.update(layer)
    return family.Params.model_validate(merged).model_dump(mode="json")


def make_run(experiment: str, scale: str, seed: int, *layers: dict) -> RunSpec:
    """The run of ``experiment`` with resolved parameters, and (recursively) its prerequisite runs.

    A family that builds on other runs (a warm start shared by every arm, say) defines
    ``requires(params) -> {name: (experiment, params)}``; each prerequisite is a run of its own,
    keyed by its own content and therefore computed once and shared. A prerequisite runs at the same
    seed unless the family pins one with ``(experiment, params, seed)``: one checkpoint shared by every
    seed, as papers start every seed's RL from the same base model.
    """
    resolved = resolve_params(experiment, scale, *layers)
    family = registry.get_experiment(experiment)
    requires = {}
    hook = getattr(family, "requires", None)  # optional member of the family protocol
    if hook is not None:
        params = family.Params.model_validate(resolved)
        for name, (dep_experiment, dep_params, *pinned_seed) in hook(params).items():
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


# ------------------------------------------------------------------ code versions


def module_path(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin) if spec is not None and spec.origin else None


@functools.cache
def _repro_imports(name: str) -> frozenset[str]:
    """``repro.*`` modules imported by module ``name`` (not executed; read with ast)."""
    path = module_path(name)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("repro"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("repro"):
            found.add(node.module)
            if _is_package(node.module):  # "from repro.methods import preference" imports a submodule
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    if importlib.util.find_spec(candidate) is not None:
                        found.add(candidate)
    return frozenset(found)


def _is_package(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.submodule_search_locations is not None


def module_closure(name: str) -> list[Path]:
    """Source files of ``name`` and every ``repro`` module it imports, transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(_repro_imports(current) - seen)
    files = {module_path(mod) for mod in seen}
    return sorted(f for f in files if f is not None)


TEMPLATES = Path(__file__).parent / "templates"
"""The layout of the verdict cards and the HTML report, which ``repro.report`` renders: part of its code version."""


def code_version(*module_names: str) -> str:
    """Hash of the source of the given modules and their ``repro`` imports, and of ``TEMPLATES`` where
    ``repro.report`` is among them (a rerun trigger: a changed card layout re-renders the cards)."""
    digest = hashlib.sha256()
    files = sorted({f for name in module_names for f in module_closure(name)})
    if module_path("repro.report") in files:
        files += sorted(TEMPLATES.glob("*.j2"))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
