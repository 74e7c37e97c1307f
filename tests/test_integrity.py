"""Integrity checks on real tiny runs of the planted family: a decoy weight snapshot is caught, untrained negative
controls are exempt from training but not from a sound snapshot, and a model that trained and collapsed to a
constant output is told apart from a stub."""

import ast
from dataclasses import replace

import pandas as pd
import pytest

from repro import integrity, registry
from repro.files import read_json, sha256_file, write_parquet
from repro.integrity import RunEvidence
from repro.metrics.scoring import compute_run_metrics
from repro.plan import make_run
from repro.runner import run_arm

ARMS = {
    "good": {},
    "stub": {"plant": "constant_predictions"},
    "untrained": {"plant": "no_training"},
    "decoy": {"plant": "decoy_weights"},
    "collapsed": {"plant": "collapse"},
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder holding seeds 0 and 1 of every arm of ARMS; tests run inside it (run folders are relative)."""
    root = tmp_path_factory.mktemp("integrity")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for overrides in ARMS.values():
            for seed in (0, 1):
                spec = make_run("planted", "ci", seed, overrides)
                assert run_arm(spec, spec.run_json)["status"] == "completed"
    return root


@pytest.fixture
def runs(workdir, monkeypatch) -> dict[str, list[RunEvidence]]:
    """RunEvidence of both seeds of each arm, as the verdict loads it."""
    monkeypatch.chdir(workdir)
    out = {}
    for arm, overrides in ARMS.items():
        out[arm] = []
        for seed in (0, 1):
            spec = make_run("planted", "ci", seed, overrides)
            table, diagnostics = compute_run_metrics(spec.run_json)
            metrics = dict(zip(table["metric"], table["value"], strict=True))
            record = read_json(spec.run_json)
            out[arm].append(RunEvidence(arm, spec, record, metrics, {"status": "ok", "error": None, **diagnostics}))
    return out


def failed_checks(runs: list[RunEvidence], untrained: frozenset[str] = frozenset()) -> list[str]:
    checks = integrity.check_runs(runs, registry.module_name("planted", "experiment"), [], untrained)
    return [c.name for c in checks if not c.passed]


def test_snapshots_record_what_was_trained(runs):
    good = runs["good"][0].record["artifacts"]["weights"]
    assert good["init"]["source"] == good["final"]["source"] == "module"
    assert good["final"]["n_tensors"] == 2 and good["final"]["n_params"] == 9  # nn.Linear(8, 1): weight and bias
    assert good["final"]["same_as_init"]
    decoy = runs["decoy"][0].record["artifacts"]["weights"]
    assert decoy["final"]["source"] == "tensors" and decoy["final"]["l2_delta_from_init"] > 0


def test_a_decoy_snapshot_is_invalid_even_though_it_changed(runs):
    assert failed_checks(runs["good"] + runs["decoy"]) == ["weights_changed"]
    check = integrity.check_weights_changed(runs["decoy"], frozenset({"decoy"}))  # exempt from training, not this
    assert not check.passed and integrity.LOOSE_TENSORS in check.detail
    assert "1 more run" in check.detail


def test_a_final_snapshot_of_another_object_is_invalid(runs):
    run = runs["good"][0]
    weights = run.record["artifacts"]["weights"]
    other = {"init": weights["init"], "final": {**weights["final"], "same_as_init": False}}
    changed = replace(run, record={**run.record, "artifacts": {**run.record["artifacts"], "weights": other}})
    check = integrity.check_weights_changed([changed])
    assert not check.passed and "not of the object and parameter tensors snapshotted at 'init'" in check.detail


def test_untrained_negative_controls_are_exempt_from_training_only(runs):
    assert failed_checks(runs["good"] + runs["untrained"]) == ["weights_changed"]
    assert failed_checks(runs["good"] + runs["untrained"], frozenset({"untrained"})) == []


def test_a_stub_is_invalid_and_not_a_collapse(runs):
    assert failed_checks(runs["good"] + runs["stub"]) == ["weights_changed", "predictions_depend_on_inputs"]
    check = integrity.check_input_dependence(runs["good"] + runs["stub"])
    assert not check.passed and "its weights did not change" in check.detail
    # Exempt from training as a negative control, its input-blind outputs still make it invalid.
    assert failed_checks(runs["good"] + runs["stub"], frozenset({"stub"})) == ["predictions_depend_on_inputs"]
    assert integrity.collapsed_runs(runs["good"] + runs["stub"]) == []


def test_a_trained_model_that_collapsed_is_not_a_stub(runs):
    collapsed = runs["collapsed"]
    assert all(r.metrics_status["input_dependence"]["items.distinct_output_profiles"] == 1 for r in collapsed)
    assert failed_checks(runs["good"] + collapsed) == []
    assert integrity.collapsed_runs(runs["good"] + collapsed) == [
        {"dir": str(r.spec.dir), "arm": "collapsed", "seed": r.spec.seed, "table": "items"} for r in collapsed
    ]


def test_a_collapse_needs_a_moving_curve_and_changed_weights(runs, workdir):
    run = runs["collapsed"][0]
    curve = pd.read_parquet(run.spec.dir / "curve.parquet")
    flat = workdir / run.spec.dir / "curve-flat.parquet"
    write_parquet(flat, curve.assign(loss=curve["loss"].iloc[0]))
    artifacts = run.record["artifacts"]
    flat_curve = {**artifacts["curve"], "file": flat.name, "sha256": sha256_file(flat)}
    weights = artifacts["weights"]
    frozen = {"init": weights["init"], "final": {**weights["final"], "l2_delta_from_init": 0.0}}
    tampered = {**artifacts["curve"], "sha256": "0" * 64}
    for artifacts_change, reason in (
        ({"curve": flat_curve}, "its training curve did not move"),
        ({"weights": frozen}, "its weights did not change"),
        ({"curve": tampered}, "sha256 mismatch"),
    ):
        changed = replace(run, record={**run.record, "artifacts": {**artifacts, **artifacts_change}})
        check = integrity.check_input_dependence([changed])
        assert not check.passed and reason in check.detail
        assert integrity.collapsed_runs([changed]) == []


def _probe_package(tmp_path, monkeypatch, name: str, helper_imports: str, experiment_imports: str = "") -> str:
    """A throw-away package ``name`` (its name starts with ``repro`` so the import walk follows it): an experiment
    module that imports a helper module, which imports ``helper_imports``."""
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text(f"{helper_imports}\n")
    (package / "experiment.py").write_text(f"from {name} import helper\n{experiment_imports}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}.experiment"


@pytest.mark.parametrize(
    ("name", "imports", "named"),
    [
        ("repro_probe_stats", "from repro.stats import summarize", "repro.stats"),
        ("repro_probe_gates", "import repro.decide_gates", "repro.decide_gates"),
        ("repro_probe_claims", "from repro import claims", "repro.claims"),
        ("repro_probe_scoring", "from repro.metrics.estimators import pass_at_k", "repro.metrics.estimators"),
        ("repro_probe_family", "from repro.families.dro_clip import metrics", "repro.families.dro_clip.metrics"),
    ],
)
def test_an_experiment_may_not_import_judging_code_even_through_a_helper(tmp_path, monkeypatch, name, imports, named):
    module = _probe_package(tmp_path, monkeypatch, name, imports)
    check = integrity.check_no_metric_literals(module, [])
    assert not check.passed
    assert f"helper.py imports {named}: experiments may not score themselves" in check.detail


def test_shared_runner_code_is_allowed_and_the_judging_set_is_derived(tmp_path, monkeypatch):
    module = _probe_package(tmp_path, monkeypatch, "repro_probe_ok", "from repro.tables import Strict\nimport torch")
    assert integrity.check_no_metric_literals(module, []).passed
    judging = integrity.judging_modules()
    # what the verdict is built from, never what the runner needs
    assert {"repro.verdict", "repro.stats", "repro.decide_reproduction", "repro.multiplicity"} <= judging
    assert not judging & {"repro.runner", "repro.files", "repro.tables", "repro.runspec", "repro.registry"}


@pytest.mark.parametrize("family", sorted(registry.FAMILIES))
def test_every_shipped_family_measures_without_judging_code(family):
    check = integrity.check_no_metric_literals(registry.module_name(family, "experiment"), [])
    assert check.passed, check.detail


@pytest.mark.parametrize("family", sorted(registry.FAMILIES))
def test_the_job_servers_warm_up_covers_every_source_the_literal_check_reads(family, monkeypatch):
    """The server scans each family's sources once (repro.jobwarm); a decision in its fork then parses none."""
    module = registry.module_name(family, "experiment")
    integrity._literals.cache_clear()  # as in a fresh server, whatever other tests scanned
    integrity._imports.cache_clear()
    integrity.scan_sources(module)

    class NoParse:  # integrity's own `ast`, less parse (pytest itself parses with the real one)
        def __getattr__(self, name):
            return getattr(ast, name)

        @staticmethod
        def parse(*args, **kwargs):
            raise AssertionError("parsed a source file the warm-up had not scanned")

    monkeypatch.setattr(integrity, "ast", NoParse())
    assert integrity.check_no_metric_literals(module, [(0.123456789, 1e-9)]).passed
