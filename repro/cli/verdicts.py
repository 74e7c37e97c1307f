"""The verbs of decisions and verdicts: the rule verbs ``decide`` (a claim's own evidence), ``family-pvalues`` and
``holm-family`` (a paper's Holm family) and ``finalize`` (the verdict across the paper's claims), and the reviewer's
``preregister`` (the ledger of decision rules) and ``numerics`` (the fragility check's second run)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from repro import __version__
from repro.cli.common import claims_option, claims_path, command, load_one, scale_option


def cmd_decide(args) -> int:
    """The claim's decision from its own evidence (gates 1–7); the verdict is written by ``finalize``."""
    from repro.files import write_json
    from repro.plan import plan_claim
    from repro.verdict import decide_claim

    loaded = load_one(Path(args.claim))
    plan = plan_claim(loaded, args.scale)
    decision = decide_claim(plan, Path("."), Path(args.papers))
    decision.provenance = _provenance(loaded.path.resolve().parents[2], plan)
    write_json(Path(args.out), decision.to_dict())
    print(f"{decision.claim_id} [{args.scale}]: decided {decision.verdict}: {decision.reason}", file=sys.stderr)
    return 0


def _provenance(root: Path, plan) -> dict:
    import platform

    import numpy
    import pandas

    from repro.files import read_json
    from repro.runner import git_state

    git = git_state(root)
    environments = set()
    for run in plan.runs:
        try:
            env = read_json(run.run_json)["environment"]
        except (OSError, ValueError, KeyError, TypeError):  # missing or corrupt: the decision's error gate names it
            continue
        else:
            environments.add(
                f"torch {env['torch']} on {env['device']} ({env['threads']} thread(s), CPU capability "
                f"{env['cpu_capability']}, {env['cpu']})"
            )
    return {
        "repro": __version__,
        "commit": git["commit"],
        "dirty": git["dirty"],
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "run_environments": sorted(environments) or None,
        "runs": ", ".join(sorted({str(r.dir.parent) for r in plan.runs})) or None,
    }


def rule_record(loaded, scale: str) -> dict:
    """The claim's rule at ``scale`` and where it stands in the preregistration ledger beside its claims folder."""
    from repro.ledger import ledger_path, read_ledger, rule_diff, rule_of, rule_status

    rule = rule_of(loaded.claim, scale)
    status = rule_status(read_ledger(ledger_path(loaded.path.parents[1])), loaded.id, scale, rule)
    record = {**status.as_dict(), "rule": rule}
    if status.previous is not None:
        record["diff"] = [list(row) for row in rule_diff(status.previous["rule"], rule)]
    return record


def cmd_family_pvalues(args) -> int:
    """The p-values of a paper's reproduction claims at one scale, gathered from their decisions."""
    from repro.multiplicity import write_family

    try:
        write_family(Path(args.out), [Path(p) for p in args.decisions], args.paper, args.scale)
    except (OSError, ValueError) as exc:
        print(f"repro family-pvalues: {exc}", file=sys.stderr)
        return 1
    print(f"{args.paper} [{args.scale}]: Holm family of {len(args.decisions)} reproduction claims", file=sys.stderr)
    return 0


def cmd_holm_family(args) -> int:
    """A paper's Holm family at one scale with its adjusted p-values: what each of its verdicts reads."""
    from repro.multiplicity import write_holm

    try:
        write_holm(Path(args.out), Path(args.pvalues))
    except (OSError, ValueError) as exc:
        print(f"repro holm-family: {exc}", file=sys.stderr)
        return 1
    print(f"{args.pvalues}: Holm-adjusted -> {args.out}", file=sys.stderr)
    return 0


def cmd_finalize(args) -> int:
    """Multiplicity across the paper's claims, preregistration status, numerics: the verdict, its card and plot."""
    from repro.files import read_json, sha256_file, write_json, write_text
    from repro.report import render_card, render_plot
    from repro.verdict import Verdict, finalize_verdict

    loaded = load_one(Path(args.claim))
    decision = Verdict.from_dict(read_json(Path(args.decision)))
    family = read_json(Path(args.family))["members"] if args.family else [decision]
    reference = None
    if args.reference:
        path = Path(args.reference)
        reference = Verdict.from_dict(read_json(path)) if path.is_file() else None
    verdict = finalize_verdict(decision, family, rule_record(loaded, args.scale), reference, args.reference_label)
    verdict.claim_file = {"path": args.claim, "sha256": sha256_file(Path(args.claim))}
    render_plot(verdict, Path(args.out_plot))
    write_text(Path(args.out_card), render_card(verdict))
    write_json(Path(args.out_json), verdict.to_dict())
    print(f"{verdict.claim_id} [{args.scale}]: {verdict.verdict} — {verdict.reason}", file=sys.stderr)
    return 0


def cmd_numerics(args) -> int:
    """Run a scale's workflow again under a second numeric environment, for the fragility check."""
    import subprocess

    workdir = Path(args.out) / args.capability
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(Path("Snakefile").resolve()),
        "-d",
        str(workdir),
        "--cores",
        args.cores,
        f"results/verdicts-{args.scale}.tsv",
        "--config",
        f"scale={args.scale}",
        f"claims={claims_path(args).resolve()}",
        f"papers={Path(args.papers).resolve()}",
    ]
    numeric = {"ATEN_CPU_CAPABILITY": args.capability, **({"MKL_CBWR": args.mkl_cbwr} if args.mkl_cbwr else {})}
    env = {**os.environ, **numeric}
    print(f"{' '.join(f'{k}={v}' for k, v in numeric.items())} {' '.join(cmd)}", file=sys.stderr)
    code = subprocess.run(cmd, env=env, check=False).returncode
    if code == 0:
        print(
            f"now decide with it: snakemake --cores all --config scale={args.scale} numerics_reference={workdir}",
            file=sys.stderr,
        )
    return code


def cmd_preregister(args) -> int:
    """Register claims' rules in the ledger; with --claim and --reason, re-register a rule changed after evidence."""
    from repro.claims import SCALES, ClaimError, load_claims
    from repro.ledger import ledger_path, read_ledger, register_missing, reregister, rule_of, rule_status

    claims_dir = claims_path(args)
    try:
        loaded = load_claims(claims_dir)
    except ClaimError as exc:
        print(exc, file=sys.stderr)
        return 1
    path = ledger_path(claims_dir)
    scales = tuple(args.scale) if args.scale else SCALES
    if args.claim:
        by_id = {c.id: c for c in loaded}
        unknown = sorted(set(args.claim) - set(by_id))
        if unknown:
            print(f"unknown claim(s): {', '.join(unknown)}", file=sys.stderr)
            return 2
        if not args.reason:
            print("re-registering a rule after its evidence was seen needs --reason", file=sys.stderr)
            return 2
        events = read_ledger(path)
        for claim_id in args.claim:
            claim = by_id[claim_id].claim
            changed = [
                scale
                for scale in scales
                if rule_status(events, claim_id, scale, rule_of(claim, scale)).changed_after_evidence
            ]
            if not changed:
                print(f"{claim_id}: no rule changed after its evidence; nothing to re-register", file=sys.stderr)
                return 1
            for scale in changed:
                event = reregister(path, claim, scale, args.reason)
                print(
                    f"{claim_id} [{scale}]: re-registered {event['previous']['fingerprint']} -> {event['fingerprint']}"
                )
        return 0
    new = register_missing(path, [c.claim for c in loaded], scales, by="repro preregister")
    for event in new:
        print(f"{event['claim']} [{event['scale']}]: registered {event['fingerprint']}")
    print(f"{len(new)} rule(s) registered in {path}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ parsers


def add_decide(sub) -> None:
    p = command(sub, "decide", "[rule] decide one claim at a scale from its own evidence")
    p.add_argument("--claim", required=True, help="the claim file")
    scale_option(p, required=True)
    p.add_argument("--out", required=True, help="decision JSON")
    p.add_argument("--papers", default="papers", help="paper text cache read by textual claims")
    p.set_defaults(func=cmd_decide)


def add_family_pvalues(sub) -> None:
    p = command(sub, "family-pvalues", "[rule] gather the p-values of a paper's reproduction claims at a scale")
    p.add_argument("--paper", required=True, help="the paper's arXiv id")
    scale_option(p, required=True)
    p.add_argument("--out", required=True, help="the family's p-values JSON to write")
    p.add_argument("decisions", nargs="+", help="the decision JSON of each reproduction claim, in family order")
    p.set_defaults(func=cmd_family_pvalues)


def add_holm_family(sub) -> None:
    p = command(sub, "holm-family", "[rule] Holm-adjust a paper's family p-values (repro family-pvalues)")
    p.add_argument("--pvalues", required=True, help="the family's p-values JSON")
    p.add_argument("--out", required=True, help="the family JSON each verdict reads")
    p.set_defaults(func=cmd_holm_family)


def add_finalize(sub) -> None:
    p = command(sub, "finalize", "[rule] the verdict: multiplicity, preregistration, numerics; card and plot")
    p.add_argument("--claim", required=True, help="the claim file")
    scale_option(p, required=True)
    p.add_argument("--decision", required=True, help="the claim's decision JSON (repro decide)")
    p.add_argument(
        "--family",
        default="",
        help="the paper's Holm family at the scale (results/families/<scale>/<paper>.json); default: the claim alone",
    )
    p.add_argument(
        "--reference",
        default="",
        help="this claim's verdict JSON from the workflow run under a second numeric environment",
    )
    p.add_argument("--reference-label", default=None, help="name of the second numeric environment")
    p.add_argument("--out-json", required=True, help="verdict JSON to write")
    p.add_argument("--out-card", required=True, help="verdict card to write (markdown)")
    p.add_argument("--out-plot", required=True, help="verdict plot to write (PNG)")
    p.set_defaults(func=cmd_finalize)


def add_numerics(sub) -> None:
    p = command(
        sub,
        "numerics",
        "run a scale's workflow again under a second numeric environment (fragility check)",
        "Run a scale's workflow again in another directory with ATEN_CPU_CAPABILITY (torch's own kernels) and MKL_CBWR "
        "(MKL's BLAS code path, which differs between CPUs: the same run's last bits differ between an AMD and an "
        "Intel machine) set; then decide with `--config numerics_reference=<that directory>`: a verdict that differs "
        "there is fragile.",
    )
    claims_option(p)
    scale_option(p)
    p.add_argument(
        "--capability", default="default", help="ATEN_CPU_CAPABILITY for every job (default: default, no SIMD)"
    )
    p.add_argument(
        "--mkl-cbwr",
        default="COMPATIBLE",
        help="MKL_CBWR for every job (default: COMPATIBLE, MKL's SSE2 path, the same on every x86 CPU; '' leaves "
        "MKL to pick its path by CPU)",
    )
    p.add_argument("--out", default="results-numerics", help="parent of the second workflow directory")
    p.add_argument("--papers", default="papers", help="paper text cache")
    p.add_argument("--cores", default="all", help="snakemake --cores of the second run")
    p.set_defaults(func=cmd_numerics)


def add_preregister(sub) -> None:
    p = command(
        sub,
        "preregister",
        "register claims' decision rules in the ledger (claims/ledger.jsonl) before their runs",
        "Register every claim's decision rule in the preregistration ledger beside the claims folder (the workflow "
        "does this when it starts). With --claim and --reason: re-register a rule changed after its evidence.",
    )
    claims_option(p)
    p.add_argument("--scale", action="append", choices=["ci", "reduced", "full"], help="default: every scale")
    p.add_argument("--claim", action="append", help="re-register this claim's changed rule (needs --reason)")
    p.add_argument("--reason", default=None, help="why the rule changed after its evidence was seen")
    p.set_defaults(func=cmd_preregister)
