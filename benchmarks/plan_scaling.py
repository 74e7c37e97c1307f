"""Planning time as the number of claims grows: ``build_plan`` and ``snakemake -n`` with N generated claims.

Copies the claims folder (paper folders, ledger.jsonl), seeds/ and papers/ into a temporary folder and adds N copies
of a shipped MallowsPO reproduction claim with new ids. Most copies share the shipped claim's arms, and so its
runs; every ``--distinct-every``-th one gives its treatment arm its own solver tolerance, so it adds runs of its own.
By default the copies go into the shipped paper's folder (claims/2405.14953, as in issue 17); ``--per-paper K``
puts K per generated paper folder instead (a paper's reproduction claims are one Holm family, and every verdict
job lists its family's decisions, so one folder of N claims gives Snakemake N² input files).

For each N it times

* ``build_plan`` in a fresh interpreter (imports timed apart), and
* ``snakemake -n --quiet rules`` on the workflow, as a subprocess, with ``--config claims=<copy>``,

and, for scale, a bare Snakemake workflow with as many trivial jobs (``<i>.a -> <i>.b -> all``), measured in the
same run: the ratio ``snakemake -n`` / bare is what the workflow's own planning adds, whatever the machine.
Nothing is asserted; the numbers are printed (and written as JSON with ``--out``).

    python benchmarks/plan_scaling.py [--n 0 1000] [--large] [--distinct-every 20] [--per-paper 0] [--scale ci]
                                      [--skip-snakemake] [--timeout SECONDS] [--out rows.json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER = "2405.14953"
BASE = "mallowspo-bandit-enhances-dpo"
TREATMENT_ARM = "  mallowspo_entropy: {loss: mallows_theta, dispersion: entropy}\n"

PLAN_TIMER = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from repro.plan import build_plan
t1 = time.perf_counter()
plan = build_plan(Path(sys.argv[1]), sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "build_plan_s": t2 - t1, "claims": len(plan.claims), "runs": len(plan.runs)}))
"""

BARE_SNAKEFILE = """
N = {n}

rule all:
    input: expand("out/{{i}}.b", i=range(N))

rule b:
    input: "out/{{i}}.a"
    output: "out/{{i}}.b"
    shell: "touch {{output}}"

rule a:
    output: "out/{{i}}.a"
    shell: "touch {{output}}"
"""


def make_workdir(work: Path, n: int, distinct_every: int, per_paper: int) -> Path:
    """A copy of the claims (with ``n`` generated ones), seeds and papers under ``work``; returns the claims folder."""
    claims = work / "claims"
    shutil.copytree(ROOT / "claims", claims)
    for name in ("seeds", "papers"):
        shutil.copytree(ROOT / name, work / name)
    base = (ROOT / "claims" / PAPER / f"{BASE}.yaml").read_text(encoding="utf-8")
    paper_yaml = (ROOT / "claims" / PAPER / "paper.yaml").read_text(encoding="utf-8")
    assert f"id: {BASE}\n" in base and TREATMENT_ARM in base and f"arxiv: {PAPER}v5" in base
    for i in range(n):
        claim_id = f"scaling-{i:05d}"
        text = base.replace(f"id: {BASE}\n", f"id: {claim_id}\n")
        if distinct_every and i % distinct_every == 0:
            tol = 1e-10 * (1 + (i // distinct_every + 1) * 1e-3)  # the solver's tolerance: a distinct arm, same work
            text = text.replace(TREATMENT_ARM, TREATMENT_ARM[:-2] + f", grad_tol: {tol!r}}}\n")
        folder = claims / PAPER
        if per_paper:
            arxiv = f"9{i // per_paper:03d}.{i // per_paper:05d}"
            folder = claims / arxiv
            if not folder.is_dir():
                folder.mkdir()
                (folder / "paper.yaml").write_text(paper_yaml.replace(PAPER, arxiv), encoding="utf-8")
            text = text.replace(f"arxiv: {PAPER}v5", f"arxiv: {arxiv}v5")
        (folder / f"{claim_id}.yaml").write_text(text, encoding="utf-8")
    return claims


def time_plan(claims: Path, scale: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PLAN_TIMER, str(claims), scale], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_snakemake(snakefile: Path, workdir: Path, config: list[str], timeout: float | None) -> tuple[float, int]:
    """Wall seconds of ``snakemake -n`` and the number of jobs it planned (0 jobs: it ran past ``timeout``)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(workdir), "-n", "--quiet", "rules"]
    if config:
        cmd += ["--config", *config]
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, timeout=timeout)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, 0
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    totals = re.findall(r"^total\s+(\d+)\s*$", out.stdout + out.stderr, re.MULTILINE)
    return wall, int(totals[-1]) if totals else 0


def measure(n: int, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="plan_scaling_") as tmp:
        work = Path(tmp)
        claims = make_workdir(work, n, args.distinct_every, args.per_paper)
        row: dict = {"added_claims": n, **time_plan(claims, args.scale)}
        if not args.skip_snakemake:
            config = [f"claims={claims}", f"papers={work / 'papers'}", f"scale={args.scale}"]
            wall, jobs = time_snakemake(ROOT / "Snakefile", work, config, args.timeout)
            row.update(snakemake_n_s=wall, jobs=jobs)
            if not jobs:
                row["snakemake_timed_out"] = True
                return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
            bare = work / "bare"
            bare.mkdir()
            (bare / "Snakefile").write_text(BARE_SNAKEFILE.format(n=max((jobs - 1) // 2, 1)), encoding="utf-8")
            bare_wall, bare_jobs = time_snakemake(bare / "Snakefile", bare, [], None)
            row.update(bare_snakemake_n_s=bare_wall, bare_jobs=bare_jobs, ratio_to_bare=wall / bare_wall)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*", default=[0, 1000], help="numbers of claims to add")
    parser.add_argument("--large", action="store_true", help="also N = 10000 (slow)")
    parser.add_argument("--distinct-every", type=int, default=20, help="every k-th added claim has runs of its own")
    parser.add_argument("--per-paper", type=int, default=0, help="added claims per generated paper (0: all in one)")
    parser.add_argument("--scale", default="ci", choices=("ci", "reduced", "full"))
    parser.add_argument("--skip-snakemake", action="store_true", help="time build_plan only")
    parser.add_argument("--timeout", type=float, help="give up on a `snakemake -n` after this many seconds")
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args()

    sizes = list(args.n) + ([10000] if args.large and 10000 not in args.n else [])
    rows = []
    for n in sizes:
        row = measure(n, args)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
