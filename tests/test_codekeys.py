"""Code keys follow the work: a run's key covers the runner core, its family's experiment and schemas and the shared
methods/tasks they import; a metrics job's key the scoring harness and its family's metrics; the verdict's key the
verdict engine. Each edit below is made to a copy of the package, and every key is recomputed from the copy."""

import shutil
from pathlib import Path

import pytest

from repro import codekeys, registry

FAMILIES = sorted(registry.FAMILIES)


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A copy of repro/ that code keys read instead of the installed sources; returns its root."""
    copy = tmp_path / "repro"
    shutil.copytree(codekeys.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    real, installed = codekeys.module_path, codekeys.PACKAGE

    def module_path(name):
        path = real(name)
        return None if path is None else copy / path.relative_to(installed)

    monkeypatch.setattr(codekeys, "module_path", module_path)
    monkeypatch.setattr(codekeys, "PACKAGE", copy)
    monkeypatch.setattr(codekeys, "TEMPLATES", copy / "templates")
    codekeys._repro_imports.cache_clear()
    yield copy
    codekeys._repro_imports.cache_clear()


def keys() -> dict[str, str]:
    codekeys._repro_imports.cache_clear()
    out = {f"run:{name}": codekeys.run_key(name) for name in FAMILIES}
    out |= {f"metrics:{name}": codekeys.metrics_key(name) for name in FAMILIES}
    out |= {f"property:{name}": codekeys.property_key(name) for name in sorted(registry.PROPERTIES)}
    return out | {"decision": codekeys.decision_key(), "verdict": codekeys.verdict_key()}


def changed_by(package: Path, relative: str, edit=lambda text: text + "\n# an edit\n") -> set[str]:
    before = keys()
    path = package / relative
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    after = keys()
    return {name for name in before if before[name] != after[name]}


def _docstring_edit(text: str) -> str:
    assert '"""' in text
    return text.replace('"""', '"""Edited. ', 1)


def test_a_family_metric_docstring_re_scores_that_family_only(package):
    changed = changed_by(package, "families/gdro_rlvr/metrics.py", _docstring_edit)
    assert changed == {"metrics:gdro_rlvr"}  # no run key, no other family, no decision: verdicts follow the files


def test_a_shared_metric_definition_re_scores_the_families_that_use_it(package):
    changed = changed_by(package, "families/care_warm_start/metrics.py", _docstring_edit)
    assert changed == {"metrics:care_warm_start", "metrics:care_rlvr", "metrics:care_vlm"}


@pytest.mark.parametrize("module", ["claims.py", "verdict.py", "stats.py", "report.py", "ledger.py", "schemas.py"])
def test_the_claim_schema_and_verdict_engine_re_run_no_run_and_no_metrics_job(package, module):
    changed = changed_by(package, module)
    assert changed and not {name for name in changed if name.startswith(("run:", "metrics:"))}, changed


def test_a_family_training_code_re_runs_that_family_only(package):
    changed = changed_by(package, "families/dro_clip/experiment.py")
    assert changed == {"run:dro_clip"}


def test_a_family_schema_re_runs_and_re_scores_that_family(package):
    changed = changed_by(package, "families/planted/schemas.py")
    assert changed == {"run:planted", "metrics:planted"}


def test_a_warm_start_change_re_runs_the_families_built_on_it(package):
    # care_rlvr's parameters embed the warm start's (its prerequisite run): a change to it is a change to them
    changed = changed_by(package, "families/care_warm_start/experiment.py")
    assert {name for name in changed if name.startswith("run:")} == {"run:care_warm_start", "run:care_rlvr"}


def test_a_shared_method_re_runs_exactly_the_families_that_import_it(package):
    users = {f"run:{name}" for name in FAMILIES if "methods/grpo.py" in _closure(name)}
    assert users >= {"run:gdro_rlvr", "run:care_rlvr"}
    changed = changed_by(package, "methods/grpo.py")
    assert {name for name in changed if name.startswith("run:")} == users


def test_the_runner_core_re_runs_everything_and_re_scores_nothing(package):
    changed = changed_by(package, "runner.py")
    assert {name for name in changed if name.startswith("run:")} == {f"run:{name}" for name in FAMILIES}
    assert not {name for name in changed if name.startswith("metrics:")}


def test_the_runner_core_imports_neither_claims_nor_metrics():
    closure = {codekeys.label(path) for path in codekeys.module_closure("repro.runner")}
    assert not {path for path in closure if path.startswith(("repro/claims", "repro/metrics", "repro/plan"))}, closure
    assert not {path for path in closure if path.startswith("repro/families/")}, closure


def _closure(name: str) -> set[str]:
    paths = codekeys.module_closure(registry.module_name(name, "experiment"))
    return {codekeys.label(path).removeprefix("repro/") for path in paths}
