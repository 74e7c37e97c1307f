"""MLflow ledger: the only module that imports mlflow.

Layout (docs/design.md, "MLflow"): one MLflow experiment per paper (``repro/<arxiv_id>``); one run per
claim × scale carrying the verdict, scale, claim id, kind, effect and interval as tags/metrics,
the verdict card as the run description (cut to MLflow's limit, with a pointer to the whole card) and the card,
plot and trace as artifacts; one run per training run with its parameters, final metrics and curves, nested
under (and linked from) the claim runs that use it.

Idempotent: each run carries a content hash, tagged when everything else about the run is written; re-syncing
unchanged results touches nothing, and changed or half-written results (a sync that failed midway) replace the old
run (deleted) instead of appending a duplicate. Only one process writes at a time (the ``track_mlflow`` rule: one job
per paper, serialized by the workflow's ``mlflow_writer`` resource), which SQLite needs.

A store that is down or busy fails the sync within a bounded time with a :class:`TrackingError` naming its URI, never
a hang: a SQLite file another process holds a write lock on is waited for up to :data:`WAIT_S` seconds
(``$REPRO_MLFLOW_WAIT_S``), and MLflow's HTTP client gets :data:`HTTP_BOUNDS` (unless the environment sets them).
Nothing upstream depends on MLflow: verdicts are made before and without it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import sqlite3
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from repro.files import read_json, sha256_file, sha256_json
from repro.tracking_bulk import log_new_run_metrics
from repro.tracking_view import (
    REVIEW_VIEW,
    claim_metrics,
    claim_run_name,
    claim_tags,
    review_path,
    run_note,
    training_run_name,
)
from repro.tracking_writers import experiment_id as _experiment_id
from repro.tracking_writers import finish, record_users, set_tags, settle, upsert
from repro.verdict_record import Verdict, as_verdict

DEFAULT_URI = "sqlite:///mlflow.db"
MAX_BATCH = 900
WAIT_ENV = "REPRO_MLFLOW_WAIT_S"
WAIT_S = 60.0
"""How long a sync waits for a SQLite store another process holds a write lock on, unless $REPRO_MLFLOW_WAIT_S
says otherwise (each of MLflow's own statements then waits up to its 20 s busy timeout)."""
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
"""MLflow's HTTP client defaults (7 retries, backoff factor 2, 120 s a request) take over four minutes to report a
server that refuses connections; with these a refused connection fails in seconds and a silent server within two
minutes. Variables already set in the environment win."""

_log = logging.getLogger(__name__)


class TrackingError(RuntimeError):
    """The MLflow store at ``uri`` could not be reached or written (``reason``); the verdicts do not depend on it."""

    def __init__(self, uri: str, reason: str):
        self.uri, self.reason = uri, reason
        super().__init__(
            f"MLflow store {_shown(uri)} not written: {reason}. The verdicts do not depend on it; run the workflow "
            "(or `repro track`) again once the store is back: the sync is idempotent."
        )


def tracking_uri(configured: str | None = None) -> str:
    """Config value, else $MLFLOW_TRACKING_URI, else MLflow 3's default SQLite store."""
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _client(uri: str):
    from mlflow import MlflowClient

    remember_schema_head(compute=False)
    return MlflowClient(tracking_uri=uri)


def remember_schema_head(compute: bool = True) -> None:
    """Make MLflow read the newest schema revision of its SQL store once per process (and read it now unless
    ``compute`` is False). Each client it makes of a SQL store compares the database's revision with that one, which
    it finds by loading all of the installed MLflow's 130-odd migration scripts: 0.9 s every sync. The revision is
    the installed package's, fixed while it runs; a job server reads it before it forks its first sync, so that no
    sync does (:data:`repro.jobwarm.ON_DEMAND`)."""
    import mlflow.store.db.utils as db_utils

    head = db_utils._get_latest_schema_revision
    if not hasattr(head, "cache_info"):
        head = db_utils._get_latest_schema_revision = functools.cache(head)
    if compute:
        head()


def _shown(uri: str) -> str:
    """``uri`` with any password in it masked."""
    return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", uri)


@contextlib.contextmanager
def _store(uri: str):
    """A client of ``uri`` whose waits are bounded (:data:`HTTP_BOUNDS`, :func:`_wait_for_sqlite`); a failure of the
    store inside the block is a :class:`TrackingError` naming it."""
    import requests
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    saved = {name: os.environ.get(name) for name in HTTP_BOUNDS}
    os.environ.update({name: value for name, value in HTTP_BOUNDS.items() if not saved[name]})
    try:
        _wait_for_sqlite(uri)
        yield _client(uri)
    except (MlflowException, sqlalchemy.exc.SQLAlchemyError, requests.RequestException) as exc:
        raise TrackingError(uri, _reason(exc)) from exc
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _reason(exc: Exception) -> str:
    """What went wrong, in one line: a server refusing connections or not answering, a locked database, else the
    message's first line."""
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT

    text = str(exc)
    retries = f"{MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()} retries"
    refused = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if refused:
        return f"server unreachable ({refused.group(1).strip()}) after {retries}"
    if "ReadTimeoutError" in text or "Read timed out" in text:
        return f"server did not answer within {MLFLOW_HTTP_REQUEST_TIMEOUT.get()} s, after {retries}"
    if "database is locked" in text:
        return "database is locked by another process (MLflow's own wait for it ran out)"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:300]


def _wait_for_sqlite(uri: str) -> None:
    """Wait (at most $REPRO_MLFLOW_WAIT_S, default :data:`WAIT_S` seconds) until no other process holds a write lock
    on the SQLite store of ``uri``; a TrackingError when one still does. Other stores, and a file not made yet, pass."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///").split("?")[0])
    if not path.is_file():
        return
    raw = os.environ.get(WAIT_ENV) or str(WAIT_S)
    try:
        wait = float(raw)
    except ValueError:
        raise TrackingError(uri, f"{WAIT_ENV}={raw!r} is not a number of seconds") from None
    try:
        if not _write_lock_free(path, 0):
            _log.warning("MLflow store %s is locked by another process: waiting up to %g s", _shown(uri), wait)
            if not _write_lock_free(path, wait):
                raise TrackingError(
                    uri, f"another process held a write lock on {path} for the {wait:g} s waited ({WAIT_ENV})"
                )
    except sqlite3.Error as exc:
        raise TrackingError(uri, f"{path}: {exc}") from exc


def _write_lock_free(path: Path, wait: float) -> bool:
    """Whether a write transaction on ``path`` could start within ``wait`` seconds (it is rolled back at once)."""
    connection = sqlite3.connect(path, timeout=wait, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    finally:
        connection.close()


def _log_batch(client, run_id: str, metrics=(), params=(), tags=()) -> None:
    from mlflow.entities import Metric, Param, RunTag

    metrics = [m if isinstance(m, Metric) else Metric(*m) for m in metrics]
    if metrics and log_new_run_metrics(client, run_id, metrics):  # a new run in a SQL store: in bulk
        metrics = []
    params = [Param(k, str(v)[:6000]) for k, v in params]
    tags = [RunTag(k, str(v)) for k, v in tags]
    for i in range(0, max(len(metrics), 1), MAX_BATCH):
        client.log_batch(
            run_id, metrics=metrics[i : i + MAX_BATCH], params=params if i == 0 else [], tags=tags if i == 0 else []
        )


def _flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for k, v in sorted(value.items()) for item in _flat(f"{prefix}.{k}" if prefix else k, v)]
    if isinstance(value, list | tuple):
        return [(prefix, json.dumps(value))]
    return [(prefix, value)]


RECEIPT_MAPS = ("experiments", "review", "claims", "training")
"""A receipt's maps (arXiv id or claim id -> MLflow id or link); its other fields are the store, scale and counts."""


def _empty_receipt(uri: str, scale: str) -> dict[str, Any]:
    return {"uri": uri, "scale": scale, **{part: {} for part in RECEIPT_MAPS}, "created": 0, "unchanged": 0}


def sync(verdict_files: list[Path], scale: str, uri: str) -> dict[str, Any]:
    """Write verdicts and their training runs to MLflow. Returns a receipt (ids and counts). A store that cannot be
    reached or written within the bounds (module docstring) raises :class:`TrackingError`."""
    receipt = _empty_receipt(uri, scale)
    by_paper: dict[str, list[tuple[Path, Verdict]]] = defaultdict(list)
    for path in verdict_files:
        v = as_verdict(read_json(path))
        by_paper[v.paper.split("v")[0]].append((Path(path), v))

    with _store(uri) as client:
        for arxiv_id, items in sorted(by_paper.items()):
            _sync_paper(client, arxiv_id, items, scale, receipt)
    return receipt


def join_receipts(paths: list[Path]) -> dict[str, Any]:
    """One receipt from the papers' receipts (``sync`` of each paper's verdicts): their experiments, review links,
    claim and training runs, and the runs they wrote and left unchanged, summed. All must name one store and scale."""
    joined: dict[str, Any] = {}
    for path in paths:
        receipt = read_json(path)
        if not joined:
            joined = _empty_receipt(receipt["uri"], receipt["scale"])
        for field in ("uri", "scale"):
            if receipt[field] != joined[field]:
                raise ValueError(
                    f"{path}: {field}: {receipt[field]!r}, but {paths[0]} has {joined[field]!r}: the papers' receipts "
                    "must come from one store and scale (run the workflow again: it re-syncs the stale one)"
                )
        for part in RECEIPT_MAPS:
            joined[part].update(receipt[part])
        joined["created"] += receipt["created"]
        joined["unchanged"] += receipt["unchanged"]
    return joined


def _sync_paper(client, arxiv_id: str, items: list[tuple[Path, Verdict]], scale: str, receipt: dict) -> None:
    """One paper's experiment: its claim runs (``items``: each verdict's JSON and record), then their training runs."""
    experiment_id = _experiment_id(client, arxiv_id, items[0][1].paper_title)
    receipt["experiments"][arxiv_id] = experiment_id
    receipt["review"][arxiv_id] = review_path(experiment_id)
    claim_runs: dict[str, str] = {}
    cards: dict[str, Path] = {}
    run_users: dict[str, list[str]] = defaultdict(list)
    run_arms: dict[str, set[str]] = defaultdict(set)
    for path, v in sorted(items, key=lambda item: item[1].claim_id):
        cards[v.claim_id] = path.with_suffix(".md")
        claim_runs[v.claim_id] = _sync_claim_run(client, experiment_id, path, v, scale, receipt)
        receipt["claims"][v.claim_id] = claim_runs[v.claim_id]
        for label, arm in (v.arms or {}).items():
            for seed in arm.seeds:
                run_users[f"{arm.run_dir}/seed{seed}"].append(v.claim_id)
                run_arms[f"{arm.run_dir}/seed{seed}"].add(label)
    _link_training_runs(client, experiment_id, run_users, run_arms, claim_runs, cards, receipt)


def _sync_claim_run(client, experiment_id: str, path: Path, v: Verdict, scale: str, receipt: dict) -> str:
    """The claim × scale run of verdict ``v`` (its JSON at ``path``, card and plot beside it); written only when
    one of the three changed since the last sync."""
    from mlflow.entities import Metric

    card, plot = path.with_suffix(".md"), path.with_suffix(".png")
    content = sha256_json({"json": sha256_file(path), "card": sha256_file(card), "png": sha256_file(plot)})
    run_id, kept = upsert(client, experiment_id, f"{v.claim_id}@{scale}", content, claim_run_name(v, scale))
    if kept is not None:
        receipt["unchanged"] += 1
        return run_id
    receipt["created"] += 1
    metrics = [Metric(k, float(x), 0, 0) for k, x in claim_metrics(v).items() if x is not None]
    exp = v.expectation or {}
    params = [
        ("metric", v.metric or ""),
        ("relation", exp["relation"] if exp else ""),
        ("effect_type", exp["effect"] if exp else ""),
    ]
    _log_batch(client, run_id, metrics=metrics, params=params, tags=claim_tags(v, scale, card))
    for artifact in (path, card, plot):
        client.log_artifact(run_id, str(artifact))
    finish(client, run_id, content, "FINISHED")
    return settle(client, experiment_id, f"{v.claim_id}@{scale}", content, run_id)


def _link_training_runs(
    client,
    experiment_id: str,
    run_users: dict[str, list[str]],
    run_arms: dict[str, set[str]],
    claim_runs: dict[str, str],
    cards: dict[str, Path],
    receipt: dict,
) -> None:
    """Each training run (``run_users``: run folder → the claims that use it; ``run_arms``: → their names for its
    arm), nested under the first claim run that uses it and listed in the description and ``repro_training_runs``
    tag of every claim run that does."""
    links: dict[str, list[str]] = defaultdict(list)
    for run_dir, users in sorted(run_users.items()):
        parent = claim_runs[sorted(users)[0]]
        names = sorted(run_arms[run_dir])
        run_id = _sync_training_run(client, experiment_id, Path(run_dir), sorted(set(users)), names, parent, receipt)
        for user in set(users):
            links[user].append(run_id)
    for claim_id, run_ids in links.items():
        run = client.get_run(claim_runs[claim_id])
        card = cards[claim_id]
        listing = [f"- [{rid}](#/experiments/{experiment_id}/runs/{rid}?{REVIEW_VIEW})\n" for rid in run_ids]
        note = run_note(card.read_text(encoding="utf-8"), card.name, listing)
        tags = {"repro_training_runs": ",".join(run_ids)[:5000]}
        if run.data.tags.get("mlflow.note.content") != note:
            tags["mlflow.note.content"] = note
        set_tags(client, claim_runs[claim_id], tags)


def _sync_training_run(
    client, experiment_id: str, run_dir: Path, users: list[str], arms: list[str], parent: str, receipt: dict
) -> str:
    from mlflow.entities import Metric

    record = read_json(run_dir / "run.json")
    key = f"{record['experiment']}/{record['scale']}/{record['arm_key']}/seed{record['seed']}"
    metrics_file = run_dir / "metrics.parquet"
    content = sha256_json({"run": sha256_file(run_dir / "run.json"), "metrics": sha256_file(metrics_file)})
    run_id, kept = upsert(client, experiment_id, key, content, training_run_name(record, arms))
    if kept is not None:
        record_users(client, run_id, kept.data.tags, parent, users)
        receipt["training"][key] = run_id
        receipt["unchanged"] += 1
        return run_id
    receipt["created"] += 1
    metrics = [Metric(row.metric, float(row.value), 0, 0) for row in pd.read_parquet(metrics_file).itertuples()]
    if record["status"] == "completed":
        curve = pd.read_parquet(run_dir / record["artifacts"]["curve"]["file"])
        # Null curve cells mean "does not apply to this run" (schemas.Curve); they are not logged as NaN points.
        steps = curve["step"].to_numpy(dtype="int64").tolist()
        for column in curve.columns.drop("step"):
            values = curve[column].to_numpy(dtype="float64", na_value=float("nan")).tolist()
            metrics += [
                Metric(f"curve.{column}", val, 0, step)
                for step, val in zip(steps, values, strict=True)
                if not math.isnan(val)  # a null cell: not present
            ]
    params = [*_flat("", record["params"]), ("seed", record["seed"]), ("experiment", record["experiment"])]
    tags = [
        ("repro_kind", "training"),
        ("repro_scale", record["scale"]),
        ("repro_experiment", record["experiment"]),
        ("repro_arm_key", record["arm_key"]),
        ("repro_seed", record["seed"]),
        ("repro_code_version", record["code_version"]),
        ("repro_git_commit", record["git"]["commit"] or ""),
        ("repro_git_dirty", record["git"]["dirty"]),
        ("repro_wall_s", f"{record['wall_s']:.3f}"),
        ("mlflow.source.git.commit", record["git"]["commit"] or ""),
    ]
    _log_batch(client, run_id, metrics=metrics, params=params, tags=tags)
    with tempfile.TemporaryDirectory() as tmp:
        env = Path(tmp) / "environment.json"
        env.write_text(json.dumps(record["environment"], indent=2))
        client.log_artifact(run_id, str(env))
    client.log_artifact(run_id, str(run_dir / "run.json"))
    finish(client, run_id, content, "FINISHED" if record["status"] == "completed" else "FAILED")
    used = settle(client, experiment_id, key, content, run_id)  # another sync's run of the same content may win
    if used != run_id:
        receipt["created"], receipt["unchanged"] = receipt["created"] - 1, receipt["unchanged"] + 1
    record_users(client, used, client.get_run(used).data.tags, parent, users)
    receipt["training"][key] = used
    return used


def count_runs(uri: str) -> dict[str, int]:
    """Active runs per repro experiment (used by tests and `repro status --mlflow`)."""
    out = {}
    with _store(uri) as client:
        for experiment in client.search_experiments(filter_string="name LIKE 'repro/%'"):
            runs = client.search_runs([experiment.experiment_id], max_results=50000)
            out[experiment.name] = len(runs)
    return out
