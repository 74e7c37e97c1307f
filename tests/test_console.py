"""The workflow console (repro.console): what each job serves, and the time left from this run's own jobs."""

from __future__ import annotations

import logging
import re

from repro.console import WorkflowConsole, install


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Inner(logging.Formatter):
    def format(self, record):
        return f"<{getattr(record, 'event', 'plain')}>"


def record(event, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("snakemake.logging", logging.INFO, __file__, 0, None, None, None)
    rec.event = event
    rec.__dict__.update(extra)
    return rec


def serves(rule, wildcards):
    return [wildcards["claim"]] if "claim" in wildcards else [f"c{i}:arm" for i in range(int(wildcards["n"]))]


def test_progress_says_time_left_from_this_runs_jobs():
    clock = Clock()
    console = WorkflowConsole(Inner(), serves, clock)
    console.format(record("run_info", stats={"run_arm": 4, "decide": 2, "total": 6}))
    assert console.format(record("job_info", jobid=1, rule_name="run_arm", wildcards={"n": 1})).endswith("c0:arm")
    console.format(record("job_info", jobid=2, rule_name="run_arm", wildcards={"n": 6}))
    first = console.format(record("progress", done=0, total=6))
    assert first.startswith("<progress>") and "after the first job finishes" in first and "2 running" in first

    clock.now = 10.0
    console.format(record("job_finished", job_id=1))
    console.format(record("job_finished", job_id=2))
    line = console.format(record("progress", done=2, total=6))
    # 2 run_arm jobs left at 10 s each: 20 job-seconds over an observed concurrency of 2 (20 busy seconds in 10 wall
    # seconds) = 10 s; the 2 decide jobs have no cost yet (none finished), so 10 s is a lower bound, and says so
    assert "time left > 10 s (decide not yet timed; from 2 finished jobs) · 0 running" in line

    clock.now = 12.0
    console.format(record("job_info", jobid=3, rule_name="decide", wildcards={"claim": "x"}))
    clock.now = 13.0
    console.format(record("job_finished", job_id=3))
    line = console.format(record("progress", done=3, total=6))
    seconds = int(re.search(r"time left ≈ (\d+) s", line).group(1))
    # now decide jobs cost 1 s: 2×10 + 1×1 = 21 job-seconds at concurrency 21/13 ≈ 1.6 → 13 s
    assert seconds == 13


def test_job_lines_name_what_they_serve_and_cap_the_list():
    console = WorkflowConsole(Inner(), serves, Clock())
    console.format(record("run_info", stats={"run_arm": 1, "total": 1}))
    line = console.format(record("job_info", jobid=1, rule_name="run_arm", wildcards={"n": 6}))
    assert line.endswith("for: c0:arm, c1:arm, c2:arm, c3:arm and 2 more")
    assert console.format(record("job_info", jobid=2, rule_name="decide", wildcards={"claim": "x"})).endswith("x")


def test_a_failing_label_never_stops_the_console():
    def broken(rule, wildcards):
        raise KeyError("no such run")

    console = WorkflowConsole(Inner(), broken, Clock())
    console.format(record("run_info", stats={"r": 1, "total": 1}))
    assert console.format(record("job_info", jobid=1, rule_name="r", wildcards={})) == "<job_info>"


def test_install_wraps_snakemakes_console_handler_once():
    logger = logging.getLogger("snakemake.logging")
    handler = logging.StreamHandler()
    handler.name = "DefaultStreamHandler"
    handler.setFormatter(Inner())
    logger.addHandler(handler)
    try:
        assert install() and install()
        assert isinstance(handler.formatter, WorkflowConsole) and isinstance(handler.formatter.inner, Inner)
    finally:
        logger.removeHandler(handler)
    assert not install()


def test_a_real_workflow_console_shows_time_left_and_claims(planted_workflow):
    workdir, _ = planted_workflow
    console = (workdir.parent / f"{workdir.name}-console.txt").read_text()
    assert re.search(r"\d+ of \d+ steps \(\d+%\) done · time left ≈ ", console), console[-2000:]
    assert re.search(r"^    for: \S+:\S+", console, re.MULTILINE), console[-2000:]
    assert re.search(r"^repro: \d+ claims at scale ci, \d+ training runs planned", console, re.MULTILINE), console[
        :2000
    ]


def test_the_log_index_names_each_runs_log_and_its_claims(planted_workflow):
    """logs/index-ci.tsv: a person finds an arm's log by claim and arm, not by the arm's content key."""
    import csv

    workdir, _ = planted_workflow
    with open(workdir / "logs/index-ci.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    runs = sorted((workdir / "results/runs").glob("*/ci/*/seed*/run.json"))
    assert len(rows) == len(runs) > 0
    for row in rows:
        assert (workdir / row["log"]).is_file(), row
        assert re.fullmatch(
            r"[a-z0-9-]+:\S+( \(prerequisite\))?(, [a-z0-9-]+:\S+( \(prerequisite\))?)*", row["used_by"]
        ), row


def test_long_input_lists_are_cut_to_a_count_on_the_console():
    class Listing(logging.Formatter):
        def format(self, record):
            files = ", ".join(f"results/runs/x/ci/k/seed{i}/metrics.parquet" for i in range(120))
            return f"rule decide_claim:\n    input: {files}\n    output: a.json\n    reason: Params have changed"

    console = WorkflowConsole(Listing(), serves, Clock())
    line = console.format(record("job_info", jobid=1, rule_name="decide_claim", wildcards={"claim": "x"}))
    assert "    input: results/runs/x/ci/k/seed0/metrics.parquet, " in line
    assert "seed2/metrics.parquet, … and 117 more\n" in line and "seed3/" not in line
    assert "    output: a.json\n    reason: Params have changed" in line


def test_short_lists_and_file_reasons_under_the_limit_are_kept():
    from repro.console import shorten_lists

    text = "    input: a, b, c\n    reason: Input files updated by another job: a, b"
    assert shorten_lists(text) == text
    many = "    reason: Input files updated by another job: " + ", ".join("abcdefgh")
    assert shorten_lists(many) == "    reason: Input files updated by another job: a, b, c, … and 5 more"
