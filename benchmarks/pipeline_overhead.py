"""Pipeline overhead at ci scale: total workflow wall time over the summed in-process run time.

Runs the workflow from scratch in a temporary folder on the given claims and reports

    overhead ratio = workflow wall time / Σ run.json wall_s   (the experiments' own training + evaluation time)
    core-second ratio = cores × workflow wall time / Σ run.json wall_s   (1.0: every core trained all the time)

together with a timeline (from the workflow's start to the first run's start, the span from the first run's start
to the last run's end, and from there to the workflow's end: run.json's started_at and finished_at), where the rest
goes (per-rule job wall times from Snakemake's benchmark files: process start, imports, scoring, verdicts, MLflow)
and the CPU of Snakemake's own process (its scheduler; the threads it started). Both numbers come from the same
invocation, so the ratio does not depend on the machine's speed the way an absolute time would.

    python benchmarks/pipeline_overhead.py [--claims claims] [--papers 2405.14953 2512.19554] [--cores 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler_cpu import snakemake_usage  # noqa: E402


def console_jobs(log: Path, cores: int) -> dict:
    """Per rule, the jobs and their summed wall seconds as the console shows them (start and end stamps, whole
    seconds), and the core-seconds no job held (cores × the console's span − Σ job seconds)."""
    stamp = start = rule = None
    started: dict[str, tuple[str, dt.datetime]] = {}
    per_rule: dict[str, list[float]] = defaultdict(list)
    for line in log.read_text(encoding="utf-8").splitlines():
        if m := re.fullmatch(r"\[(\w{3} \w{3} +\d+ [\d:]{8} \d{4})\]", line.strip()):
            stamp = dt.datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
            start = start or stamp
        elif m := re.fullmatch(r"(?:local)?rule (\w+):", line.strip()):
            rule = m.group(1)
        elif (m := re.fullmatch(r"jobid: (\d+)", line.strip())) and rule:
            started[m.group(1)], rule = (rule, stamp), None
        elif (m := re.match(r"Finished jobid: (\d+)", line.strip())) and m.group(1) in started:
            name, began = started.pop(m.group(1))
            per_rule[name].append((stamp - began).total_seconds())
    span = (stamp - start).total_seconds() if start else 0.0
    return {
        "job_s": {name: round(sum(v), 1) for name, v in sorted(per_rule.items(), key=lambda kv: -sum(kv[1]))},
        "jobs": {name: len(v) for name, v in per_rule.items()},
        "idle_core_s": round(cores * span - sum(sum(v) for v in per_rule.values()), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", default=str(ROOT / "claims"))
    parser.add_argument("--papers", nargs="*", help="only these paper folders (default: all)")
    parser.add_argument("--cores", default="2")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "pipeline_overhead.json"))
    parser.add_argument("--keep", metavar="DIR", help="run in this new folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        if args.keep:
            work.mkdir(parents=True)  # a new folder: a workflow that finds results would not be measured
        claims = work / "claims"
        for folder in sorted(Path(args.claims).iterdir()):
            if folder.is_dir() and (not args.papers or folder.name in args.papers):
                shutil.copytree(folder, claims / folder.name)
        for name in ("seeds", "papers"):  # the seed documents, and the paper texts textual claims are checked in
            shutil.copytree(ROOT / name, work / name)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db"}
        cmd = [
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(work),
            "--cores",
            args.cores,
            "--config",
            f"claims={claims}",
        ]
        began = dt.datetime.now(dt.UTC)
        start = time.perf_counter()
        # The console (every job with its start and end) goes to a file beside the report, for a closer look.
        # Snakemake runs in benchmarks/scheduler_cpu.py's launcher, which records its own process's CPU (its scheduler,
        # not the jobs) and the threads it started.
        with out.with_suffix(".snakemake.log").open("w") as console:
            snakemake = snakemake_usage(cmd, work, env, log=console)
        total = time.perf_counter() - start

        records = [json.loads(p.read_text()) for p in (work / "results/runs").rglob("run.json")]
        run_seconds = sum(r["wall_s"] for r in records)
        n_runs = len(records)
        first = min(dt.datetime.fromisoformat(r["started_at"]) for r in records)
        last = max(dt.datetime.fromisoformat(r["finished_at"]) for r in records)
        timeline = {
            "to_first_run_s": round((first - began).total_seconds(), 1),
            "runs_span_s": round((last - first).total_seconds(), 1),
            "after_last_run_s": round(total - (last - began).total_seconds(), 1),
        }
        per_rule: dict[str, list[float]] = defaultdict(list)
        for bench in (work / "results/benchmarks").rglob("*.tsv"):
            per_rule[bench.relative_to(work / "results/benchmarks").parts[0]].append(
                float(pd.read_csv(bench, sep="\t")["s"].iloc[0])
            )
        jobs = sum(1 for _ in (work / "logs").rglob("*.log"))

    report = {
        "cores": int(args.cores),
        "claims": args.papers or "all",
        "workflow_wall_s": round(total, 2),
        "runs": n_runs,
        "jobs": jobs,
        "sum_in_process_run_s": round(run_seconds, 2),
        "overhead_ratio": round(total / run_seconds, 2),
        "core_seconds_ratio": round(int(args.cores) * total / run_seconds, 2),
        "timeline": timeline,
        "run_job_wall_s": {rule: round(sum(v), 2) for rule, v in per_rule.items()},
        "snakemake_process": {
            "cpu_s": snakemake["cpu_s"],
            "user_s": round(snakemake["user_s"], 2),
            "system_s": round(snakemake["system_s"], 2),
            "threads_started": snakemake["threads"],
        },
    }
    report["console"] = console_jobs(out.with_suffix(".snakemake.log"), int(args.cores))
    if "run_arm" in per_rule:
        report["run_job_over_in_process"] = round(sum(per_rule["run_arm"]) / run_seconds, 2)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
