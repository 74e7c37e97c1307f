"""Corrupt or truncated artifacts: the claim becomes ``error`` naming the file, never ``falsified`` and never a
crashed decision; once the damaged file (a run's: its folder) is removed, Snakemake reruns its producer and the
verdict is back, byte-identical."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..conftest import snakemake
from .conftest import copy_finished as _copy

pytestmark = pytest.mark.workflow

TARGET = "results/verdicts-ci.tsv"
"""What these tests read: the verdicts (the report and the MLflow sync only read them, and would double the time)."""

SERVERLESS = {"job_server": "False"}
"""The reruns make a run or two and a decision: each job in its own process is quicker than preloading a server."""


def _targets(workdir: Path) -> list[str]:
    """The verdicts and every run's record and scores: what rule ``all`` asks for, less the report and the MLflow
    sync (a removed run is made again because it is a target, as in rule ``all``)."""
    names = ("run.json", "metrics.parquet", "metrics.json")
    runs = sorted(str(p.relative_to(workdir)) for name in names for p in (workdir / "results/runs").rglob(name))
    return [TARGET, *runs]


def _verdict(workdir: Path) -> dict:
    return json.loads((workdir / "results/verdicts/ci/good-claim.json").read_text())


def _one(workdir: Path, pattern: str) -> Path:
    return sorted((workdir / "results/runs").rglob(pattern))[0]


@pytest.mark.parametrize("artifact", ["run.json", "metrics.parquet", "metrics.json", "predictions-*.parquet"])
def test_a_truncated_artifact_is_an_error_naming_it_and_its_removal_reruns_the_producer(finished, tmp_path, artifact):
    workdir = _copy(finished, tmp_path)
    _, claims = finished
    before, targets = (workdir / TARGET).read_bytes(), _targets(workdir)
    victim = _one(workdir, artifact)
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # truncated: newer than its consumers, so they rerun

    # A prediction table is no job's declared output (their names vary by family), so Snakemake sees no change:
    # the standing verdict was decided from intact files. Any later decision of the claim checks every table
    # against the sha256 its run recorded: force one.
    redecide = ("--forcerun", "decide_claim") if artifact.startswith("predictions") else ()
    snakemake(workdir, *targets, *redecide, claims=claims, check=False, config=SERVERLESS)
    verdict = _verdict(workdir)
    assert verdict["verdict"] == "error", (verdict["verdict"], verdict["reason"])
    named = victim.relative_to(workdir)
    assert str(named.parent) in verdict["reason"] or victim.name in verdict["reason"], verdict["reason"]

    if artifact in ("run.json", "predictions-*.parquet"):
        shutil.rmtree(victim.parent)  # a run's record comes with its tables: remove the run, it runs again
    else:
        victim.unlink()
    snakemake(workdir, *targets, claims=claims, config=SERVERLESS)
    assert _verdict(workdir)["verdict"] != "error"
    assert (workdir / TARGET).read_bytes() == before
