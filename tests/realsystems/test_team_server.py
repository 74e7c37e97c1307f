"""A team MLflow server on PostgreSQL: the workflow's tracking rule (rules/tracking.smk), pointed at it through
$MLFLOW_TRACKING_URI, writes experiments, runs, tags, metrics and artifacts into a real PostgreSQL database (checked
in the database itself, not only through MLflow); a second sync creates nothing; two workflows syncing different
claims at once lose nothing and duplicate nothing; with the database down the verdicts are unaffected and the
tracking job fails naming the URI, and the next sync completes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from repro.files import read_json

from ..conftest import ROOT
from ..test_tracking import _check_layout
from .systems import create_database, mlflow_server, postgres_cluster, query

pytestmark = [pytest.mark.workflow, pytest.mark.realsystem]

SYNC_ONLY = ("--forcerun", "track_mlflow", "--rerun-triggers", "mtime", "--config", "job_server=False")
"""Only the tracking job runs: what it reads is finished (copied from the planted workflow)."""


@pytest.fixture(scope="module")
def cluster():
    with postgres_cluster() as pg:
        yield pg


@pytest.fixture
def server(cluster, tmp_path, request):
    """A fresh database on the cluster and an `mlflow server` on it with a local artifact root."""
    backend = create_database(cluster["port"], request.node.name[:40].lower())
    with mlflow_server(backend, tmp_path / "artifacts", tmp_path / "server.log") as uri:
        yield {"uri": uri, "backend": backend, "artifacts": tmp_path / "artifacts", "cluster": cluster}


def _copy(planted: Path, target: Path, keep: set[str] | None = None) -> tuple[Path, Path]:
    """A copy of the finished planted workflow (its claims folder cut to ``keep`` when given)."""
    shutil.copytree(
        planted, target, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db*", "mlflow-ci.json", "mlflow")
    )
    claims = target / "claims" / "0000.00001"
    if keep is not None:
        for path in claims.glob("planted-*.yaml"):
            if path.stem not in keep:
                path.unlink()
    return target, target / "claims"


def _track(workdir: Path, claims: Path, uri: str, **env: str) -> subprocess.Popen:
    """The workflow, asked for its MLflow receipt, with the tracking store given by $MLFLOW_TRACKING_URI."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", "1"]
    cmd += ["results/mlflow-ci.json", *SYNC_ONLY, f"claims={claims}"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, **env}
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen) -> str:
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out[-4000:]
    return out


def _active(uri: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("repro/0000.00001")
    return client.search_runs([experiment.experiment_id], max_results=5000)


def _in_database(backend: str) -> dict[str, int]:
    """What PostgreSQL itself holds: active runs, verdict tags, metric rows."""
    sql = {
        "runs": "SELECT count(*) FROM runs WHERE lifecycle_stage = 'active'",
        "verdict_tags": "SELECT count(*) FROM tags WHERE key = 'repro_verdict'",
        "metric_rows": "SELECT count(*) FROM metrics",
    }
    return {name: query(backend, statement)[0][0] for name, statement in sql.items()}


def test_the_tracking_rule_writes_a_postgresql_backed_server_once(planted_workflow, server, tmp_path):
    workdir, claims = _copy(planted_workflow[0], tmp_path / "workflow")
    _finish(_track(workdir, claims, server["uri"]))
    receipt = read_json(workdir / "results/mlflow-ci.json")
    assert receipt["uri"] == server["uri"] and receipt["created"] > 15

    _check_layout(server["uri"], workdir)  # experiment kind, names, tags, metrics, artifacts, nested runs, curves
    runs = _active(server["uri"])
    held = _in_database(server["backend"])
    assert held["runs"] == len(runs) and held["verdict_tags"] == len(receipt["claims"]) and held["metric_rows"] > 100
    stored = {p.name for p in server["artifacts"].rglob("*") if p.is_file()}
    assert {"planted-real-effect.md", "planted-real-effect.png", "run.json", "environment.json"} <= stored

    _finish(_track(workdir, claims, server["uri"]))  # forced again: nothing new
    again = read_json(workdir / "results/mlflow-ci.json")
    assert again["created"] == 0 and again["unchanged"] == receipt["created"]
    assert _in_database(server["backend"]) == held


def test_two_workflows_syncing_different_claims_at_once_lose_nothing(planted_workflow, server, tmp_path):
    planted = planted_workflow[0]
    names = sorted(p.stem for p in (planted / "claims/0000.00001").glob("planted-*.yaml"))
    # Both halves use the arms of the real-effect claim family, so their training runs overlap.
    first = {n for i, n in enumerate(names) if i % 2 == 0}
    second = set(names) - first
    a, b = _copy(planted, tmp_path / "a", first), _copy(planted, tmp_path / "b", second)
    jobs = [_track(*a, server["uri"]), _track(*b, server["uri"])]
    for job in jobs:
        _finish(job)
    receipts = [read_json(w / "results/mlflow-ci.json") for w, _ in (a, b)]
    shared = set(receipts[0]["training"]) & set(receipts[1]["training"])
    assert shared, "the two halves share no training run: the test would not exercise concurrent writes"

    runs = _active(server["uri"])
    keys = Counter(run.data.tags["repro_key"] for run in runs)
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]  # no duplicates
    by_id = {run.info.run_id: run for run in runs}
    for run in runs:
        assert run.data.tags.get("repro_content_sha"), f"{run.info.run_name} half-written"
    claim_runs = [r for r in runs if r.data.tags["repro_kind"] != "training"]
    assert {r.data.tags["repro_claim_id"] for r in claim_runs} == set(receipts[0]["claims"]) | set(
        receipts[1]["claims"]
    )
    for run in claim_runs:  # every link resolves to a live training run that names the claim back
        for linked in filter(None, run.data.tags.get("repro_training_runs", "").split(",")):
            assert linked in by_id, f"{run.info.run_name} links to a run that was deleted: {linked}"
            assert by_id[linked].data.tags[f"repro_claim.{run.data.tags['repro_claim_id']}"] == "1"
    # The same store as one sync of all claims makes (the planted workflow's own SQLite store).
    single = Counter(r.data.tags["repro_key"] for r in _active(f"sqlite:///{planted}/mlflow.db"))
    assert keys == single
    # Each training run's list of claims names every claim that uses it, with no later sync to mend it (two syncs
    # at once may each have missed the other's tag when they first wrote the list).
    for run in runs:
        if run.data.tags["repro_kind"] == "training":
            tagged = sorted(k.removeprefix("repro_claim.") for k in run.data.tags if k.startswith("repro_claim."))
            assert run.data.tags["repro_claims"] == ",".join(tagged)


def test_syncs_tagging_one_training_run_at_the_same_instant_all_succeed(server):
    """The race the workflow-level test above meets only now and then: syncs that share a training run tag it with
    their claims, its claim list and its parent at the same instant. A tag missing from the run is inserted by each of
    them, and PostgreSQL refuses all inserts of one key but the first (unique key ``tag_pk``); each sync must still
    succeed, and the run's claim list must name all four when they are done. Four threads, each one sync's client, tag
    the same fresh run at a barrier, 15 runs in a row."""
    from mlflow import MlflowClient

    from repro.tracking_writers import record_users

    client = MlflowClient(tracking_uri=server["uri"])
    experiment = client.create_experiment("repro/race")
    parent = client.create_run(experiment).info.run_id
    runs = [client.create_run(experiment, tags={"repro_key": f"run{i}"}).info.run_id for i in range(15)]
    syncs = 4
    barrier, errors = threading.Barrier(syncs), []

    def sync(claim: str) -> None:
        for run_id in runs:
            tags = client.get_run(run_id).data.tags
            barrier.wait(timeout=120)
            try:
                record_users(client, run_id, tags, parent, [claim])
            except Exception as exc:
                errors.append(f"{claim} on {run_id}: {str(exc).splitlines()[0][:200]}")

    threads = [threading.Thread(target=sync, args=(f"claim{i}",)) for i in range(syncs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    for run_id in runs:
        tags = client.get_run(run_id).data.tags
        assert {k for k in tags if k.startswith("repro_claim.")} == {f"repro_claim.claim{i}" for i in range(syncs)}
        assert tags["mlflow.parentRunId"] == parent
        # the list is complete after these syncs, with no later sync to mend it
        assert tags["repro_claims"] == ",".join(f"claim{i}" for i in range(syncs))


def test_with_the_database_down_the_tracking_job_fails_naming_the_uri_and_the_verdicts_stand(
    planted_workflow, server, tmp_path
):
    workdir, claims = _copy(planted_workflow[0], tmp_path / "workflow")
    verdicts = {p.name: p.read_bytes() for p in (workdir / "results/verdicts/ci").iterdir()}
    server["cluster"]["stop"]()
    try:
        # The server then holds each request while it retries its database; the client gives up on a request after
        # $MLFLOW_HTTP_REQUEST_TIMEOUT (repro's bound: 30 s; 5 here), twice retried.
        job = _track(workdir, claims, server["uri"], MLFLOW_HTTP_REQUEST_TIMEOUT="5")
        job.communicate(timeout=600)
    finally:
        server["cluster"]["start"]()
    assert job.returncode != 0
    log = "".join(p.read_text() for p in sorted((workdir / "logs/track_mlflow/ci").glob("*.log")))  # per paper
    assert f"MLflow store {server['uri']} not written: server did not answer within 5 s, after 2 retries" in log, log[
        -3000:
    ]
    assert not (workdir / "results/mlflow-ci.json").exists()
    assert {p.name: p.read_bytes() for p in (workdir / "results/verdicts/ci").iterdir()} == verdicts

    _finish(_track(workdir, claims, server["uri"]))  # the database back: the sync completes, once
    keys = Counter(run.data.tags["repro_key"] for run in _active(server["uri"]))
    assert max(keys.values()) == 1 and len(keys) == len(_active(f"sqlite:///{planted_workflow[0]}/mlflow.db"))
