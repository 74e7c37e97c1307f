"""benchmarks/pipeline_overhead.py's reading of a workflow's console: per-rule job seconds from the start and end
stamps, and the core-seconds no job held."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("pipeline_overhead", ROOT / "benchmarks" / "pipeline_overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONSOLE = """\
Building DAG of jobs...
Select jobs to execute...
Execute 2 jobs...

[Sat Dec  5 19:18:21 2026]
localrule run_arm:
    output: results/runs/a/ci/k/seed1/run.json
    jobid: 7
    wildcards: experiment=a
[Sat Dec  5 19:18:21 2026]
localrule decide_claim:
    jobid: 12
Select jobs to execute...
[Sat Dec  5 19:18:23 2026]
Finished jobid: 12 (Rule: decide_claim)
[Sat Dec  5 19:18:31 2026]
Finished jobid: 7 (Rule: run_arm)
[Sat Dec  5 19:18:31 2026]
localrule track_mlflow:
    jobid: 3
[Sat Dec  5 19:18:41 2026]
Finished jobid: 3 (Rule: track_mlflow)
"""


def test_console_jobs_sums_each_rule_and_the_idle_core_seconds(tmp_path):
    log = tmp_path / "console.log"
    log.write_text(CONSOLE)
    got = _load().console_jobs(log, cores=2)
    assert got["job_s"] == {"run_arm": 10.0, "track_mlflow": 10.0, "decide_claim": 2.0}
    assert got["jobs"] == {"run_arm": 1, "decide_claim": 1, "track_mlflow": 1}
    # 20 s of console on 2 cores is 40 core-seconds; the jobs held 22 of them
    assert got["idle_core_s"] == 18.0
