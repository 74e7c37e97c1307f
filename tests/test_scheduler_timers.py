"""repro.scheduler_timers: one pending re-evaluation timer in Snakemake's scheduler instead of one per pass."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from snakemake.scheduling.job_scheduler import JobScheduler

from repro.scheduler_timers import coalesce_reevaluations

ROOT = Path(__file__).resolve().parents[1]


def _releases(semaphore: threading.Semaphore) -> int:
    n = 0
    while semaphore.acquire(blocking=False):
        n += 1
    return n


def _timers() -> int:
    return sum(isinstance(t, threading.Timer) for t in threading.enumerate())


def test_snakemakes_own_scheduler_arms_one_timer_per_pass():
    """What the fix is for: 20 passes of the stock scheduler leave 20 timers, and each releases the loop once more."""
    scheduler = SimpleNamespace(_open_jobs=threading.Semaphore(0))
    before = _timers()
    for _ in range(20):
        JobScheduler._schedule_reevalutation(scheduler, 0.2)
    assert _timers() - before >= 19  # all pending (a loaded machine may have fired one)
    time.sleep(0.6)
    assert _releases(scheduler._open_jobs) == 20


def test_coalesced_scheduler_arms_one_timer_and_still_reevaluates():
    class Scheduler(JobScheduler):
        pass

    assert coalesce_reevaluations(Scheduler) == "installed"
    assert JobScheduler._schedule_reevalutation is not Scheduler._schedule_reevalutation  # the subclass only

    scheduler = SimpleNamespace(_open_jobs=threading.Semaphore(0))
    before = _timers()
    for _ in range(20):
        Scheduler._schedule_reevalutation(scheduler, 0.2)
    assert _timers() - before <= 1
    time.sleep(0.6)
    assert _releases(scheduler._open_jobs) == 1  # the loop passes again within the delay it asked for

    # A pass after the timer fired asks again, and gets a new one.
    Scheduler._schedule_reevalutation(scheduler, 0.1)
    time.sleep(0.4)
    assert _releases(scheduler._open_jobs) == 1

    # A pass that needs an earlier pass than the pending timer gives (the queue-input wait is 10 s, the rate limiter's
    # timespan 1 s) arms its own.
    Scheduler._schedule_reevalutation(scheduler, 30.0)
    Scheduler._schedule_reevalutation(scheduler, 0.1)
    time.sleep(0.4)
    assert _releases(scheduler._open_jobs) == 1


def test_installs_once_and_leaves_other_schedulers_alone():
    class Scheduler(JobScheduler):
        pass

    class NoTimer:
        def _schedule_reevalutation(self, delay):
            self._open_jobs.release()

    assert coalesce_reevaluations(Scheduler) == "installed"
    assert coalesce_reevaluations(Scheduler) == "already installed"
    assert "without a timer per pass" in coalesce_reevaluations(NoTimer)
    assert NoTimer._schedule_reevalutation.__qualname__.startswith("test_")  # not replaced
    assert "has no _schedule_reevalutation" in coalesce_reevaluations(type("Bare", (), {}))


CHECK_INSTALLED = """
import atexit, runpy, sys
def report():
    from snakemake.scheduling.job_scheduler import JobScheduler
    print("COALESCED", getattr(JobScheduler._schedule_reevalutation, "_repro_coalesced", False), file=sys.stderr)
atexit.register(report)
sys.argv = ["snakemake", *sys.argv[1:]]
runpy.run_module("snakemake", run_name="__main__")
"""


def test_the_workflow_installs_it_in_the_pinned_snakemake(tmp_path):
    """The project's Snakefile applies it when parsed (rules/common.smk), and the pinned Snakemake's scheduler is
    one it applies to (no 'left as it is' line)."""
    args = ["-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-n", "--quiet", "rules"]
    args += ["--config", f"claims={ROOT / 'claims'}"]
    out = subprocess.run([sys.executable, "-c", CHECK_INSTALLED, *args], capture_output=True, text=True, check=True)
    assert "COALESCED True" in out.stderr
    assert "scheduler timers" not in out.stderr
