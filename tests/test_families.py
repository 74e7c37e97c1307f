"""The family contract, on every family in ``repro.registry.FAMILIES`` and on the example family of
docs/experiment-families.md (tests/example_family, registered here only).

Each module passes its registry Protocol; each runnable family's smallest ci run (and its prerequisites) completes,
writes only its prediction tables, its curve and a checkpoint, tables that validate against its schemas, trains the
parameters it snapshots, gives bit-identical tables when run again and different ones at another seed, and can be
scored by its metrics. A family that cannot run is refused by the runner and by claim validation.
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from repro import registry
from repro.claims import collect_claims
from repro.files import read_json, sha256_file
from repro.metrics import Metric, Profile
from repro.metrics.scoring import compute_run_metrics
from repro.plan import make_run
from repro.runner import run_arm
from repro.runspec import RunSpec
from repro.tables import Curve, PredictionTable, validate

from .conftest import ROOT
from .test_care_rlvr import ARMS as CARE_ARMS
from .test_care_rlvr import TINY as CARE_TINY
from .test_dro_clip import ARMS as DRO_CLIP_ARMS
from .test_dro_clip import TINY as DRO_CLIP_TINY
from .test_gdro_rlvr import TINY as GDRO_TINY
from .test_mallows_bandit import TINY as MALLOWS_TINY

XLING_MLM_TINY = {"world": {"concepts": 16, "length": 4}, "steps": 200, "batch": 32}
"""A pre-training small enough for the contract (the ci world's four target languages, which its metrics name)."""

EXAMPLE = "example"
"""The example family's registry name; ``FAMILIES[EXAMPLE]`` is set for this module's tests only."""

SMALLEST: dict[str, tuple[dict, dict]] = {
    "mallows_bandit": ({"loss": "mallows_theta", "dispersion": "entropy"}, MALLOWS_TINY),
    "dro_clip": (DRO_CLIP_ARMS["dro_corruptions"], DRO_CLIP_TINY),
    "gdro_rlvr": ({"method": "rollout_gdro"}, GDRO_TINY),
    "care_warm_start": ({}, CARE_TINY["warm_start"]),
    "care_rlvr": (CARE_ARMS["care"], CARE_TINY),
    "xling_mlm": ({}, XLING_MLM_TINY),
    "robust_xling": (
        {"method": "adversarial"},
        {"pretrain": XLING_MLM_TINY, "steps": 100, "train_pairs": 500, "test_pairs": 60, "generalized_pairs": 10}
        | {"attack_pairs": 10, "alignment_sentences": 20},
    ),
}
"""(arm, overrides) of each family's contract run at ci scale: a treatment arm (it must train) at the smallest settings
its own tests use. A family not listed runs its ci scale's defaults."""

RUNNABLE = sorted(name for name in registry.FAMILIES if registry.is_runnable(registry.get_experiment(name)))
NOT_RUNNABLE = sorted(set(registry.FAMILIES) - set(RUNNABLE))
PARTS = {"experiment": registry.Experiment, "schemas": registry.Schemas, "metrics": registry.Metrics}


@pytest.fixture(scope="module", autouse=True)
def example_family():
    """The example family in the registry: one line, as adding a family is (the registry caches loaded modules)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(registry.FAMILIES, EXAMPLE, "tests.example_family")
        registry._load.cache_clear()
        yield
    registry._load.cache_clear()


@dataclass(frozen=True)
class ContractRuns:
    name: str
    spec: RunSpec
    """The family's run at seed 0; ``spec.closure()`` are the runs it needs, itself last."""
    other_seed: RunSpec
    first: Path
    again: Path
    """Two workflow folders that ran seed 0's closure; ``first`` also ran seed 1's."""

    def records(self, root: Path, *specs: RunSpec) -> list[tuple[RunSpec, dict]]:
        """(run, run.json) of every run in the closures of ``specs`` (default: seed 0's), each once."""
        unique = {run.dir: run for spec in specs or (self.spec,) for run in spec.closure()}
        return [(run, read_json(root / run.run_json)) for run in unique.values()]


@pytest.fixture(scope="module", params=[*RUNNABLE, EXAMPLE])
def runs(request, example_family, tmp_path_factory) -> ContractRuns:
    name = request.param
    arm, overrides = SMALLEST.get(name, ({}, {}))
    spec, other_seed = (make_run(name, "ci", seed, arm, overrides) for seed in (0, 1))
    first, again = tmp_path_factory.mktemp(f"{name}-first"), tmp_path_factory.mktemp(f"{name}-again")
    for root, specs in ((first, [spec, other_seed]), (again, [spec])):
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)  # run records name their prerequisites by paths relative to the workflow's folder
            for needed in (run for top in specs for run in top.closure()):
                if not needed.run_json.exists():
                    record = run_arm(needed, needed.run_json)
                    assert record["status"] == "completed", record["error"]
    return ContractRuns(name, spec, other_seed, first, again)


def test_every_contract_setting_names_a_runnable_family():
    assert set(SMALLEST) <= set(RUNNABLE)
    assert "example_family" not in Path(registry.__file__).read_text(encoding="utf-8")  # not a shipped family


def test_the_docs_show_the_example_family_verbatim():
    docs = (ROOT / "docs" / "experiment-families.md").read_text(encoding="utf-8")
    for part in PARTS:
        assert f"```python\n{(ROOT / 'tests' / 'example_family' / f'{part}.py').read_text(encoding='utf-8')}```" in docs


def test_a_run_writes_only_predictions_curve_and_checkpoint(runs):
    expected = set()
    for run, record in runs.records(runs.first, runs.spec, runs.other_seed):
        artifacts = record["artifacts"]
        assert set(artifacts) == {"tables", "curve", "weights", "checkpoint"}
        tables = registry.get_schemas(run.experiment).PREDICTIONS
        files = {"run.json", "curve.parquet", *(f"predictions-{table}.parquet" for table in tables)}
        if artifacts["checkpoint"] is not None:
            files.add("checkpoint.pt")
        expected |= {run.dir / file for file in files}
    written = {path.relative_to(runs.first) for path in runs.first.rglob("*") if path.is_file()}
    assert written == expected  # nothing else in the run folders, nothing outside them


def test_tables_validate_against_the_family_schemas(runs):
    for run, record in runs.records(runs.first):
        schemas, folder = registry.get_schemas(run.experiment), runs.first / run.dir
        for table, entry in record["artifacts"]["tables"].items():
            frame = pd.read_parquet(folder / entry["file"])
            validate(schemas.PREDICTIONS[table].schema, frame, table)
            assert len(frame) == entry["rows"] and sha256_file(folder / entry["file"]) == entry["sha256"]
        curve = pd.read_parquet(folder / record["artifacts"]["curve"]["file"])
        validate(schemas.CURVE, curve, "curve")
        assert len(curve) == record["curve_steps"] > 0


def test_training_changes_the_snapshotted_parameters(runs):
    for run, record in runs.records(runs.first):
        init, final = record["artifacts"]["weights"]["init"], record["artifacts"]["weights"]["final"]
        assert init["source"] == final["source"] != "tensors", run.dir
        assert final["same_as_init"] and final["n_params"] > 0
        assert final["l2_delta_from_init"] > 0 and init["sha256"] != final["sha256"], run.dir


def test_same_key_same_tables_and_seeds_differ(runs):
    for (run, first), (_, again) in zip(runs.records(runs.first), runs.records(runs.again), strict=True):
        assert first["environment"]["deterministic_algorithms"] is True
        assert first["arm_key"] == run.arm_key
        assert again["artifacts"]["tables"] == first["artifacts"]["tables"], run.dir  # identical table sha256s
    other = read_json(runs.first / runs.other_seed.run_json)
    assert other["artifacts"]["tables"] != read_json(runs.first / runs.spec.run_json)["artifacts"]["tables"]


def test_metrics_score_the_run_from_its_files(runs, monkeypatch):
    monkeypatch.chdir(runs.first)
    table, diagnostics = compute_run_metrics(runs.spec.run_json)
    metrics = registry.get_metrics(runs.name)
    assert list(table["metric"]) == list(metrics.METRICS)
    assert set(diagnostics["profiles"]) == set(metrics.PROFILES)


@pytest.mark.parametrize("name", [*registry.FAMILIES, EXAMPLE])
def test_modules_pass_their_protocols(name):
    """What the registry checks at load (every member present), and the types behind the members."""
    for part, protocol in PARTS.items():
        module = importlib.import_module(registry.module_name(name, part))
        registry.check(module, protocol)  # raises RegistryError naming the missing member
    family, schemas, metrics = registry.get_experiment(name), registry.get_schemas(name), registry.get_metrics(name)
    assert family.Params.model_config.get("extra") == "forbid"
    for overrides in family.SCALES.values():
        family.Params.model_validate(overrides)
    assert callable(getattr(family, "run", None)) == registry.is_runnable(family)
    assert issubclass(schemas.CURVE, Curve) and schemas.PREDICTIONS
    for table in schemas.PREDICTIONS.values():
        assert isinstance(table, PredictionTable)
        columns = set(table.schema.to_schema().columns)
        assert set(table.input_columns) | set(table.output_columns) <= columns
    assert metrics.METRICS and all(isinstance(metric, Metric) for metric in metrics.METRICS.values())
    assert all(isinstance(profile, Profile) for profile in metrics.PROFILES.values())
    package = Path(importlib.import_module(registry.module_name(name, "experiment")).__file__).parent
    assert (package / "README.md").is_file()


@pytest.mark.parametrize("name", NOT_RUNNABLE)
def test_a_family_that_cannot_run_is_refused(name, tmp_path):
    with pytest.raises(RuntimeError, match="cannot run"):
        run_arm(make_run(name, "ci", 0, {}), tmp_path / "run.json")
    assert not (tmp_path / "run.json").exists()
    # A shipped claim of the family, with one scale that it marks not_run asked to run instead.
    shipped = next(p for p in sorted((ROOT / "claims").glob("*/*.yaml")) if f"experiment: {name}\n" in p.read_text())
    claim = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    scale = next(s for s, spec in claim["scales"].items() if "seeds" in spec and "not_run" in spec)
    del claim["scales"][scale]["not_run"]
    folder = tmp_path / "claims" / shipped.parent.name
    folder.mkdir(parents=True)
    shutil.copy(shipped.parent / "paper.yaml", folder / "paper.yaml")
    (folder / shipped.name).write_text(yaml.safe_dump(claim, sort_keys=False), encoding="utf-8")
    found = collect_claims(tmp_path / "claims", ROOT)
    assert [issue.field for issue in found.issues] == [f"scales.{scale}.not_run"]
    assert f"experiment {name} cannot run" in found.problems()
