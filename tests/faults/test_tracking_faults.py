"""A dead or busy MLflow store: an unreachable tracking server or a SQLite file another process holds a write lock on.
The verdicts are unaffected; the tracking job fails within a bounded time naming the URI (or waits for the lock, and
finishes once it is released); a later sync completes without duplicate runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.tracking import TrackingError, count_runs, sync

from ..conftest import snakemake
from .conftest import copy_finished as _copy

pytestmark = pytest.mark.workflow


EXPERIMENT = "repro/0000.00002"
RUNS = 7
"""The planted claim's run and its 6 training runs (3 arms × 2 seeds)."""
BOUND_S = 60
"""Generous: a fault that takes longer than this to be reported counts as a hang."""
PROCESS_S = 180
"""How long a whole ``repro track`` process may take to sync the planted paper (about 9 s on an idle machine, several
times that beside another test's workflow on two cores): a wait, not a claim about the product."""
MISSING_ONLY = ("--rerun-triggers", "mtime")
"""Only what is missing is made again: source edits in the checkout while the tests run (which change the code keys in
the rules' params) do not rerun the training runs and change their wall times in the verdicts."""
NO_SERVER = {"job_server": False}
"""The job server's imports (torch, transformers) cost more than the three jobs these workflows remake."""


def _sqlite(workdir: Path) -> str:
    return f"sqlite:///{workdir}/mlflow.db"


def _outputs(workdir: Path) -> dict[str, bytes]:
    """What the workflow decided, byte for byte: verdicts, cards, plots, the verdict table and the report."""
    files = [*sorted((workdir / "results/verdicts/ci").iterdir()), *sorted((workdir / "results").glob("*-ci.*"))]
    return {str(p.relative_to(workdir)): p.read_bytes() for p in files if "mlflow" not in p.name}


def _track(workdir: Path, uri: str, **env: str) -> subprocess.Popen:
    """The tracking job's command (rules/tracking.smk) on the workflow's verdicts, its stderr piped."""
    cmd = [sys.executable, "-m", "repro", "track", "--scale", "ci", "--uri", uri, "--out", "results/mlflow-ci.json"]
    cmd += [str(p) for p in sorted((workdir / "results/verdicts/ci").glob("*.json"))]
    return subprocess.Popen(cmd, cwd=workdir, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})


def _until(stream, text: str):
    """Lines of ``stream`` up to the first holding ``text`` (all of it when none does: it ends with its process)."""
    for line in iter(stream.readline, ""):
        yield line
        if text in line:
            return


class _WriteLock:
    """A write lock on a SQLite file held by this process (another process than the tracking job's)."""

    def __init__(self, path: Path):
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")
        self.connection.close()


def _complete(uri: str) -> list:
    """Every active run of the experiment, each checked to be completely written."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    for run in runs:
        assert run.info.status in ("FINISHED", "FAILED"), (run.info.run_name, run.info.status)
        assert run.data.tags.get("repro_content_sha"), run.info.run_name
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        training = run.data.tags["repro_kind"] == "training"
        expected = {"run.json", "environment.json"} if training else {f"good-claim.{x}" for x in ("json", "md", "png")}
        assert expected <= artifacts, (run.info.run_name, artifacts)
    return runs


def test_an_unreachable_server_fails_the_tracking_job_naming_it_and_leaves_the_verdicts(finished, tmp_path):
    workdir = _copy(finished, tmp_path)
    _, claims = finished
    before, counts = _outputs(workdir), count_runs(_sqlite(workdir))
    assert counts == {EXPERIMENT: RUNS}
    # The verdicts, table and report are made again, now with the tracking server down.
    shutil.rmtree(workdir / "results/verdicts")
    for name in [*before, "results/mlflow-ci.json"]:
        (workdir / name).unlink(missing_ok=True)
    with socket.socket() as dead:  # bound, never listening: connections to it are refused, and no one else gets it
        dead.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{dead.getsockname()[1]}"
        proc = snakemake(
            workdir, *MISSING_ONLY, claims=claims, config=NO_SERVER, check=False, env={"MLFLOW_TRACKING_URI": uri}
        )
        assert proc.returncode != 0
        log = (workdir / "logs/track_mlflow/ci/0000.00002.log").read_text()  # the planted paper's tracking job
        assert f"MLflow store {uri} not written: server unreachable (Connection refused)" in log, log[-2000:]
        assert "Traceback" not in log, log[-2000:]
        assert not (workdir / "results/mlflow-ci.json").exists()
        assert _outputs(workdir) == before  # the verdicts do not depend on MLflow
        # The tracking job alone, timed (the workflow around it takes as long as the machine's load makes it).
        start = time.monotonic()
        _, stderr = _track(workdir, uri).communicate(timeout=PROCESS_S)
        elapsed = time.monotonic() - start
    assert f"MLflow store {uri} not written: server unreachable (Connection refused)" in stderr, stderr[-2000:]
    assert elapsed < BOUND_S, f"the tracking job took {elapsed:.0f} s to report a refused connection"

    # The server back (here: the SQLite store of the first run), the next workflow syncs: nothing twice.
    snakemake(workdir, *MISSING_ONLY, claims=claims, config=NO_SERVER)
    receipt = json.loads((workdir / "results/mlflow-ci.json").read_text())
    assert (receipt["created"], receipt["unchanged"]) == (0, RUNS)
    assert count_runs(_sqlite(workdir)) == counts


def test_a_server_that_never_answers_fails_the_sync_naming_it(finished, tmp_path, monkeypatch):
    """A server that accepts connections and then says nothing: each request times out, a bounded number of times."""
    workdir = _copy(finished, tmp_path)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")  # 30 s by default (repro.tracking.HTTP_BOUNDS)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(TrackingError) as raised:
            sync(sorted((workdir / "results/verdicts/ci").glob("*.json")), "ci", uri)
        elapsed = time.monotonic() - start
    assert f"MLflow store {uri} not written: server did not answer within 1 s, after 2 retries" in str(raised.value)
    assert elapsed < BOUND_S, f"{elapsed:.0f} s to give up on a silent server"


def test_a_sqlite_store_locked_past_the_wait_fails_naming_it_then_syncs_once_released(finished, tmp_path):
    workdir = _copy(finished, tmp_path)
    counts = count_runs(_sqlite(workdir))
    (workdir / "results/mlflow-ci.json").unlink()
    lock = _WriteLock(workdir / "mlflow.db")
    try:
        job = _track(workdir, _sqlite(workdir), REPRO_MLFLOW_WAIT_S="2")
        _, stderr = job.communicate(timeout=BOUND_S)
    finally:
        lock.release()

    assert job.returncode == 1, stderr
    assert f"MLflow store {_sqlite(workdir)} not written: another process held a write lock" in stderr, stderr
    assert "for the 2 s waited (REPRO_MLFLOW_WAIT_S)" in stderr and "Traceback" not in stderr, stderr
    assert not (workdir / "results/mlflow-ci.json").exists()

    job = _track(workdir, _sqlite(workdir))
    _, stderr = job.communicate(timeout=PROCESS_S)
    assert job.returncode == 0, stderr
    assert json.loads((workdir / "results/mlflow-ci.json").read_text())["created"] == 0
    assert count_runs(_sqlite(workdir)) == counts


def test_a_sqlite_store_locked_for_a_while_is_waited_for_and_synced_once(finished, tmp_path, monkeypatch):
    workdir = _copy(finished, tmp_path)
    monkeypatch.chdir(workdir)  # the verdicts name their runs' folders relative to it
    (workdir / "mlflow.db").unlink()
    uri = _sqlite(workdir)
    lock = _WriteLock(workdir / "mlflow.db")  # a new, empty store, locked before the job starts
    try:
        job = _track(workdir, uri)
        said = "".join(_until(job.stderr, "waiting up to"))  # released once the job says it waits for it
        assert f"MLflow store {uri} is locked by another process: waiting up to 60 s" in said, said
    finally:
        lock.release()
    _, stderr = job.communicate(timeout=PROCESS_S)

    assert job.returncode == 0, stderr
    assert json.loads((workdir / "results/mlflow-ci.json").read_text())["created"] == RUNS
    assert len(_complete(uri)) == RUNS
    assert sync(sorted((workdir / "results/verdicts/ci").glob("*.json")), "ci", uri)["created"] == 0
    assert count_runs(uri) == {EXPERIMENT: RUNS}


def test_a_store_failing_midway_leaves_no_half_written_run_behind_the_next_sync(finished, tmp_path, monkeypatch):
    """The store goes away after a run is created and before it is complete (injected: the second artifact upload
    fails as SQLite's lock error does); the next sync replaces that run, it does not keep it, nor add one."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    workdir = _copy(finished, tmp_path)
    (workdir / "mlflow.db").unlink()
    monkeypatch.chdir(workdir)
    uri = _sqlite(workdir)
    verdicts = sorted((workdir / "results/verdicts/ci").glob("*.json"))
    upload = MlflowClient.log_artifact
    uploads = []

    def failing_upload(self, *args, **kwargs):
        uploads.append(args)
        if len(uploads) == 2:  # the claim run's card, after its verdict JSON
            raise MlflowException("(sqlite3.OperationalError) database is locked")
        return upload(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_artifact", failing_upload)
    with pytest.raises(TrackingError, match=f"MLflow store {uri} not written: database is locked"):
        sync(verdicts, "ci", uri)
    monkeypatch.setattr(MlflowClient, "log_artifact", upload)
    assert count_runs(uri) == {EXPERIMENT: 1}  # the claim run, half-written

    assert sync(verdicts, "ci", uri)["created"] == RUNS
    assert len(_complete(uri)) == RUNS
    assert count_runs(uri) == {EXPERIMENT: RUNS}
    assert sync(verdicts, "ci", uri)["created"] == 0
