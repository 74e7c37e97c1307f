"""The reviewer's verbs on claims, papers and seed documents: ``repro claims check|list|show|draft``,
``repro paper add`` and ``repro seeds``."""

from __future__ import annotations

import sys
from pathlib import Path

from repro.cli.common import (
    claims_option,
    claims_path,
    collect,
    command,
    command_group,
    print_for_reader,
    print_problems,
    report_problems,
    scale_option,
)


def cmd_claims_check(args) -> int:
    from rich.text import Text

    found = collect(args)
    if found is None:
        return 2
    if found.issues:
        print_problems(found.issues)
        return 1
    claims = found.claims
    papers = {c.paper.arxiv_id for c in claims}
    drafts = sum(1 for c in claims if c.claim.draft is not None)
    kinds: dict[str, int] = {}
    for c in claims:
        kinds[c.claim.kind] = kinds.get(c.claim.kind, 0) + 1
    detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    summary = f"{len(claims)} claims ({detail}) across {len(papers)} papers" + (
        f"; {drafts} drafts kept out of the workflow" if drafts else ""
    )
    print_for_reader(f"ok: {summary}\n", Text.assemble(("ok", "bold green"), f": {summary}"))
    for warning in power_warnings(claims, Path(args.results)):
        print_for_reader(
            f"warning: {warning}\n", Text.assemble(("warning", "bold yellow"), f": {warning}"), stderr=True
        )
    return 0


def power_warnings(claims, results: Path) -> list[str]:
    """Reproduction claims whose seeds, by the spread in their last verdict at a scale, cannot detect the margin
    (minimum detectable effect at 80 % power above δ): more seeds, or a larger δ, before the decisive run. And
    those whose ci scale runs without a pilot (no ``power`` block): nothing checks their seeds against δ before
    the run every push decides."""
    from repro.claims import SCALES
    from repro.files import read_json
    from repro.stats import seeds_needed

    out = []
    for c in claims:
        if c.claim.kind != "reproduction":
            continue
        ci = c.claim.scales.ci
        if ci.not_run is None and ci.power is None:
            out.append(
                f"{c.path}: scales.ci: no power block, so nothing checks that {ci.seeds} seeds detect "
                f"δ = {ci.expectation.margin:g}: `repro pilot {c.id}` measures the effect's sd on pilot seeds; "
                "declare it (power: {sd, pilot_seeds})"
            )
        for scale in SCALES:
            path = results / "verdicts" / scale / f"{c.id}.json"
            power = read_json(path).get("power") if path.is_file() else None
            if power and not power["detects_margin"]:
                needed = seeds_needed(power["sd"], power["margin"])
                more = f"; about {needed} seeds would" if needed else "; no seed count would at this spread"
                out.append(
                    f"{c.path}: scales.{scale}: {power['n']} seeds cannot detect δ = {power['margin']:g} "
                    f"(minimum detectable effect {power['mde']:.4g} at 80 % power, last evidence in {path}){more}"
                )
    return out


SCALE_STYLES = {"runs": "green", "not_run": "yellow", "-": "dim"}
"""How `repro claims list` colours a scale's cell on a terminal: runs, declared but not run, not declared."""


def cmd_claims_list(args) -> int:
    """The valid claims, their kinds and scales; the others' problems on stderr (exit 1 when there are any)."""
    from rich.table import Table
    from rich.text import Text

    from repro.claims import SCALES, scale_spec

    found = collect(args)
    if found is None:
        return 2
    table = Table(header_style="bold")
    for column in ("claim", "kind", "paper", *SCALES):
        table.add_column(column, no_wrap=column != "claim", overflow="fold")
    lines = [f"{'claim':44} {'kind':13} {'paper':14} " + " ".join(f"{s:8}" for s in SCALES)]
    for c in sorted(found.claims, key=lambda c: (c.paper.arxiv_id, c.id)):
        cells = []
        for scale in SCALES:
            spec = scale_spec(c.claim, scale)
            cells.append("-" if spec is None else ("not_run" if spec.not_run else "runs"))
        draft = " (draft)" if c.claim.draft else ""
        lines.append(
            f"{c.id + draft:44} {c.claim.kind:13} {c.claim.paper.arxiv:14} " + " ".join(f"{x:8}" for x in cells)
        )
        claim = Text.assemble(c.id, (draft, "dim italic"))
        table.add_row(
            claim, Text(c.claim.kind), Text(c.claim.paper.arxiv), *(Text(x, style=SCALE_STYLES[x]) for x in cells)
        )
    print_for_reader("\n".join(lines) + "\n", table)
    report_problems(found)
    return 1 if found.issues else 0


def cmd_claims_show(args) -> int:
    """One valid claim, even while other claim files have problems; an invalid one's problems."""
    import difflib

    from repro.plan import plan_claim

    found = collect(args)
    if found is None:
        return 2
    claims = {c.id: c for c in found.claims}
    if args.claim_id not in claims:
        own = [issue for issue in found.issues if Path(issue.file).stem == args.claim_id]
        if own:
            print("\n".join(str(issue) for issue in own), file=sys.stderr)
        else:
            close = difflib.get_close_matches(args.claim_id, list(claims), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            print(f"no claim {args.claim_id!r} in {claims_path(args)}{hint} (`repro claims list`)", file=sys.stderr)
        return 1
    loaded = claims[args.claim_id]
    print(f"# {loaded.path}\n")
    print(loaded.path.read_text(encoding="utf-8"))
    plan = plan_claim(loaded, args.scale)
    print(f"# at scale {args.scale}: " + (f"not run ({plan.not_run})" if plan.not_run else f"{len(plan.runs)} runs"))
    for arm, runs in plan.arms.items():
        print(f"#   {arm}: {runs[0].dir.parent} × {len(runs)} seeds (logs: {_run_log(runs[0]).parent}/seed*.log)")
    if found.issues:
        print(
            f"note: {len(found.issues)} problem(s) in other claim files (`repro claims check` lists them)",
            file=sys.stderr,
        )
    return 0


def _run_log(run) -> Path:
    """The log of rule run_arm for ``run`` (rules/runs.smk names it after the run's folder)."""
    return Path("logs/run_arm") / run.experiment / run.scale / run.arm_key / f"seed{run.seed}.log"


def cmd_claims_draft(args) -> int:
    from repro.claims import ClaimError
    from repro.drafting import draft_claims
    from repro.files import WriteError
    from repro.paper_cache import CacheError

    try:
        draft_claims(args.arxiv_id, claims_path(args), Path(args.papers), args.version, body=not args.abstract_only)
    except (ClaimError, CacheError, FileNotFoundError, WriteError) as exc:  # a hostile cached text, a full disk
        print(f"repro claims draft: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_paper_add(args) -> int:
    from repro.files import WriteError
    from repro.papers import ClientSettings, PaperError, add_paper

    settings = ClientSettings(
        base_url=args.base_url, delay_s=args.delay, retries=args.retries, backoff_s=args.backoff, timeout_s=args.timeout
    )
    try:
        add_paper(
            args.arxiv_ref,
            claims_path(args),
            Path(args.papers),
            settings,
            offline=args.offline,
            fulltext=not args.no_fulltext,
        )
    except (PaperError, WriteError) as exc:  # WriteError: the cache keeps the previous entry whole
        print(f"repro paper add: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the cache holds the previous entry or the new one whole (repro.paper_cache)
        print(f"repro paper add: interrupted; run it again to cache {args.arxiv_ref}", file=sys.stderr)
        return 130
    return 0


def cmd_seeds(args) -> int:
    """The seed documents' report: markdown, rendered (headings, tables) on a terminal."""
    from rich.markdown import Markdown

    from repro.seed_documents import render, seeds_report

    found = collect(args)
    if found is None:
        return 2
    reports, table = seeds_report(Path(args.seeds), found.claims, Path(args.results), args.scale, Path(args.papers))
    text = render(reports, table, args.scale)
    print_for_reader(text, Markdown(text))
    report_problems(found)
    return 1 if found.issues else 0


# ------------------------------------------------------------------ parsers


def add_claims(sub) -> None:
    claims = command(
        sub,
        "claims",
        "validate, list, show and draft claims",
        "Claims are YAML files under claims/<arxiv_id>/ (claims/README.md describes the format).",
    )
    claims_sub = command_group(claims, "claims_command")
    p = command(
        claims_sub,
        "check",
        "validate every claim file (exit 1 on any problem)",
        "Validate every claim file and name each problem's file, line and field (exit 1 on any problem); warn "
        "about reproduction claims whose seeds cannot detect their margin.",
    )
    claims_option(p)
    p.add_argument("--results", default="results", help="results folder read for the power warnings")
    p.set_defaults(func=cmd_claims_check)
    p = command(
        claims_sub,
        "list",
        "list claims, their kinds and which scales run",
        "List the valid claims, their kinds and which scales run; the problems of invalid claim files go to stderr "
        "(exit 1 when there are any).",
    )
    claims_option(p)
    p.set_defaults(func=cmd_claims_list)
    p = command(
        claims_sub,
        "show",
        "show one claim and the runs it needs at a scale",
        "Show one claim file and the runs it needs at a scale (their folders under results/runs/).",
    )
    claims_option(p)
    p.add_argument("claim_id", help="the claim's id (its file name without .yaml)")
    scale_option(p)
    p.set_defaults(func=cmd_claims_show)
    p = command(
        claims_sub,
        "draft",
        "draft claim files from a paper's cached text (kept out of the workflow)",
        "Write draft-<arxiv_id with - for .><version>-<a|b><nnn>.yaml files (a: abstract, b: body sentence) from a "
        "paper's cached text; a "
        "draft is validated but stays out of the workflow until its draft: block is removed.",
    )
    claims_option(p)
    p.add_argument("arxiv_id", help="arXiv id without version, e.g. 2405.14953")
    p.add_argument("--version", default=None, help="cached version to draft from (default: the latest cached)")
    p.add_argument("--papers", default="papers", help="paper text cache (written by `repro paper add`)")
    p.add_argument("--abstract-only", action="store_true", help="ignore the full text even when it is cached")
    p.set_defaults(func=cmd_claims_draft)


def add_paper(sub) -> None:
    paper = command(sub, "paper", "fetch papers from arXiv into the text cache")
    paper_sub = command_group(paper, "paper_command")
    p = command(
        paper_sub,
        "add",
        "fetch metadata and text of an arXiv paper; create claims/<id>/paper.yaml",
        "Fetch an arXiv paper's metadata, abstract and (unless --no-fulltext) PDF text into the cache, and create "
        "claims/<arxiv_id>/paper.yaml.",
    )
    claims_option(p)
    p.add_argument("arxiv_ref", help="arXiv id, with or without version: 2405.14953 or 2405.14953v5")
    p.add_argument("--papers", default="papers", help="paper text cache")
    p.add_argument("--offline", action="store_true", help="use only the cache; never touch the network")
    p.add_argument("--no-fulltext", action="store_true", help="cache the abstract only (no PDF download)")
    p.add_argument("--base-url", default="https://export.arxiv.org", help="arXiv API and PDF host")
    p.add_argument("--delay", type=float, default=3.0, help="seconds between requests")
    p.add_argument("--retries", type=int, default=3, help="retries on 429/5xx, empty pages, bad XML")
    p.add_argument("--backoff", type=float, default=3.0, help="first retry's wait in seconds, doubling")
    p.add_argument("--timeout", type=float, default=60.0, help="PDF download timeout in seconds")
    p.set_defaults(func=cmd_paper_add)


def add_seeds(sub) -> None:
    p = command(
        sub,
        "seeds",
        "seed documents: their claims, verdicts and relevance to their own question",
        "For each seed document (seeds/*.txt): its title and research question, the paper its text comes from, the "
        "claims that cite it with their verdicts, and what follows.",
    )
    claims_option(p)
    p.add_argument("--seeds", default="seeds", help="folder of seed documents (*.txt)")
    p.add_argument("--papers", default="papers", help="paper text cache the seeds' texts are matched against")
    p.add_argument("--results", default="results", help="results folder whose verdicts-<scale>.tsv is read")
    scale_option(p)
    p.set_defaults(func=cmd_seeds)
