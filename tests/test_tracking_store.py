"""Where repro writes MLflow's SQL store by a faster path than MLflow's own, the store reads back the same. A new
run's metrics written in bulk read back exactly as ``log_batch`` writes them: every point of every history, each
key's latest value (step, then timestamp, then value decide; the first logged wins a tie), NaN and infinities
sanitised, duplicates dropped; the bulk path steps aside where it does not apply. The store's newest schema revision
is read once per process, and a store of an older schema is still refused."""

from __future__ import annotations

import math

import pytest

from repro.tracking_bulk import log_new_run_metrics

from .realsystems.systems import create_database, postgres_cluster


def _metrics():
    from mlflow.entities import Metric

    rows = [
        ("loss", 1.0, 0, 0),
        ("loss", 0.5, 0, 1),
        ("loss", 0.5, 0, 1),  # a duplicate: one row
        ("loss", 0.25, 0, 2),
        ("loss", 0.75, 0, 2),  # same step, larger value: the latest
        ("tie", 3.0, 5, 4),
        ("tie", 2.0, 9, 4),  # same step, later timestamp wins over the larger value
        ("early", 7.0, 0, 9),
        ("early", 8.0, 0, 3),  # logged later but an earlier step: not the latest
        ("nan", float("nan"), 0, 0),
        ("nan", 1.0, 0, 1),
        ("nan_last", 1.0, 0, 0),
        ("nan_last", float("nan"), 0, 1),
        ("inf", float("inf"), 0, 0),
        ("inf", float("-inf"), 0, 1),
        ("single", 42.0, 0, 0),
    ]
    rows += [("curve.long", math.sin(step), 0, step) for step in range(2500)]  # more than one log_batch holds
    return [Metric(*row) for row in rows]


def _read_back(client, run_id: str) -> tuple[dict, dict]:
    run = client.get_run(run_id)
    history = {
        key: sorted(
            (m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value)
            for m in client.get_metric_history(run_id, key)
        )
        for key in run.data.metrics
    }
    latest = {key: "nan" if math.isnan(value) else value for key, value in run.data.metrics.items()}
    return history, latest


def _same_as_log_batch(uri_bulk: str, uri_reference: str) -> None:
    from mlflow import MlflowClient

    metrics = _metrics()
    bulk, reference = MlflowClient(uri_bulk), MlflowClient(uri_reference)
    bulk_run = bulk.create_run(bulk.create_experiment("e")).info.run_id
    reference_run = reference.create_run(reference.create_experiment("e")).info.run_id
    assert log_new_run_metrics(bulk, bulk_run, metrics)
    for i in range(0, len(metrics), 1000):
        reference.log_batch(reference_run, metrics=metrics[i : i + 1000])
    got, expected = _read_back(bulk, bulk_run), _read_back(reference, reference_run)
    assert got == expected
    history, latest = got
    assert len(history["curve.long"]) == 2500 and len(history["loss"]) == 4
    assert latest["loss"] == 0.75 and latest["tie"] == 2.0 and latest["early"] == 7.0 and latest["nan_last"] == "nan"
    assert latest["inf"] == -1.7976931348623157e308


def test_bulk_metrics_read_back_as_log_batch_writes_them_sqlite(tmp_path):
    _same_as_log_batch(f"sqlite:///{tmp_path}/bulk.db", f"sqlite:///{tmp_path}/reference.db")


@pytest.mark.realsystem
def test_bulk_metrics_read_back_as_log_batch_writes_them_postgresql():
    with postgres_cluster() as cluster:
        _same_as_log_batch(create_database(cluster["port"], "bulk"), create_database(cluster["port"], "reference"))


def test_bulk_path_steps_aside_where_it_does_not_apply(tmp_path):
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    client = MlflowClient(f"sqlite:///{tmp_path}/m.db")
    experiment = client.create_experiment("e")
    run = client.create_run(experiment).info.run_id
    client.log_batch(run, metrics=[Metric("loss", 1.0, 0, 0)])
    assert not log_new_run_metrics(client, run, [Metric("loss", 2.0, 0, 1)])  # the run has metrics already
    assert [m.value for m in client.get_metric_history(run, "loss")] == [1.0]  # nothing written

    fresh = client.create_run(experiment).info.run_id
    assert not log_new_run_metrics(client, fresh, [Metric("loss", 2.0, 0, 1, model_id="m-1")])  # a model's metric
    assert client.get_run(fresh).data.metrics == {}

    class Served:  # a tracking server's client: no SQL store
        _tracking_client = type("T", (), {"store": object()})()

    assert not log_new_run_metrics(Served(), fresh, [Metric("loss", 2.0, 0, 1)])

    client.delete_run(fresh)
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        log_new_run_metrics(client, fresh, [Metric("loss", 2.0, 0, 1)])
    with pytest.raises(MlflowException, match="metrics\\[1\\]"):  # MLflow's own validation, naming the point
        log_new_run_metrics(client, run, [Metric("loss", 2.0, 0, 1), Metric("loss", 2.0, 0, "x")])


def test_schema_head_is_read_once_and_an_old_schema_still_refused(tmp_path, monkeypatch):
    import sqlite3

    import alembic.script
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry

    from repro.tracking import _client

    def fresh_client(uri):  # MLflow keeps one store per URI in a process; a sync's job makes its own
        TrackingStoreRegistry._get_store_with_resolved_uri.cache_clear()
        return _client(uri)

    loads = []
    original = alembic.script.ScriptDirectory.from_config
    monkeypatch.setattr(
        alembic.script.ScriptDirectory, "from_config", lambda *a, **k: loads.append(1) or original(*a, **k)
    )
    uri = f"sqlite:///{tmp_path}/m.db"
    fresh_client(uri).search_experiments()  # makes the tables (MLflow's migrations read the scripts for that)
    before = len(loads)
    for _ in range(3):
        fresh_client(uri).search_experiments()
    assert len(loads) == before  # no client after the first looks for the newest revision again
    connection = sqlite3.connect(tmp_path / "m.db")
    connection.execute("UPDATE alembic_version SET version_num = 'a8c4a736bde6'")  # an older MLflow's schema
    connection.commit()
    connection.close()
    with pytest.raises(MlflowException, match="out-of-date database schema"):
        fresh_client(uri).search_experiments()
