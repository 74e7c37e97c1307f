"""MLflow: one experiment per paper, a run per claim × scale, training runs linked; re-syncing never
duplicates; works with the default SQLite store and with a tracking server."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from repro.tracking import count_runs, sync

from .conftest import ROOT
from .realsystems.systems import mlflow_server

pytestmark = pytest.mark.workflow


def _verdicts(workdir: Path) -> list[Path]:
    return sorted((workdir / "results/verdicts/ci").glob("*.json"))


def _check_layout(uri: str, workdir: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("repro/0000.00001")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens its runs table
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.repro_claim_id = 'planted-real-effect'")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == "verified: planted-real-effect [ci]"  # the verdict shows in the runs list
    assert run.data.tags["repro_verdict"] == "verified" and run.data.tags["repro_scale"] == "ci"
    assert run.data.tags["repro_kind"] == "reproduction" and run.data.tags["repro_gate"] == "decision"
    assert run.data.tags["repro_rule_changed_after_evidence"] == "false" and run.data.tags["repro_fragile"] == "false"
    assert "Tested hypothesis" in run.data.tags["mlflow.note.content"]
    assert "Linked training runs" in run.data.tags["mlflow.note.content"]
    assert {"effect", "ci_low", "ci_high", "p_verify_adjusted", "mde"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"planted-real-effect.json", "planted-real-effect.md", "planted-real-effect.png"} <= artifacts
    linked = run.data.tags["repro_training_runs"].split(",")
    assert len(linked) == 30  # 3 arms × 10 seeds
    training = client.get_run(linked[0])
    assert training.data.tags["repro_kind"] == "training"
    arm_key, seed = training.data.tags["repro_arm_key"], training.data.tags["repro_seed"]
    # named by family, the claims' names for the arm and seed, the content key beside them
    assert re.fullmatch(rf"planted \S+ seed{seed} \[ci {arm_key}\]", training.info.run_name), training.info.run_name
    assert "planted-real-effect" in training.data.tags["repro_claims"]
    assert len(client.get_metric_history(linked[0], "curve.loss")) > 10


def _as_an_older_version_left_it(uri: str) -> None:
    """The store as repro wrote it before runs were named by verdict and arm: no experiment kind, runs named by key."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("repro/0000.00001")
    client.delete_experiment_tag(experiment.experiment_id, "mlflow.experimentKind")
    for run in client.search_runs([experiment.experiment_id], max_results=5000):
        client.update_run(run.info.run_id, name=run.data.tags["repro_key"])


def test_sqlite_store_is_idempotent(planted_workflow, monkeypatch):
    workdir, _ = planted_workflow
    monkeypatch.chdir(workdir)
    uri = f"sqlite:///{workdir}/mlflow.db"  # written by the workflow's track_mlflow rule
    counts = count_runs(uri)
    assert counts["repro/0000.00001"] > 15
    _as_an_older_version_left_it(uri)
    receipt = sync(_verdicts(workdir), "ci", uri)
    assert receipt["created"] == 0
    assert count_runs(uri) == counts
    _check_layout(uri, workdir)


@pytest.mark.server
def test_tracking_server(planted_workflow, monkeypatch, tmp_path):
    workdir, _ = planted_workflow
    monkeypatch.chdir(workdir)
    backend = f"sqlite:///{tmp_path}/server.db"
    with mlflow_server(backend, tmp_path / "art", tmp_path / "server.log", workers=1) as uri:
        first = sync(_verdicts(workdir), "ci", uri)
        assert first["created"] > 15
        counts = count_runs(uri)
        second = sync(_verdicts(workdir), "ci", uri)
        assert second["created"] == 0 and count_runs(uri) == counts
        _check_layout(uri, workdir)


def test_mlflow_is_loaded_by_the_job_server_for_the_first_track_job_only(planted_workflow, tmp_path):
    """The server's warm-up leaves mlflow out (most jobs never use it); the server imports it before it forks the
    first ``track`` job and keeps it, so each later paper's sync starts warm. A served sync writes what the job's
    own process writes."""
    from .test_jobserver import _forks, _repro, _start

    workdir, _ = planted_workflow
    verdict = str(_verdicts(workdir)[0])
    log = tmp_path / "job_server.log"
    jobs, path = _start(log, ROOT)
    try:
        assert "loaded for" not in log.read_text()
        receipts = []
        for name, socket_path in (("first", path), ("second", path), ("own", None)):
            out = tmp_path / f"{name}.json"
            args = ["track", "--scale", "ci", "--uri", f"sqlite:///{tmp_path / name}.db", "--out", str(out), verdict]
            proc = _repro(args, workdir, socket_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            output, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, output
            receipt = json.loads(out.read_text())  # MLflow's run ids are random: compare what was written
            receipts.append({k: sorted(v) if isinstance(v, dict) else v for k, v in receipt.items() if k != "uri"})
        loaded = re.findall(r"^repro job server: loaded for track: (.*)$", log.read_text(), re.MULTILINE)
        assert len(loaded) == 1 and "mlflow" in loaded[0].split(", "), log.read_text()
        assert "repro.tracking:remember_schema_head" in loaded[0]  # read once, before the first fork
        frozen = [int(n) for n in re.findall(r"\((\d+) objects frozen\)", log.read_text())]
        # the light server's warm-up, the server's, then what it loaded is frozen too (repro.jobwarm.freeze_heap)
        assert len(frozen) == 3 and frozen[2] > frozen[1] > frozen[0]
        assert [rest for _, rest in _forks(log)].count(f"repro track in {workdir}") == 2
        assert receipts[0] == receipts[1] == receipts[2] and receipts[0]["created"] > 0
    finally:
        jobs.stop()
