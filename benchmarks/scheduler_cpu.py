"""CPU of Snakemake's own process, with its scheduler as it ships and with repro's one pending re-evaluation timer
(repro/scheduler_timers.py), on a workflow of trivial jobs, in one invocation.

The workflow (written to a temporary folder) has ``--jobs`` jobs that each sleep ``--sleep`` seconds, run on
``--cores`` cores: the jobs wait for cores as the ci workflow's runs do, and use next to none themselves, so what
Snakemake's process spends is what the comparison shows. Each variant runs ``--repeats`` times, alternating (stock,
coalesced, stock, ...). Snakemake runs in a launcher process (``--launch``) that counts the threads it starts and
writes its own resource usage (user and system CPU of that process and all its threads, not of the jobs) when it exits.

    python benchmarks/scheduler_cpu.py [--jobs 300] [--sleep 0.3] [--cores 2] [--repeats 2]

Reported: per variant the median of Snakemake's CPU seconds (user + system), threads started and wall time, and
the ratio coalesced / stock of each. The wall time is set by the sleeping jobs; it shows that no job waited longer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SNAKEFILE = """\
if config.get("coalesce"):
    from repro.scheduler_timers import coalesce_reevaluations

    print("repro.scheduler_timers:", coalesce_reevaluations())

rule all:
    input: expand("out/{{i}}.txt", i=range({jobs}))

rule job:
    output: "out/{{i}}.txt"
    shell: "sleep {sleep}; echo {{wildcards.i}} > {{output}}"
"""


def launch(out: str, argv: list[str]) -> None:
    """Run Snakemake's command line in this process; at exit, write this process's CPU and threads started."""
    import atexit
    import resource
    import threading

    started = [0]
    start = threading.Thread.start

    def counted(self, *args, **kwargs):
        started[0] += 1
        return start(self, *args, **kwargs)

    threading.Thread.start = counted

    def record() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        Path(out).write_text(json.dumps({"user_s": usage.ru_utime, "system_s": usage.ru_stime, "threads": started[0]}))

    atexit.register(record)
    from snakemake.cli import main

    sys.argv = ["snakemake", *argv]
    main()


def snakemake_usage(argv: list[str], cwd: Path, env: dict | None = None, log=None) -> dict:
    """Run ``snakemake argv`` through the launcher; its CPU (user_s, system_s, cpu_s), threads and wall seconds."""
    with tempfile.NamedTemporaryFile(suffix=".json") as record:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--launch", record.name, "--", *argv],
            cwd=cwd,
            env=env,
            check=True,
            stdout=log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wall = time.perf_counter() - start
        usage = json.loads(Path(record.name).read_text())
    return {**usage, "cpu_s": round(usage["user_s"] + usage["system_s"], 2), "wall_s": round(wall, 2)}


def main() -> int:
    if sys.argv[1:2] == ["--launch"]:
        launch(sys.argv[2], sys.argv[4:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--sleep", type=float, default=0.3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "scheduler_cpu.json"))
    args = parser.parse_args()

    results: dict[str, list[dict]] = {"stock": [], "coalesced": []}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "Snakefile").write_text(SNAKEFILE.format(jobs=args.jobs, sleep=args.sleep))
        for _ in range(args.repeats):
            for variant in results:
                for leftover in ("out", ".snakemake"):
                    shutil.rmtree(work / leftover, ignore_errors=True)
                argv = ["--cores", str(args.cores), "--quiet", "all", "--config", f"coalesce={variant == 'coalesced'}"]
                results[variant].append(snakemake_usage(argv, work, env))
                done = len(list((work / "out").glob("*.txt")))
                if done != args.jobs:
                    raise SystemExit(f"{variant}: {done} of {args.jobs} jobs finished")

    median = {
        v: {k: statistics.median(r[k] for r in runs) for k in ("cpu_s", "threads", "wall_s")}
        for v, runs in results.items()
    }
    report = {
        "jobs": args.jobs,
        "sleep_s": args.sleep,
        "cores": args.cores,
        "repeats": args.repeats,
        "runs": results,
        "median": median,
        "ratio_coalesced_over_stock": {
            k: round(median["coalesced"][k] / median["stock"][k], 3) for k in ("cpu_s", "threads", "wall_s")
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("jobs", "median", "ratio_coalesced_over_stock")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
