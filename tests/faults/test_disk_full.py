"""Disk full while a run writes (issue 15): a job that cannot write one of its outputs fails with a message naming the
file and the reason; no partial parquet, no temporary file, no ``run.json`` and no verdict file remains; once there is
room again the workflow completes as if nothing had happened.

The fault is real: the job's process runs under a file-size limit (``RLIMIT_FSIZE``, as ``ulimit -f`` sets it;
Python ignores SIGXFSZ, so a write past the limit fails with EFBIG as one on a full disk fails with ENOSPC). The limit
is a soft one on this test's process, lowered only while it waits on its child (which inherits it) and raised back
after: it works unprivileged on any POSIX machine, where mounting a small filesystem would need root."""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest

from repro.files import read_json
from repro.plan import make_run
from repro.runner import run_arm

from ..conftest import ROOT, snakemake
from ..test_claims import PAPER, VALID, _write

pytestmark = pytest.mark.workflow


@contextmanager
def file_size_limit(limit: int):
    """Processes started in the body cannot write a file past ``limit`` bytes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _python(*args: str, limit: int | None) -> subprocess.CompletedProcess:
    """``python ARGS`` (``-m repro VERB ...``: as a rule's job runs it), unable to write a file past ``limit`` bytes
    (None: no limit)."""
    with file_size_limit(limit) if limit is not None else nullcontext():
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)


def _files(folder: Path) -> list[str]:
    """Every file under ``folder``, hidden temporaries included, relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []


# (run parameters of the planted family, file-size limit, the output that cannot be written): each is the first write
# past the limit, so the outputs written before it (predictions before the curve) must be removed too.
RUN_CASES = {
    "predictions": ({"eval_items": 5000}, 16_000, "predictions-items.parquet"),  # about 50 kB
    "curve": ({"steps": 3000, "train_items": 2, "eval_items": 2}, 16_000, "curve.parquet"),  # 2 kB tables, 36 kB curve
    "run.json": ({"plant": "crash"}, 1_000, "run.json"),  # a failed run's record, its 3 kB traceback
}


@pytest.mark.parametrize("case", RUN_CASES)
def test_a_run_that_cannot_write_fails_naming_the_file_and_leaves_nothing(tmp_path, case):
    params, limit, victim = RUN_CASES[case]
    spec = make_run("planted", "ci", 0, params)
    out = tmp_path / "seed0" / "run.json"
    proc = _python("-m", "repro", "run-arm", "--spec", spec.to_json(), "--out", str(out), "--threads", "1", limit=limit)
    assert proc.returncode != 0, f"a run that could not write {victim} exited 0:\n{proc.stderr[-2000:]}"
    assert f"cannot write {out.parent / victim}: File too large" in proc.stderr, proc.stderr[-2000:]
    assert _files(out.parent) == [], "a run that could not write its outputs left files behind"

    record = run_arm(spec, out)  # with room again: the run is made as usual
    assert record["status"] == ("failed" if params.get("plant") == "crash" else "completed")
    assert read_json(out) == json.loads(json.dumps(record))


def test_a_checkpoint_that_cannot_be_written_leaves_no_temporary(tmp_path):
    """Families with prerequisite runs save a checkpoint (gdro_rlvr, care_warm_start: too slow here): the harness's
    checkpoint writer, on its own, under the limit."""
    script = (
        "import torch; from repro import registry; from repro.runner import Recorder; "
        f"Recorder({str(tmp_path)!r}, registry.get_schemas('planted')).save_checkpoint({{'w': torch.zeros(100_000)}})"
    )
    proc = _python("-c", script, limit=16_000)  # 400 kB of weights
    assert proc.returncode != 0
    assert f"cannot write {tmp_path / 'checkpoint.pt'}: File too large" in proc.stderr, proc.stderr[-2000:]
    assert _files(tmp_path) == []


def test_scores_that_cannot_be_written_fail_naming_the_file_and_leave_nothing(tmp_path):
    run = tmp_path / "seed0" / "run.json"
    assert run_arm(make_run("planted", "ci", 0, {}), run)["status"] == "completed"
    before = _files(run.parent)
    metrics, status = run.parent / "metrics.parquet", run.parent / "metrics.json"
    args = ("compute-metrics", "--run", str(run), "--out", str(metrics), "--status", str(status))

    proc = _python("-m", "repro", *args, limit=1_000)  # the table is about 2.6 kB
    assert proc.returncode != 0
    assert f"cannot write {metrics}: File too large" in proc.stderr, proc.stderr[-2000:]
    assert _files(run.parent) == before, "scoring that could not write its outputs left files behind"

    assert _python("-m", "repro", *args, limit=None).returncode == 0
    assert read_json(status)["status"] == "ok"


BIG = VALID.replace("seeds: 3", "seeds: 2")
for _arm in ("trained: {steps: 50", "weak: {steps: 50", "shuffled: {steps: 50"):
    BIG = BIG.replace(_arm, f"{_arm}, eval_items: 20000")
"""A planted claim whose every run writes a prediction table of about 220 kB: past the workflow's limit below, while
Snakemake's own files (its log, metadata, the ledger) stay well within it."""


TARGET = "results/verdicts-ci.tsv"
"""The workflow's verdicts (its report and MLflow tracking, which only read them, would take as long again)."""


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess, list[str], dict[str, str]]:
    """The workflow over BIG run under a 100 kB file-size limit (Snakemake, its job server and its jobs): the finished
    folder once rerun without it, the claims, the limited workflow's process, the files it left under results/ and
    its logs."""
    root = tmp_path_factory.mktemp("disk-full")
    claims = _write(root, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": BIG})
    workdir = root / "work"
    workdir.mkdir()
    with file_size_limit(100_000):
        failed = snakemake(workdir, TARGET, claims=claims, check=False)
    left = _files(workdir / "results")
    logs = {str(p.relative_to(workdir)): p.read_text() for p in (workdir / "logs").rglob("*.log")}
    snakemake(workdir, TARGET, claims=claims)
    return workdir, claims, failed, left, logs


def test_a_workflow_job_that_cannot_write_fails_and_the_workflow_completes_once_there_is_room(workflow):
    workdir, _, failed, left, logs = workflow
    assert failed.returncode != 0
    assert "Error in rule run_arm" in failed.stdout + failed.stderr, failed.stderr[-3000:]
    assert "repro run-arm in" in logs["logs/job_server.log"], "the runs did not run in the job server's forks"
    said = [text for name, text in logs.items() if name.startswith("logs/run_arm/") and "cannot write" in text]
    assert said, f"no run job's log names the file it could not write: {logs}"
    named = r"cannot write results/runs/planted/ci/\w+/seed\d/predictions-items\.parquet: File too large"
    assert re.search(named, said[0]), said[0][-2000:]
    assert not [f for f in left if f.startswith(("runs/", "verdicts/"))], f"failed run jobs left files: {left}"

    verdict = json.loads((workdir / "results/verdicts/ci/good-claim.json").read_text())
    assert verdict["verdict"] != "error", verdict["reason"]


def test_a_verdict_that_cannot_be_written_fails_naming_the_file_and_leaves_nothing(workflow, tmp_path):
    workdir, claims, _, _, _ = workflow
    decision = str(workdir / "results/decisions/ci/good-claim.json")
    out = tmp_path / "verdicts"
    args = ["--claim", str(claims / "0000.00002/good-claim.yaml"), "--scale", "ci", "--decision", decision]
    args += ["--out-json", str(out / "good-claim.json"), "--out-card", str(out / "good-claim.md")]
    args += ["--out-plot", str(out / "good-claim.png")]
    proc = _python("-m", "repro", "finalize", *args, limit=8_000)  # the plot is about 15 kB, the verdict 8 kB
    assert proc.returncode != 0
    assert f"cannot write {out / 'good-claim.png'}" in proc.stderr, proc.stderr[-2000:]
    assert _files(out) == [], "a verdict that could not be written left files behind"
