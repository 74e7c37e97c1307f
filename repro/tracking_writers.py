"""Runs in a store that several syncs may write at once (a team server: two workflows, different claims, one paper).

Each run is found by its ``repro_key`` tag and is complete once it carries ``repro_content_sha`` (written last). A run
without one is either half-written by a sync that failed, which the next sync deletes, or being written right now by
another sync, which must be left alone. The ``repro_writer`` tag (host and process id) tells them apart: a run of this
process, or of a process on this host that has ended, is stale at once; a run of a live process, or of another host
started less than :data:`LEASE_S` ago, is waited for (at most :data:`WAIT_S`), then used when its content is the same.
Two syncs that create the same run at the same moment both keep the earlier one (start time, then id) and the later
one is deleted by its writer, once the earlier is complete (:func:`settle`). What a run is used by is recorded in one
tag per claim (``repro_claim.<id>``), which concurrent syncs cannot overwrite for each other, and summed up in
``repro_claims`` (:func:`record_users`). Tags are written in batches (:func:`set_tags`): two syncs adding the same tag
to one run at the same instant would otherwise both insert it, and one would fail on the store's unique key.

Nothing here imports mlflow: every function takes the client.
"""

from __future__ import annotations

import os
import socket
import time

EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
"""MLflow 3's UI opens an experiment without this tag in its GenAI view (traces, evaluations); with it, in the
runs table of model training."""
WRITER = f"{socket.gethostname()}:{os.getpid()}"
LEASE_S = 600.0
"""How long a run without content hash, written from another host, counts as being written."""
WAIT_S = 120.0
"""How long a sync waits for another sync to finish writing a run it needs."""
POLL_S = 0.2


def experiment_id(client, arxiv_id: str, title: str) -> str:
    """The paper's experiment, made when missing (by this sync or, at the same moment, another one)."""
    from mlflow.exceptions import MlflowException

    name = f"repro/{arxiv_id}"
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        tags = {"repro_arxiv_id": arxiv_id, "repro_title": title[:500], EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1]}
        try:
            return client.create_experiment(name, tags=tags)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)  # another sync made it first
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if experiment.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:  # a store written before the tag
        try:
            client.set_experiment_tag(experiment.experiment_id, *EXPERIMENT_KIND)
        except MlflowException:  # another sync's insert of it came first (a unique-key conflict): fine if it is there
            if client.get_experiment(experiment.experiment_id).tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
                raise
    return experiment.experiment_id


def set_tags(client, run_id: str, tags: dict[str, str]) -> None:
    """Set ``tags`` on run ``run_id`` in one batch. MLflow's SQL store inserts a missing tag by a read, then an insert;
    its ``set_tag`` fails when another writer inserted the same key in between (PostgreSQL: a unique violation on
    ``tag_pk``), while a batch's tag insert is retried after such a conflict and then updates the row."""
    from mlflow.entities import RunTag

    if tags:
        client.log_batch(run_id, tags=[RunTag(key, str(value)) for key, value in tags.items()])


def _order(run) -> tuple[int, str]:
    return run.info.start_time or 0, run.info.run_id


def _runs(client, experiment_id: str, key: str) -> list:
    found = client.search_runs([experiment_id], filter_string=f"tags.repro_key = '{key}'", max_results=100)
    return sorted(found, key=_order)


def _being_written(run) -> bool:
    """Whether another live sync is writing ``run`` (no content hash yet)."""
    if run.data.tags.get("repro_content_sha"):
        return False
    writer = run.data.tags.get("repro_writer", "")
    host, _, pid = writer.rpartition(":")
    if not host or writer == WRITER:
        return False  # an older version's, or this process's own failed attempt
    if host != socket.gethostname():
        return (time.time() - (run.info.start_time or 0) / 1000) < LEASE_S
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def _quiet(client, experiment_id: str, key: str) -> list:
    """The key's runs once no other live sync is writing one of them (or :data:`WAIT_S` has passed)."""
    deadline = time.monotonic() + WAIT_S
    runs = _runs(client, experiment_id, key)
    while any(_being_written(run) for run in runs) and time.monotonic() < deadline:
        time.sleep(POLL_S)
        runs = _runs(client, experiment_id, key)
    return runs


def upsert(client, experiment_id: str, key: str, content: str, name: str):
    """Return (run_id, existing run or None when created). An existing complete run with the same content hash is
    kept; stale ones (other content, duplicates, half-written) are deleted. A new run gets its hash from
    :func:`finish`, then goes through :func:`settle`."""
    keep = None
    for run in _quiet(client, experiment_id, key):
        if keep is None and run.data.tags.get("repro_content_sha") == content:
            keep = run
        elif not _being_written(run):
            client.delete_run(run.info.run_id)
    if keep is not None:
        if keep.info.run_name != name:  # named by an earlier version: the content is the same
            client.update_run(keep.info.run_id, name=name)
        return keep.info.run_id, keep
    run = client.create_run(experiment_id, run_name=name, tags={"repro_key": key, "repro_writer": WRITER})
    return run.info.run_id, None


def finish(client, run_id: str, content: str, status: str) -> None:
    """The last writes of a new run: its status, then its content hash, which marks it complete (a sync that fails
    before this leaves a run without one, replaced by the next sync)."""
    client.set_terminated(run_id, status)
    set_tags(client, run_id, {"repro_content_sha": content})


def settle(client, experiment_id: str, key: str, content: str, run_id: str) -> str:
    """The run to use for ``key`` after this sync wrote ``run_id``: an earlier run of the same content that another
    sync wrote at the same time wins (this one is deleted), else ``run_id``."""
    for run in _quiet(client, experiment_id, key):
        if run.info.run_id == run_id:
            return run_id
        if run.data.tags.get("repro_content_sha") == content:
            client.delete_run(run_id)
            return run.info.run_id
    return run_id


def record_users(client, run_id: str, tags: dict[str, str], parent: str, users: list[str]) -> None:
    """Tag training run ``run_id`` (``tags``: what it carries now) with the claims that use it: one tag per claim
    (authoritative: no other sync overwrites it), then ``repro_claims``, the list of every claim tagged so far,
    re-read after this sync's own tags. Its parent (where the UI nests it) is set once and kept while that claim run
    lives.

    Two syncs adding claims to one run at the same instant each write the list they read, and the later write can
    be the shorter list. So a sync that wrote the list reads it back with the claim tags: while they disagree, it
    writes the list again. Each sync wrote its own claim tag before its first read, so the last list written is
    checked against every claim tag and the run ends with the full list."""
    new = [user for user in users if tags.get(f"repro_claim.{user}") != "1"]
    set_tags(client, run_id, {f"repro_claim.{user}": "1" for user in new})
    if new:
        tags = client.get_run(run_id).data.tags
    current = tags.get("mlflow.parentRunId")
    parent_change = (
        {} if current == parent or (current and _active(client, current)) else {"mlflow.parentRunId": parent}
    )
    for _ in range(LIST_WRITES):
        every = _claim_list(tags)
        if tags.get("repro_claims") == every:
            set_tags(client, run_id, parent_change)
            return
        set_tags(client, run_id, {"repro_claims": every, **parent_change})
        parent_change = {}
        tags = client.get_run(run_id).data.tags
    from mlflow.exceptions import MlflowException  # the sync reports it as a store failure, naming the URI

    raise MlflowException(f"training run {run_id}: its claim list still changed after {LIST_WRITES} writes")


LIST_WRITES = 5
"""How often one sync writes a training run's claim list before giving up: each rewrite follows another sync's
claim tag, so more than a few means the run is being tagged faster than it can be read back."""


def _claim_list(tags: dict[str, str]) -> str:
    return ",".join(sorted(k.removeprefix("repro_claim.") for k in tags if k.startswith("repro_claim.")))[:5000]


def _active(client, run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException:
        return False
