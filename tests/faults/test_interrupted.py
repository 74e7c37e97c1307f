"""Interrupted workflows: a killed run job, a killed Snakemake, a killed job server and a second workflow on the same
folder. Nothing that was running looks finished, the second workflow is refused, nothing hangs, and the rerun gives
verdicts and predictions byte-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.jobclient import alive

from ..conftest import ROOT, fingerprint, snakemake
from ..test_claims import PAPER, VALID, _write

pytestmark = pytest.mark.workflow

SLOW_STEPS = "60000"
SLOW = VALID.replace("trained: {steps: 50}", f"trained: {{steps: {SLOW_STEPS}}}").replace("seeds: 3", "seeds: 2")
"""A planted claim whose two treatment runs take about 8 s each (long enough to be killed mid-run); its other four
runs take under a second."""
TARGET = "results/verdicts-ci.tsv"
"""What every workflow here makes: the verdicts (the report and the MLflow sync only read them)."""


@pytest.fixture(scope="module")
def claims(tmp_path_factory) -> Path:
    """One claims folder for every run of this module (the verdict table names the claim file's path)."""
    return _write(
        tmp_path_factory.mktemp("claims"), {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": SLOW}
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory, claims) -> dict[str, str]:
    workdir = tmp_path_factory.mktemp("uninterrupted") / "work"
    workdir.mkdir()
    snakemake(workdir, TARGET, claims=claims)
    found = fingerprint(workdir)
    assert len(found) == 7  # the verdict table and 6 runs' predictions
    return found


def _start(workdir: Path, claims: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", "1", TARGET]
    cmd += [*args, "--config", f"claims={claims}"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/mlflow.db"}
    log = open(workdir.parent / "snakemake.out", "a")  # noqa: SIM115 (a pipe would keep a killed Snakemake a zombie)
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def _processes() -> dict[int, str]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
    return out


def _age(pid: int) -> float:
    """Seconds since the process started (/proc/<pid>/stat field 22, in clock ticks since boot)."""
    started = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    return float(Path("/proc/uptime").read_text().split()[0]) - started


def _wait_for_run_job(
    workdir: Path, proc: subprocess.Popen, which: str = "shell", timeout: float = 120, max_age: float | None = None
) -> tuple[int, Path]:
    """A running slow ``repro run-arm`` job of this workflow: the pid of the shell Snakemake started for it
    (``which="shell"``) or of the ``repro`` process in it (``"repro"``), and its run.json path. With ``max_age``,
    only a job started at most that many seconds ago: one with most of its training still ahead, so that it is
    still in flight when the test kills something (a job found near its end may finish first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (workdir.parent / "snakemake.out").read_text()[-3000:]
        for pid, cmdline in _processes().items():
            if " run-arm " not in cmdline or SLOW_STEPS not in cmdline:
                continue
            if cmdline.startswith(("/bin/bash", "/usr/bin/bash", "bash")) != (which == "shell"):
                continue
            out = cmdline.split("--out ", 1)[1].split(" ", 1)[0].strip("'")
            run_json = workdir / out
            try:
                if max_age is not None and _age(pid) > max_age:
                    continue
            except (OSError, IndexError, ValueError):
                continue  # it ended meanwhile
            if run_json.parent.is_dir() and not run_json.exists():
                time.sleep(0.5)  # well inside its ~8 s of training
                return pid, run_json
        time.sleep(0.2)
    raise AssertionError("no run job started")


def _parent(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), None)


def _wait_gone(pids, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)


def _orphans(workdir: Path) -> list[int]:
    """This test's remaining ``repro`` processes (their command lines name its claims folder or run folders)."""
    return [
        pid
        for pid, cmd in _processes().items()
        if " -m repro " in cmd and (str(workdir) in cmd or "results/runs/planted" in cmd)
    ]


@pytest.mark.parametrize("which", ["shell"])  # the repro process itself: covered by tests/test_jobserver.py
def test_a_killed_run_job_leaves_no_record_and_the_rerun_is_identical(tmp_path, claims, reference, which):
    """Killing the job's shell (what Snakemake started) or the ``repro`` process in it ends the run: it never writes
    its run.json after Snakemake has cleaned up after the failed job."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = _start(workdir, claims)
    pid, run_json = _wait_for_run_job(workdir, proc, which)
    os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=300)
    assert proc.returncode != 0
    _wait_gone(_orphans(workdir))
    time.sleep(2.0)
    assert not run_json.exists(), "a killed run left a run.json: it would look finished"
    snakemake(workdir, TARGET, claims=claims)
    assert fingerprint(workdir) == reference


def test_a_second_workflow_is_refused_and_a_killed_one_resumes_after_unlock(tmp_path, claims, reference):
    workdir = tmp_path / "work"
    workdir.mkdir()
    first = _start(workdir, claims)
    _, run_json = _wait_for_run_job(workdir, first, max_age=3.0)
    # The run in flight is frozen with most of its training ahead (the job server's process group: the server and
    # its forks, the run among them), so it is still in flight when Snakemake is killed, however long the refused
    # workflow takes to start on a loaded machine (a run found earlier once finished before the kill).
    server = _job_server(first)
    os.killpg(server, signal.SIGSTOP)
    try:
        second = snakemake(workdir, TARGET, claims=claims, check=False)
        assert second.returncode != 0
        assert "LockException" in second.stderr + second.stdout or "cannot be locked" in second.stderr + second.stdout
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        os.killpg(server, signal.SIGCONT)  # the run's job process, gone with its workflow, has asked it to end
    _wait_gone([*_orphans(workdir), *_group(server)])  # its orphaned jobs end on their own, within about a second

    stale = snakemake(workdir, TARGET, claims=claims, check=False)
    assert stale.returncode != 0 and "--unlock" in stale.stderr + stale.stdout
    snakemake(workdir, "--unlock", claims=claims)
    assert not run_json.exists(), "the run that was in flight when Snakemake was killed looks finished"
    snakemake(workdir, TARGET, claims=claims)
    assert fingerprint(workdir) == reference


def _job_server(proc: subprocess.Popen) -> int:
    """The pid of the job server of the workflow ``proc``: its child; its forks share its command line."""
    servers = [
        pid
        for pid, cmd in _processes().items()
        if "serve-jobs" in cmd and f"--parent {proc.pid}" in cmd and _parent(pid) == proc.pid
    ]
    assert len(servers) == 1, "the workflow runs its jobs in one job server"
    return servers[0]


def _group(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` (/proc/<pid>/stat field 5)."""
    found = []
    for pid in _processes():
        try:
            if int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                found.append(pid)
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_a_killed_job_server_neither_hangs_nor_changes_the_results(tmp_path, claims, reference):
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = _start(workdir, claims)
    _wait_for_run_job(workdir, proc)
    os.kill(_job_server(proc), signal.SIGKILL)  # the server only: its forks (the run in flight) are their own
    try:
        proc.wait(timeout=900)  # jobs in flight fail or finish in their own process (each cold: slow), never hang
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the workflow hung after its job server was killed") from None
    if proc.returncode != 0:
        _wait_gone(_orphans(workdir))
        snakemake(workdir, TARGET, claims=claims)
    assert fingerprint(workdir) == reference
