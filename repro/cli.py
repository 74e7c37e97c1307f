"""``repro``: the command line. Reviewer verbs (claims, status) and the verbs the Snakemake rules call.

Each rule verb parses its arguments, calls one library function and writes its outputs atomically;
it exits non-zero only for errors of the workflow itself (bad arguments, unreadable claims), never
for a failed experiment, which becomes an ``error`` verdict instead.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from repro import __version__

FAIL_DEFAULT = "error,invalid"


def _claims_dir(args) -> Path:
    return Path(args.claims)


# ------------------------------------------------------------------ reviewer verbs


def cmd_claims_check(args) -> int:
    from repro.claims import ClaimError, load_claims

    try:
        claims = load_claims(_claims_dir(args), include_drafts=True)
    except ClaimError as exc:
        print(exc, file=sys.stderr)
        return 1
    papers = {c.paper.arxiv_id for c in claims}
    drafts = sum(1 for c in claims if c.claim.draft is not None)
    kinds: dict[str, int] = {}
    for c in claims:
        kinds[c.claim.kind] = kinds.get(c.claim.kind, 0) + 1
    detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(
        f"ok: {len(claims)} claims ({detail}) across {len(papers)} papers"
        + (f"; {drafts} drafts kept out of the workflow" if drafts else "")
    )
    return 0


def cmd_claims_list(args) -> int:
    from repro.claims import SCALES, load_claims, scale_spec

    claims = load_claims(_claims_dir(args), include_drafts=True)
    print(f"{'claim':44} {'kind':13} {'paper':14} " + " ".join(f"{s:8}" for s in SCALES))
    for c in sorted(claims, key=lambda c: (c.paper.arxiv_id, c.id)):
        cells = []
        for scale in SCALES:
            spec = scale_spec(c.claim, scale)
            cells.append("-" if spec is None else ("not_run" if spec.not_run else "runs"))
        draft = " (draft)" if c.claim.draft else ""
        print(f"{c.id + draft:44} {c.claim.kind:13} {c.claim.paper.arxiv:14} " + " ".join(f"{x:8}" for x in cells))
    return 0


def cmd_claims_show(args) -> int:
    from repro.claims import load_claims
    from repro.plan import plan_claim

    claims = {c.id: c for c in load_claims(_claims_dir(args), include_drafts=True)}
    if args.claim_id not in claims:
        print(f"no claim {args.claim_id!r}", file=sys.stderr)
        return 1
    loaded = claims[args.claim_id]
    print(f"# {loaded.path}\n")
    print(loaded.path.read_text(encoding="utf-8"))
    plan = plan_claim(loaded, args.scale)
    print(f"# at scale {args.scale}: " + (f"not run ({plan.not_run})" if plan.not_run else f"{len(plan.runs)} runs"))
    for arm, runs in plan.arms.items():
        print(f"#   {arm}: {runs[0].dir.parent} × {len(runs)} seeds")
    return 0


def cmd_status(args) -> int:
    import pandas as pd

    path = Path(args.results) / f"verdicts-{args.scale}.tsv"
    if not path.is_file():
        print(f"no {path}: run `snakemake --cores all --config scale={args.scale}` first", file=sys.stderr)
        return 2
    table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    width = max(len(c) for c in table["claim_id"])
    for row in table.itertuples(index=False):
        effect = "" if pd.isna(row.effect) else f"{row.effect:.4g}"
        interval = "" if pd.isna(row.ci_low) else f"[{row.ci_low:.4g}, {row.ci_high:.4g}]"
        hypothesis = row.hypothesis[:70]
        print(f"{row.claim_id:{width}}  {row.verdict:12}  {row.kind:12}  {effect:>10} {interval:24}  {hypothesis}")
    counts = table["verdict"].value_counts().to_dict()
    print(f"\nscale {args.scale}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    failing = [v for v in args.fail_on.split(",") if v] if args.fail_on else []
    bad = table[table["verdict"].isin(failing)]
    if len(bad):
        print(f"{len(bad)} claim(s) ended {'/'.join(failing)}: {', '.join(bad['claim_id'])}", file=sys.stderr)
        return 1
    return 0


def cmd_paper_add(args) -> int:
    from repro.papers import ClientSettings, PaperError, add_paper

    settings = ClientSettings(
        base_url=args.base_url, delay_s=args.delay, retries=args.retries, backoff_s=args.backoff, timeout_s=args.timeout
    )
    try:
        add_paper(
            args.arxiv_ref,
            _claims_dir(args),
            Path(args.papers),
            settings,
            offline=args.offline,
            fulltext=not args.no_fulltext,
        )
    except PaperError as exc:
        print(f"repro paper add: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_claims_draft(args) -> int:
    from repro.claims import ClaimError
    from repro.drafting import draft_claims

    try:
        draft_claims(args.arxiv_id, _claims_dir(args), Path(args.papers), args.version, body=not args.abstract_only)
    except (ClaimError, FileNotFoundError) as exc:
        print(f"repro claims draft: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_seeds(args) -> int:
    from repro.seeds import render, seeds_report

    reports, table = seeds_report(
        Path(args.seeds), _claims_dir(args), Path(args.results), args.scale, Path(args.papers)
    )
    print(render(reports, table, args.scale), end="")
    return 0


# ------------------------------------------------------------------ rule verbs


def cmd_run_arm(args) -> int:
    from repro.plan import RunSpec
    from repro.runner import run_arm

    record = run_arm(RunSpec.from_json(args.spec), Path(args.out), threads=args.threads)
    print(f"{record['status']} in {record['wall_s']:.2f} s", file=sys.stderr)
    return 0


def cmd_compute_metrics(args) -> int:
    import pandas as pd

    from repro.files import write_json, write_parquet
    from repro.metrics import compute_run_metrics

    try:
        table, diagnostics = compute_run_metrics(Path(args.run))
        status = {"status": "ok", "error": None, **diagnostics}
    except Exception:
        table = pd.DataFrame(
            {"metric": pd.Series(dtype=str), "value": pd.Series(dtype=float), "source_sha256": pd.Series(dtype=str)}
        )
        status = {"status": "failed", "error": traceback.format_exc(limit=8)}
        print(status["error"], file=sys.stderr)
    write_parquet(Path(args.out), table)
    write_json(Path(args.status), status)
    return 0


def _load_one(claim_path: Path):
    """Load one claim file; seed paths resolve against the folder holding the claims folder."""
    from repro.claims import LoadedClaim, load_paper, parse_claim

    root = claim_path.resolve().parents[2]
    paper_path = claim_path.parent / "paper.yaml"
    paper = load_paper(paper_path, root)
    return LoadedClaim(parse_claim(claim_path, paper, root), claim_path, paper, paper_path)


def cmd_check_property(args) -> int:
    import numpy as np

    from repro import registry
    from repro.claims import scale_spec
    from repro.files import write_json, write_parquet
    from repro.plan import plan_claim
    from repro.schemas import PropertyInstances, validate

    loaded = _load_one(Path(args.claim))
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
    write_parquet(out, table)
    write_json(status_path, status)
    return 0


def cmd_decide(args) -> int:
    from repro.files import write_json, write_text
    from repro.plan import plan_claim
    from repro.report import render_card, render_plot
    from repro.verdict import decide

    loaded = _load_one(Path(args.claim))
    plan = plan_claim(loaded, args.scale)
    verdict = decide(plan, Path("."), Path(args.papers))
    verdict["provenance"] = _provenance(loaded.path.resolve().parents[2], plan)
    card = render_card(verdict)
    render_plot(verdict, Path(args.out_plot))
    write_text(Path(args.out_card), card)
    write_json(Path(args.out_json), verdict)
    print(f"{verdict['claim_id']} [{args.scale}]: {verdict['verdict']} — {verdict['reason']}", file=sys.stderr)
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
        if run.run_json.is_file():
            env = read_json(run.run_json)["environment"]
            environments.add(f"torch {env['torch']} on {env['device']} ({env['threads']} thread(s))")
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


def cmd_summarize(args) -> int:
    from repro.files import read_json, write_text
    from repro.report import render_html, summary_table

    paths = [Path(p) for p in args.verdicts]
    verdicts = [read_json(p) for p in paths]
    table = summary_table(verdicts)
    tsv = table.to_csv(sep="\t", index=False, float_format="%.6g")
    write_text(Path(args.out_tsv), tsv)
    cards = {
        v["claim_id"]: p.with_suffix(".md").read_text(encoding="utf-8") for v, p in zip(verdicts, paths, strict=True)
    }
    plots = {v["claim_id"]: p.with_suffix(".png") for v, p in zip(verdicts, paths, strict=True)}
    write_text(Path(args.out_html), render_html(table, verdicts, cards, plots, args.scale))
    return 0


def cmd_track(args) -> int:
    from repro.files import write_json
    from repro.tracking import sync, tracking_uri

    receipt = sync([Path(p) for p in args.verdicts], args.scale, tracking_uri(args.uri or None))
    write_json(Path(args.out), receipt)
    print(
        f"mlflow {receipt['uri']}: {receipt['created']} runs written, {receipt['unchanged']} unchanged", file=sys.stderr
    )
    return 0


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repro",
        description=(
            "Claim verification and reduced-scale reproduction of ML papers. Run the workflow with "
            "`snakemake --cores all`; these commands inspect claims and verdicts, and are what its rules call."
        ),
    )
    parser.add_argument("--version", action="version", version=f"repro {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--claims", default="claims", help="claims folder (default: claims)")

    claims = sub.add_parser("claims", help="validate, list and show claims")
    claims_sub = claims.add_subparsers(dest="claims_command", required=True)
    p = claims_sub.add_parser("check", help="validate every claim file (exit 1 on any problem)")
    common(p)
    p.set_defaults(func=cmd_claims_check)
    p = claims_sub.add_parser("list", help="list claims, their kinds and which scales run")
    common(p)
    p.set_defaults(func=cmd_claims_list)
    p = claims_sub.add_parser("show", help="show one claim and the runs it needs at a scale")
    common(p)
    p.add_argument("claim_id")
    p.add_argument("--scale", default="ci", choices=["ci", "reduced", "full"])
    p.set_defaults(func=cmd_claims_show)

    p = claims_sub.add_parser("draft", help="draft claim files from a paper's cached text (kept out of the workflow)")
    common(p)
    p.add_argument("arxiv_id", help="arXiv id without version, e.g. 2405.14953")
    p.add_argument("--version", default=None, help="cached version to draft from (default: the latest cached)")
    p.add_argument("--papers", default="papers", help="paper text cache (default: papers)")
    p.add_argument("--abstract-only", action="store_true", help="ignore the full text even when it is cached")
    p.set_defaults(func=cmd_claims_draft)

    paper = sub.add_parser("paper", help="fetch papers from arXiv into the text cache")
    paper_sub = paper.add_subparsers(dest="paper_command", required=True)
    p = paper_sub.add_parser("add", help="fetch metadata and text of an arXiv paper; create claims/<id>/paper.yaml")
    common(p)
    p.add_argument("arxiv_ref", help="arXiv id, with or without version: 2405.14953 or 2405.14953v5")
    p.add_argument("--papers", default="papers", help="paper text cache (default: papers)")
    p.add_argument("--offline", action="store_true", help="use only the cache; never touch the network")
    p.add_argument("--no-fulltext", action="store_true", help="cache the abstract only (no PDF download)")
    p.add_argument("--base-url", default="https://export.arxiv.org", help="arXiv API and PDF host")
    p.add_argument("--delay", type=float, default=3.0, help="seconds between requests (default: 3)")
    p.add_argument("--retries", type=int, default=3, help="retries on 429/5xx, empty pages, bad XML (default: 3)")
    p.add_argument("--backoff", type=float, default=3.0, help="first retry's wait in seconds, doubling (default: 3)")
    p.add_argument("--timeout", type=float, default=60.0, help="PDF download timeout in seconds (default: 60)")
    p.set_defaults(func=cmd_paper_add)

    p = sub.add_parser("seeds", help="seed documents: their claims, verdicts and relevance to their own question")
    common(p)
    p.add_argument("--seeds", default="seeds")
    p.add_argument("--papers", default="papers")
    p.add_argument("--results", default="results")
    p.add_argument("--scale", default="ci", choices=["ci", "reduced", "full"])
    p.set_defaults(func=cmd_seeds)

    p = sub.add_parser("status", help="print the verdict table of a scale")
    p.add_argument("--scale", default="ci", choices=["ci", "reduced", "full"])
    p.add_argument("--results", default="results")
    p.add_argument(
        "--fail-on", default="", help=f"comma-separated verdicts that make the exit status 1 (e.g. {FAIL_DEFAULT})"
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("run-arm", help="[rule] run one experiment arm for one seed")
    p.add_argument("--spec", required=True, help="run spec JSON (experiment, scale, arm_key, seed, params)")
    p.add_argument("--out", required=True, help="path of run.json (written last)")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_run_arm)

    p = sub.add_parser("compute-metrics", help="[rule] score one run from its predictions and curve")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--status", required=True)
    p.set_defaults(func=cmd_compute_metrics)

    p = sub.add_parser("check-property", help="[rule] measure a property claim's instances")
    p.add_argument("--claim", required=True)
    p.add_argument("--scale", required=True, choices=["ci", "reduced", "full"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--status", required=True)
    p.set_defaults(func=cmd_check_property)

    p = sub.add_parser("decide", help="[rule] decide one claim's verdict at a scale")
    p.add_argument("--claim", required=True)
    p.add_argument("--scale", required=True, choices=["ci", "reduced", "full"])
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-card", required=True)
    p.add_argument("--out-plot", required=True)
    p.add_argument("--papers", default="papers", help="paper text cache read by textual claims (default: papers)")
    p.set_defaults(func=cmd_decide)

    p = sub.add_parser("summarize", help="[rule] verdict table (TSV) and HTML report")
    p.add_argument("--scale", required=True, choices=["ci", "reduced", "full"])
    p.add_argument("--out-tsv", required=True)
    p.add_argument("--out-html", required=True)
    p.add_argument("verdicts", nargs="+")
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("track", help="[rule] write verdicts and training runs to MLflow (single writer)")
    p.add_argument("--scale", required=True, choices=["ci", "reduced", "full"])
    p.add_argument("--uri", default="", help="tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    p.add_argument("--out", required=True)
    p.add_argument("verdicts", nargs="+")
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("serve-jobs", help="[workflow] the job server its rules' verbs run in (repro.jobserver)")
    p.add_argument("--socket", required=True, help="Unix socket path to listen on")
    p.add_argument("--parent", type=int, required=True, help="pid of the Snakemake process; exit when it is gone")
    p.set_defaults(func=cmd_serve_jobs)
    return parser


def cmd_serve_jobs(args) -> int:
    from repro.jobserver import serve

    return serve(args.socket, args.parent)


def dispatch(argv: list[str] | None = None) -> int:
    """Parse and run one command in this process."""
    args = build_parser().parse_args(argv)
    return args.func(args)


def main(argv: list[str] | None = None) -> int:
    """The ``repro`` entry point: rule verbs go to the workflow's job server when there is one
    (:mod:`repro.jobserver`), everything else runs here."""
    from repro.jobserver import run_on_server

    argv = sys.argv[1:] if argv is None else list(argv)
    served = run_on_server(argv)
    return dispatch(argv) if served is None else served


if __name__ == "__main__":
    sys.exit(main())
