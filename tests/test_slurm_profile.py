"""profiles/slurm at full scale, without a cluster: claims that need a GPU are planned where Snakemake runs without one,
their runs' jobs ask for one, and the SLURM executor plugin (its own functions, on the profile's partitions.yaml)
turns that into ``--gpus=1`` on the GPU partition. The jobs themselves run on a real cluster in
tests/realsystems/test_slurm.py."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from repro.plan import GPUS_FROM_SCHEDULER, build_plan

from .conftest import ROOT, snakemake

PROFILE = ROOT / "profiles" / "slurm"
CLAIMS = ROOT / "claims"


@pytest.fixture
def no_gpu_here(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv(GPUS_FROM_SCHEDULER, raising=False)
    return monkeypatch


def test_gpu_claims_are_planned_when_the_scheduler_gives_gpus(no_gpu_here):
    here = build_plan(CLAIMS, "full")
    needing = {cid for cid, p in here.claims.items() if p.not_run and "needs a GPU" in p.not_run}
    assert needing and not here.gpu_runs  # e.g. the GDRO and DRO-CLIP full-scale claims: not_run here

    no_gpu_here.setenv(GPUS_FROM_SCHEDULER, "scheduler")
    cluster = build_plan(CLAIMS, "full")
    assert not any(cluster.claims[cid].not_run for cid in needing)
    gpu_runs = {run.dir for cid in needing for run in cluster.claims[cid].runs}
    assert gpu_runs and gpu_runs <= cluster.gpu_runs  # their runs (and prerequisites) ask for a GPU ...
    assert any(run.dir not in cluster.gpu_runs for run in cluster.runs.values())  # ... and CPU-only runs do not
    assert set(cluster.runs) > set(here.runs)


def _dry_run_jobs(workdir: Path, *args: str) -> list[dict]:
    proc = snakemake(workdir, "-n", *args, claims=CLAIMS, config={"scale": "full", "papers": ROOT / "papers"})
    jobs = []
    for block in proc.stdout.split("rule run_arm:")[1:]:
        resources = re.search(r"resources: (.*)", block).group(1)
        jobs.append(dict(item.split("=", 1) for item in resources.split(", ")))
    return jobs


def test_the_profile_asks_slurm_for_gpus_at_full_scale(tmp_path, no_gpu_here):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -e '.[slurm]'")
    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    local = _dry_run_jobs(tmp_path)
    cluster = _dry_run_jobs(tmp_path, "--profile", str(PROFILE))
    assert {job["gpu"] for job in local} == {"0"}  # here GPU claims are not_run: no run asks for one
    assert {job["gpu"] for job in cluster} == {"0", "1"}
    assert len(cluster) > len(local)
    assert {(job["mem_mb"], job["runtime"]) for job in cluster} == {("64000", "2880")}  # config: run_resources: full

    partitions = read_partition_file(PROFILE / "partitions.yaml")
    log = SimpleNamespace(info=lambda *a: None, debug=lambda *a: None, warning=lambda *a: None)
    for gpus in ("0", "1"):
        resources = next(job for job in cluster if job["gpu"] == gpus)
        values = {key: int(value) for key, value in resources.items() if value.isdigit()}
        job = SimpleNamespace(name="run_arm", threads=8, resources=_Resources(values))
        partition = get_best_partition(partitions, job, log)
        assert (partition, set_gres_string(job)) == (("gpu", " --gpus=1") if gpus == "1" else ("cpu", ""))


class _Resources(dict):
    """A job's resources as the plugin reads them (``.get`` and attributes)."""

    __getattr__ = dict.__getitem__
