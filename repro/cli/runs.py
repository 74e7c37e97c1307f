"""The rule verbs of runs and metrics: ``run-arm`` (one arm, one seed), ``compute-metrics`` (score a run),
``arm-scores`` (an arm's score files in one manifest) and ``check-property`` (a property claim's instances), and
``serve-jobs``, the job server they run in."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repro.cli.common import claims_option, command, load_one, scale_option


def cmd_run_arm(args) -> int:
    from repro.files import WriteError
    from repro.runner import run_arm
    from repro.runspec import RunSpec

    try:
        record = run_arm(RunSpec.from_json(args.spec), Path(args.out), threads=args.threads)
    except WriteError as exc:
        return _cannot_write("run-arm", exc, "the run left no tables and no run.json")
    print(f"{record['status']} in {record['wall_s']:.2f} s", file=sys.stderr)
    return 0


def cmd_compute_metrics(args) -> int:
    import pandas as pd

    from repro.files import write_json, write_parquet
    from repro.metrics.scoring import compute_run_metrics

    try:
        table, diagnostics = compute_run_metrics(Path(args.run))
        status = {"status": "ok", "error": None, **diagnostics}
    except Exception:
        table = pd.DataFrame(
            {"metric": pd.Series(dtype=str), "value": pd.Series(dtype=float), "source_sha256": pd.Series(dtype=str)}
        )
        status = {"status": "failed", "error": traceback.format_exc(limit=8)}
        print(status["error"], file=sys.stderr)
    return _write_all(
        "compute-metrics", [(Path(args.out), write_parquet, table), (Path(args.status), write_json, status)]
    )


def cmd_arm_scores(args) -> int:
    """One manifest of an arm's score files (path, size, sha256): what a claim's decision reads for the arm."""
    from repro.files import WriteError
    from repro.manifest import write_file_manifest

    try:
        write_file_manifest(Path(args.out), args.scores)
    except WriteError as exc:
        return _cannot_write("arm-scores", exc, "it wrote no manifest")
    except OSError as exc:
        print(f"repro arm-scores: cannot read a score file: {exc}", file=sys.stderr)
        return 1
    print(f"{len(args.scores)} score files -> {args.out}", file=sys.stderr)
    return 0


def cmd_check_property(args) -> int:
    import numpy as np

    from repro import registry
    from repro.claims import scale_spec
    from repro.files import write_json, write_parquet
    from repro.plan import plan_claim
    from repro.schemas import PropertyInstances
    from repro.tables import validate

    loaded = load_one(Path(args.claim))
    plan = plan_claim(loaded, args.scale)
    spec = scale_spec(loaded.claim, args.scale)
    check = registry.get_property(loaded.claim.check)
    out, status_path = Path(args.out), Path(args.status)
    try:
        params = check.params.model_validate(spec.params)
        run_dirs = [run.dir for run in plan.runs]
        table = check.measure(params, spec.instances, np.random.default_rng(args.seed), run_dirs)
        table = validate(PropertyInstances, table, "property instances")
        status = {"status": "ok", "error": None, "rows": len(table)}
    except Exception:
        table = PropertyInstances.example(size=0)
        status = {"status": "failed", "error": traceback.format_exc(limit=8)}
        print(status["error"], file=sys.stderr)
    return _write_all("check-property", [(out, write_parquet, table), (status_path, write_json, status)])


def _write_all(verb: str, outputs: list[tuple[Path, Callable[[Path, Any], None], Any]]) -> int:
    """Write a rule verb's outputs, ``(path, writer, content)`` in order: all of them, or (when one cannot be
    written: a full disk, a file-size limit) none, the file and the reason said on stderr, exit status 1."""
    from repro.files import WriteError

    written = []
    try:
        for path, write, content in outputs:
            write(path, content)
            written.append(path)
    except WriteError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        return _cannot_write(verb, exc, "it wrote none of its outputs")
    return 0


def _cannot_write(verb: str, exc: OSError, consequence: str) -> int:
    print(f"repro {verb}: {exc}; {consequence}", file=sys.stderr)
    return 1


def cmd_pilot(args) -> int:
    from repro.claims import ClaimError
    from repro.pilot import PilotError, holm_family_size, parse_seeds, pilot_claim, render

    folder = Path(args.claims)
    found = sorted(folder.glob(f"*/{args.claim_id}.yaml"))
    if not found:
        print(f"no claim file {args.claim_id}.yaml under {folder}/<arxiv_id>/ (`repro claims list`)", file=sys.stderr)
        return 2
    try:
        loaded = load_one(found[0])
        siblings = sorted(p for p in found[0].parent.glob("*.yaml") if p.name != "paper.yaml")
        result = pilot_claim(
            loaded,
            args.scale,
            parse_seeds(args.seeds),
            Path(args.out),
            threads=args.threads,
            log=lambda msg: print(msg, file=sys.stderr),
            family_size=holm_family_size(siblings, args.scale, load_one, loaded.id),
        )
    except (PilotError, ClaimError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(render(result))
    return 0


def cmd_serve_jobs(args) -> int:
    from repro.jobserver import serve

    return serve(args.socket, args.parent)


# ------------------------------------------------------------------ parsers


def add_run_arm(sub) -> None:
    p = command(sub, "run-arm", "[rule] run one experiment arm for one seed")
    p.add_argument("--spec", required=True, help="run spec JSON (experiment, scale, arm_key, seed, params)")
    p.add_argument("--out", required=True, help="path of run.json (written last)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the run")
    p.set_defaults(func=cmd_run_arm)


def add_compute_metrics(sub) -> None:
    p = command(sub, "compute-metrics", "[rule] score one run from its predictions and curve")
    p.add_argument("--run", required=True, help="the run's run.json")
    p.add_argument("--out", required=True, help="metrics table to write (parquet)")
    p.add_argument("--status", required=True, help="status JSON to write (ok, or the error)")
    p.set_defaults(func=cmd_compute_metrics)


def add_arm_scores(sub) -> None:
    p = command(sub, "arm-scores", "[rule] one manifest of an arm's score files (path, size, sha256)")
    p.add_argument("--out", required=True, help="manifest JSON to write")
    p.add_argument("scores", nargs="+", help="the arm's score files (metrics.parquet and metrics.json of each seed)")
    p.set_defaults(func=cmd_arm_scores)


def add_check_property(sub) -> None:
    p = command(sub, "check-property", "[rule] measure a property claim's instances")
    p.add_argument("--claim", required=True, help="the claim file")
    scale_option(p, required=True)
    p.add_argument("--seed", type=int, default=0, help="random state of the instances")
    p.add_argument("--out", required=True, help="instance table to write (parquet)")
    p.add_argument("--status", required=True, help="status JSON to write (ok, or the error)")
    p.set_defaults(func=cmd_check_property)


def add_pilot(sub) -> None:
    p = command(
        sub,
        "pilot",
        "measure a reproduction claim's per-seed spread on pilot seeds, before fixing its rule",
        "Run a reproduction claim's arms on pilot seeds (never its decisive seeds 0 … n-1) in a scratch folder, score "
        "them with the workflow's harness and print each arm's metric per seed, the per-seed sd of the claim's effect, "
        "the minimum detectable effect at its declared seeds and the seeds that would detect its margin (power 0.8), "
        "its mechanism diagnostic, its negative controls' gaps and the runs' cost. Writes nothing under results/ and "
        "nothing to the ledger; a JSON copy of the report goes to the output folder.",
    )
    p.add_argument("claim_id", help="the claim's id (its file name without .yaml)")
    claims_option(p)
    scale_option(p)
    p.add_argument("--seeds", default="1000-1005", help="pilot seeds: a range 1000-1005 or a list 1000,1001")
    p.add_argument(
        "--out",
        default="results-pilot",
        help="scratch folder for the pilot's runs (reused: runs already there are not run again)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.set_defaults(func=cmd_pilot)


def add_serve_jobs(sub) -> None:
    p = command(sub, "serve-jobs", "[workflow] the job server its rules' verbs run in (repro.jobserver)")
    p.add_argument("--socket", required=True, help="Unix socket path to listen on")
    p.add_argument("--parent", type=int, required=True, help="pid of the Snakemake process; exit when it is gone")
    p.set_defaults(func=cmd_serve_jobs)
