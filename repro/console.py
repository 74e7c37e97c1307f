"""The workflow's console: Snakemake's own lines, with an estimate of the time left and what each job serves.

Snakemake prints each job as it starts (rule and wildcards) and ``N of M steps (x%) done`` after each one. That
says neither how long the rest will take nor which claim a run belongs to (runs are keyed by content hashes).
:class:`WorkflowConsole` wraps Snakemake's console formatter (it changes no job and no file):

- after the job stats, it knows how many jobs of each rule are to run;
- on each job's start it adds the claims and arms the job serves (a run) or the claim it decides, and shortens a
  list of more than :data:`LISTED` inputs (a decision reads every run's tables: ~120 files, 16 KB of ``snakemake -n``
  after a one-line edit) to its first few and a count;
- on each progress line it adds the estimated time left: the jobs not yet finished, each costed at the mean
  duration of its rule's finished jobs, divided by the concurrency observed so far (job-seconds, finished and
  running, per wall second), and how many jobs are running; while a rule with jobs to run has none finished
  (training runs, at the start), the time is a lower bound and the line names that rule instead of costing its jobs
  at quicker ones' mean (which said "1 min 45 s left" a quarter of an hour before a ci run ended).

The estimate is a measurement of this run, not a promise: it says what it rests on (``from N finished jobs``), and
until a job has finished it says so instead of guessing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

LISTED = 6
"""A job line's ``input:`` or ``reason:`` list longer than this is shortened to its first 3 entries and a count."""
STREAM_HANDLER = "DefaultStreamHandler"
"""The name Snakemake gives its console handler (snakemake.logging.LoggerManager)."""


def shorten_lists(text: str) -> str:
    """``text`` with each ``input: a, b, …`` line (and a ``reason:`` naming files) of more than :data:`LISTED`
    entries cut to its first 3 and how many more there are."""
    lines = []
    for line in text.split("\n"):
        head, sep, rest = line.partition(": ")
        if sep and head.strip().lower() in ("input", "reason"):
            label, colon, files = rest.rpartition(": ") if head.strip().lower() == "reason" else ("", "", rest)
            items = files.split(", ")
            if len(items) > LISTED:
                files = ", ".join(items[:3]) + f", … and {len(items) - 3} more"
                line = f"{head}{sep}{label}{colon}{files}"
        lines.append(line)
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class WorkflowConsole(logging.Formatter):
    """Snakemake's console formatter ``inner``, with claims on job lines and the time left on progress lines.

    ``serves(rule, wildcards)`` names what a job is for (e.g. ``["claim:arm", ...]``), or returns nothing.
    """

    def __init__(
        self,
        inner: logging.Formatter,
        serves: Callable[[str, dict[str, Any]], list[str]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.serves = serves
        self.clock = clock
        self.started: float | None = None
        self.to_start: dict[str, int] = {}
        self.running: dict[Any, tuple[str, float]] = {}
        self.finished: dict[str, list[float]] = {}

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        event = str(getattr(record, "event", "") or "")
        now = self.clock()
        if event == "run_info" and isinstance(getattr(record, "stats", None), dict):
            self.to_start = {rule: int(n) for rule, n in record.stats.items() if rule != "total"}
            self.started = now
        elif event == "job_info":
            text = shorten_lists(text)
            rule = str(getattr(record, "rule_name", ""))
            if self.started is None:  # no job stats seen (a dry run prints them last): nothing to estimate
                return text
            self.running[getattr(record, "jobid", None)] = (rule, now)
            if self.to_start.get(rule, 0) > 0:
                self.to_start[rule] -= 1
            served = self._served(rule, getattr(record, "wildcards", None) or {})
            if served:
                text = f"{text}\n    for: {served}"
        elif event == "job_finished":
            rule, start = self.running.pop(getattr(record, "job_id", None), (None, None))
            if rule is not None:
                self.finished.setdefault(rule, []).append(now - start)
        elif event == "progress" and self.started is not None:
            text = f"{text} · {self.estimate(now)}"
        return text

    def _served(self, rule: str, wildcards: dict[str, Any]) -> str:
        if self.serves is None:
            return ""
        try:
            names = list(self.serves(rule, dict(wildcards)))
        except Exception:  # a label that cannot be made must never stop the console
            return ""
        if len(names) > 4:
            return ", ".join(names[:4]) + f" and {len(names) - 4} more"
        return ", ".join(names)

    def estimate(self, now: float) -> str:
        """``ETA …`` from this run's finished jobs, and how many are running."""
        durations = [d for ds in self.finished.values() for d in ds]
        running = f"{len(self.running)} running"
        if not durations:
            return f"time left: after the first job finishes · {running}"

        def mean(rule: str) -> float:
            return sum(self.finished[rule]) / len(self.finished[rule])

        pending = {rule for rule, n in self.to_start.items() if n > 0} | {rule for rule, _ in self.running.values()}
        untimed = sorted(rule for rule in pending if rule not in self.finished)
        work = sum(n * mean(rule) for rule, n in self.to_start.items() if rule in self.finished)
        work += sum(max(mean(r) - (now - start), 0.0) for r, start in self.running.values() if r in self.finished)
        elapsed = max(now - (self.started if self.started is not None else now), 1e-9)
        busy = sum(durations) + sum(now - start for _, start in self.running.values())
        left = _duration(work / max(busy / elapsed, 1.0))
        if untimed:  # a rule none of whose jobs has finished has no cost yet: what is known is a lower bound
            return (
                f"time left > {left} ({', '.join(untimed)} not yet timed; from {len(durations)} finished jobs) · "
                f"{running}"
            )
        return f"time left ≈ {left} (from {len(durations)} finished jobs) · {running}"


def install(serves: Callable[[str, dict[str, Any]], list[str]] | None = None) -> bool:
    """Wrap the formatter of Snakemake's console handler (once); False when there is none (another logger plugin,
    or Snakemake's API used without its console)."""
    for handler in logging.getLogger("snakemake.logging").handlers:
        if handler.name == STREAM_HANDLER and handler.formatter is not None:
            if not isinstance(handler.formatter, WorkflowConsole):
                handler.setFormatter(WorkflowConsole(handler.formatter, serves))
            return True
    return False
