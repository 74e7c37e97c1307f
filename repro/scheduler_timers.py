"""One pending re-evaluation timer in Snakemake's job scheduler, where Snakemake 9 starts one per scheduling pass.

Snakemake's scheduler loop (``snakemake.scheduling.job_scheduler.JobScheduler.schedule``) waits on a semaphore that
each finished job releases. On every pass that leaves jobs waiting for free cores it also arms a
``threading.Timer`` (``_schedule_reevalutation``, for its job rate limiter, default 100 jobs per 1 s) that releases
the semaphore a second later, so the loop passes again. That pass arms another timer, and so on: each finished job
starts a chain of one pass and one new thread per second that lasts while jobs wait. With 162 training runs queued on
2 cores, the chains add up to hundreds of passes and threads a second by the end of the ci workflow (thread ids
advanced by some 5 700 in 10 s), each pass walking the ready jobs and stat-ing their inputs. Snakemake's own process
spent 60 s of user and about 30 s of system CPU in a 14-minute ci workflow, on the cores the runs need
(``benchmarks/scheduler_cpu.py`` measures it on a workflow of trivial jobs).

:func:`coalesce_reevaluations` replaces that method with one that arms a timer only when none is pending that fires
as early: the loop still passes again within the rate limiter's timespan (or the queue-input wait) of every pass that
asked for it, so no job waits longer than before, and no more than one timer (rarely two) is pending at a time.
The workflow applies it when it parses the Snakefile (rules/common.smk); it changes which jobs run when by nothing
but the rate of empty passes. It applies only to a Snakemake whose scheduler has that method and arms a
``threading.Timer`` in it; otherwise it leaves Snakemake as it is and says so.
"""

from __future__ import annotations

import inspect
import threading
import time

_MARK = "_repro_coalesced"
_DUE = "_repro_reevaluation_due"
_LOCK = threading.Lock()


def _coalesced(self, delay: float) -> None:
    """Release the scheduler's semaphore within ``delay`` seconds, unless a pending timer already does."""
    due = time.monotonic() + delay
    with _LOCK:
        pending = getattr(self, _DUE, None)
        if pending is not None and time.monotonic() < pending <= due:
            return
        setattr(self, _DUE, due)
    threading.Timer(delay, self._open_jobs.release).start()


setattr(_coalesced, _MARK, True)


def coalesce_reevaluations(scheduler_class=None) -> str:
    """Install :func:`_coalesced` as ``scheduler_class._schedule_reevalutation`` (default: Snakemake's
    ``JobScheduler``). Returns what it did: ``"installed"``, ``"already installed"``, or why it left Snakemake as
    it is."""
    if scheduler_class is None:
        from snakemake.scheduling.job_scheduler import JobScheduler as scheduler_class
    original = getattr(scheduler_class, "_schedule_reevalutation", None)
    if original is None:
        return f"{scheduler_class.__qualname__} has no _schedule_reevalutation: left as it is"
    if getattr(original, _MARK, False):
        return "already installed"
    try:
        source = inspect.getsource(original)
    except (OSError, TypeError):
        return "the scheduler's re-evaluation source cannot be read: left as it is"
    if "threading.Timer(" not in source or "_open_jobs.release" not in source:
        return "the scheduler re-evaluates without a timer per pass: left as it is"
    scheduler_class._schedule_reevalutation = _coalesced
    return "installed"
