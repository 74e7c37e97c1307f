"""The workflow's scoring and deciding jobs in job-server forks: what the server's warm-up saves them.

A ci workflow runs some 330 jobs that are not training runs (compute-metrics, arm-scores, check-property, decide,
finalize); each runs in a fork of the job server (repro/jobserver.py), so what a fork still has to load or build
is paid once per job. This benchmark replays those jobs on a finished workflow's results, in a temporary copy of
its folder, in forks of two servers started in this process, alternating:

    reference   the server's warm-up without the table contracts' schemas, pandera's backends, Pillow's plugins,
                the modules jobs load lazily (pyarrow.dataset, matplotlib's Agg backend) and the frozen heap
                (repro.jobwarm.freeze_heap): the warm-up before they were added
    warm        the server's warm-up as it is

Both warm the project's modules (repro.jobwarm.warm_project), which since then also builds the command line's
parser: neither variant's jobs build it, so the comparison is of the parts above only.

and reports each verb's total seconds, and the ratio warm / reference. It also times a served job's own process
(``python -S -m repro``'s client imports, as the rules start it) against the same with ``site`` and one that imports
the command line first.

``--reference unfrozen`` compares with the warm-up as it is but without freezing the heap. ``--after track`` replays
both as after the server forked the first MLflow sync, which loads mlflow into it (repro.jobwarm.ON_DEMAND): without
a frozen heap, that made later jobs' forks meet a full garbage collection.

    python benchmarks/served_jobs.py [--workdir .] [--rounds 2] [--reference unfrozen] [--after track]

``--workdir`` must hold a finished ci workflow (``snakemake --cores all``): its ``results`` are copied, not changed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ("compute_metrics", "arm_scores", "check_property", "decide_claim", "decide_verdict")
VERBS = ("compute-metrics", "arm-scores", "check-property", "decide", "finalize")  # the rules' order in the DAG
LAZY = ("pyarrow.dataset", "matplotlib.backends.backend_agg", "PIL.PngImagePlugin")
"""The modules the server preloads for what jobs loaded lazily (left out of the reference warm-up)."""
COPIED = ("results", "claims", "papers", "seeds", "config", "rules", "profiles", "Snakefile")


def job_commands(workdir: Path) -> list[list[str]]:
    """The ``repro`` argument lists of the workflow's scoring and deciding jobs, from Snakemake's dry run with
    those rules forced (in the DAG's order: by verb)."""
    proc = subprocess.run(
        ["snakemake", "-n", "-p", "--cores", "1", "--forcerun", *RULES],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    commands = []
    for line in proc.stdout.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith("python -S -m repro "):
            words = shlex.split(line.split(" > ")[0])
            argv = words[words.index("repro") + 1 :]
            if argv[0] in VERBS:
                commands.append(argv)
    return sorted(commands, key=lambda argv: VERBS.index(argv[0]))


def _server(variant: str, commands: list[list[str]], workdir: Path, report: int, on_demand: str) -> None:
    """In a forked child: warm up like the job server (``variant``), load what it loads for the ``on_demand`` verb's
    first job (if any), run every job in a fork of it, write the per-verb seconds to ``report`` and exit."""
    from repro import jobserver, jobwarm

    if variant != "warm":
        jobwarm.freeze_heap = lambda: 0
    if variant == "reference":
        jobwarm.PRELOAD = tuple(name for name in jobwarm.PRELOAD if name not in LAZY)
        jobwarm._warm_tables = lambda: 0
        jobwarm._image_plugins = lambda: None
    jobwarm.warm_up()
    if on_demand:
        jobserver.load_on_demand([on_demand])
    from repro.cli import dispatch

    os.chdir(workdir)
    seconds: dict[str, float] = defaultdict(float)
    failed = 0
    for argv in commands:
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            code = 1
            try:
                code = int(dispatch(argv) or 0)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        seconds[argv[0]] += time.perf_counter() - start
        failed += status != 0
    os.write(report, json.dumps({"seconds": seconds, "failed": failed}).encode())
    os._exit(0)


def replay(variant: str, commands: list[list[str]], workdir: Path, on_demand: str = "") -> dict:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            _server(variant, commands, workdir, write, on_demand)
        finally:
            os._exit(1)
    os.close(write)
    with os.fdopen(read) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    if not data:
        raise SystemExit(f"the {variant} server ended without a report")
    return json.loads(data)


def client_ms(workdir: Path, code: str, flags: tuple[str, ...] = (), n: int = 30) -> float:
    """Median milliseconds of ``python [flags] -c code`` (a job process's imports), from ``workdir``, with the
    package on ``$PYTHONPATH`` as the workflow's jobs have it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([sys.executable, *flags, "-c", code], cwd=workdir, env=env, check=True)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT), help="a folder holding a finished ci workflow")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the two warm-ups")
    parser.add_argument(
        "--reference",
        choices=("reference", "unfrozen"),
        default="reference",
        help="what the warm-up is compared with: the warm-up before its later parts (default), or as it is but with "
        "the heap left unfrozen",
    )
    parser.add_argument(
        "--after",
        default="",
        metavar="VERB",
        help="replay as after the server forked this verb's first job (track: with mlflow loaded in the server)",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "served_jobs.json"))
    args = parser.parse_args()
    source = Path(args.workdir).resolve()
    if not (source / "results" / "verdicts").is_dir():
        raise SystemExit(f"{source}: no results/verdicts (run the ci workflow there first)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in COPIED:
            path = source / name
            if path.is_dir():
                shutil.copytree(path, work / name)
            elif path.exists():
                shutil.copy2(path, work / name)
        commands = job_commands(work)
        counts = {verb: sum(argv[0] == verb for argv in commands) for verb in VERBS}
        print(f"{len(commands)} jobs: " + ", ".join(f"{counts[v]} {v}" for v in VERBS), flush=True)
        runs: dict[str, list[dict]] = {"reference": [], "warm": []}
        for round_ in range(args.rounds):
            for variant in ("reference", "warm"):
                result = replay(args.reference if variant == "reference" else variant, commands, work, args.after)
                if result["failed"]:
                    raise SystemExit(f"{result['failed']} job(s) failed in the {variant} replay")
                runs[variant].append(result["seconds"])
                total = sum(result["seconds"].values())
                print(f"round {round_ + 1}, {variant}: {total:.1f} s", flush=True)
        light = client_ms(work, "import repro.jobclient", ("-S",))
        with_site = client_ms(work, "import repro.jobclient")
        heavy = client_ms(work, "import repro.jobclient, repro.cli")
        bare = client_ms(work, "pass")
    clients = {"python": bare, "served": light, "served_with_site": with_site, "with_cli": heavy}
    report = {"reference": args.reference, "after": args.after or None, "jobs": counts, "client_ms": clients}
    report["per_verb_s"] = {}
    for verb in VERBS:
        ref = statistics.median(r[verb] for r in runs["reference"])
        warm = statistics.median(r[verb] for r in runs["warm"])
        report["per_verb_s"][verb] = {"reference": round(ref, 2), "warm": round(warm, 2), "ratio": round(warm / ref, 3)}
    ref_total = statistics.median(sum(r.values()) for r in runs["reference"])
    warm_total = statistics.median(sum(r.values()) for r in runs["warm"])
    report["total_s"] = {"reference": round(ref_total, 1), "warm": round(warm_total, 1)}
    report["ratio"] = round(warm_total / ref_total, 3)
    print(f"\n{'verb':16s} {'jobs':>5s} {'reference s':>12s} {'warm s':>8s} {'ratio':>6s}")
    for verb, row in report["per_verb_s"].items():
        print(f"{verb:16s} {counts[verb]:5d} {row['reference']:12.2f} {row['warm']:8.2f} {row['ratio']:6.3f}")
    print(f"{'all':16s} {len(commands):5d} {ref_total:12.1f} {warm_total:8.1f} {report['ratio']:6.3f}")
    print(
        f"\na served job's own process: {light:.1f} ms (python alone {bare:.1f} ms); importing the command line too:"
        f" {heavy:.1f} ms (ratio {light / heavy:.3f})"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
