"""``repro``: the command line. Reviewer verbs (claims, status) and the verbs the Snakemake rules call.

Each rule verb parses its arguments, calls one library function and writes its outputs atomically;
it exits non-zero only for errors of the workflow itself (bad arguments, unreadable claims), never
for a failed experiment, which becomes an ``error`` verdict instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from repro import __version__

FAIL_DEFAULT = "error,invalid"


def _claims_dir(args) -> Path:
    return Path(args.claims)


def _outside_checkout(folder: Path, option: str) -> str | None:
    """When ``folder`` is missing because the working directory is not a repro checkout (no Snakefile): what to
    do instead. None inside a checkout, where a missing folder has its own message."""
    if folder.exists() or folder.is_absolute() or Path("Snakefile").is_file():
        return None
    return (
        f"{Path.cwd()} is not a repro checkout (no Snakefile, no {folder}/ here): run repro from the root of "
        f"one, or point at it with {option} <checkout>/{folder}"
    )


def _collect(args):
    """The claims folder's valid claims (drafts included) and problems; None (after saying why) when there is no
    claims folder."""
    from repro.claims import collect_claims

    folder = _claims_dir(args)
    if not folder.is_dir():
        print(_outside_checkout(folder, "--claims") or f"no claims folder {folder}", file=sys.stderr)
        return None
    return collect_claims(folder, include_drafts=True)


def _print_for_reader(plain: str, view, *, stderr: bool = False) -> None:
    """What every reviewer verb prints: ``view`` (a rich renderable: a table, markdown) with colour when the stream
    (stdout, or stderr) is a terminal, else ``plain`` as it is, the text that pipes, scripts and tests read."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if console.is_terminal:
        console.print(view)
    else:
        print(plain, end="", file=console.file)


def _print_problems(issues, note: str = "") -> None:
    """Claim-file problems on stderr: one line each (``file:line: field: reason``), a table on a terminal."""
    from rich.table import Table
    from rich.text import Text

    from repro.claims import ClaimError

    table = Table(title=f"{len(issues)} problem(s) in claim files", title_style="bold red", caption=note or None)
    for column in ("file", "line", "field", "problem"):
        table.add_column(column, overflow="fold")
    for issue in issues:
        table.add_row(*(Text(x) for x in (issue.file, str(issue.line or ""), issue.field or "<file>", issue.reason)))
    _print_for_reader(f"{ClaimError(issues)}\n" + (f"{note}\n" if note else ""), table, stderr=True)


def _report_problems(found) -> None:
    """A command that shows the valid claims prints the others' problems as `repro claims check` does."""
    if found.issues:
        _print_problems(found.issues, "(these claims are left out above)")


# ------------------------------------------------------------------ reviewer verbs


def cmd_claims_check(args) -> int:
    from rich.text import Text

    found = _collect(args)
    if found is None:
        return 2
    if found.issues:
        _print_problems(found.issues)
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
    _print_for_reader(f"ok: {summary}\n", Text.assemble(("ok", "bold green"), f": {summary}"))
    for warning in power_warnings(claims, Path(args.results)):
        _print_for_reader(
            f"warning: {warning}\n", Text.assemble(("warning", "bold yellow"), f": {warning}"), stderr=True
        )
    return 0


def power_warnings(claims, results: Path) -> list[str]:
    """Reproduction claims whose seeds, by the spread in their last verdict at a scale, cannot detect the margin
    (minimum detectable effect at 80 % power above δ): more seeds, or a larger δ, before the decisive run."""
    from repro.claims import SCALES
    from repro.files import read_json
    from repro.stats import seeds_needed

    out = []
    for c in claims:
        if c.claim.kind != "reproduction":
            continue
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

    found = _collect(args)
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
    _print_for_reader("\n".join(lines) + "\n", table)
    _report_problems(found)
    return 1 if found.issues else 0


def cmd_claims_show(args) -> int:
    """One valid claim, even while other claim files have problems; an invalid one's problems."""
    import difflib

    from repro.plan import plan_claim

    found = _collect(args)
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
            print(f"no claim {args.claim_id!r} in {_claims_dir(args)}{hint} (`repro claims list`)", file=sys.stderr)
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


FLAGS = ("rule_changed", "fragile")
"""Non-verdict conditions ``repro status --fail-on`` can gate on: a decision rule changed after its evidence was
seen (repro.ledger), a verdict that differs under a second numeric environment (verdict.apply_numerics)."""


def _run_log(run) -> Path:
    """The log of rule run_arm for ``run`` (rules/runs.smk names it after the run's folder)."""
    return Path("logs/run_arm") / run.experiment / run.scale / run.arm_key / f"seed{run.seed}.log"


def cmd_status(args) -> int:
    """The verdict table of a scale, a reviewer's first read: verdict, effect and what it measures, hypothesis,
    reason and card per claim; flags for rules changed after evidence, fragile and stale verdicts."""
    import pandas as pd

    from repro.report import status_rows, status_table, status_text
    from repro.schemas import VERDICTS, VerdictRow

    failing = [v for v in args.fail_on.split(",") if v] if args.fail_on else []
    unknown = [v for v in failing if v not in VERDICTS and v not in FLAGS]
    if unknown:
        print(
            f"--fail-on: unknown name(s) {', '.join(unknown)}; use verdicts ({', '.join(VERDICTS)}) or flags "
            f"({', '.join(FLAGS)})",
            file=sys.stderr,
        )
        return 2
    results = Path(args.results)
    path = results / f"verdicts-{args.scale}.tsv"
    if not path.is_file():
        print(
            _outside_checkout(results, "--results")
            or f"no {path}: run `snakemake --cores all --config scale={args.scale}` first",
            file=sys.stderr,
        )
        return 2
    table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    missing = sorted(set(VerdictRow.to_schema().columns) - set(table.columns))
    if missing:
        print(
            f"{path} lacks column(s) {', '.join(missing)}: it was written by an older repro; "
            f"rerun `snakemake --cores all --config scale={args.scale}`",
            file=sys.stderr,
        )
        return 2
    stale = stale_verdicts(table, results.resolve().parent)
    rows = status_rows(table, stale, results / "verdicts" / args.scale)
    _print_for_reader(status_text(rows), status_table(rows))
    counts = table["verdict"].value_counts().to_dict()
    print(f"\nscale {args.scale}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for flag in FLAGS:
        flagged = table[table[flag]]
        if len(flagged):
            print(f"{flag}: {', '.join(flagged['claim_id'])}")
    if stale:
        print(
            f"stale: {', '.join(sorted(stale))} (claim file changed since the verdict; rerun "
            f"`snakemake --cores all --config scale={args.scale}`)"
        )
    print(f"report: {results / f'report-{args.scale}.html'}")
    bad = table[table["verdict"].isin(failing)]
    for flag in set(failing) & set(FLAGS):
        bad = pd.concat([bad, table[table[flag]]]).drop_duplicates("claim_id")
    if len(bad):
        print(f"{len(bad)} claim(s) ended {'/'.join(failing)}: {', '.join(bad['claim_id'])}", file=sys.stderr)
        return 1
    return 0


def stale_verdicts(table, root: Path) -> set[str]:
    """Claims whose file (``claim_file``, relative to the workflow directory ``root``) is gone or differs from the
    one their verdict was decided from (``claim_sha256``): the table shows a verdict the claim no longer has."""
    import pandas as pd

    from repro.files import sha256_file

    stale = set()
    for row in table.itertuples(index=False):
        if pd.isna(row.claim_file):
            continue
        path = root / row.claim_file
        if not path.is_file() or sha256_file(path) != row.claim_sha256:
            stale.add(row.claim_id)
    return stale


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
    """The seed documents' report: markdown, rendered (headings, tables) on a terminal."""
    from rich.markdown import Markdown

    from repro.seeds import render, seeds_report

    found = _collect(args)
    if found is None:
        return 2
    reports, table = seeds_report(Path(args.seeds), found.claims, Path(args.results), args.scale, Path(args.papers))
    text = render(reports, table, args.scale)
    _print_for_reader(text, Markdown(text))
    _report_problems(found)
    return 1 if found.issues else 0


# ------------------------------------------------------------------ rule verbs


def cmd_run_arm(args) -> int:
    from repro.runner import run_arm
    from repro.runspec import RunSpec

    record = run_arm(RunSpec.from_json(args.spec), Path(args.out), threads=args.threads)
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
    from repro.schemas import PropertyInstances
    from repro.tables import validate

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
    """The claim's decision from its own evidence (gates 1–7); the verdict is written by ``finalize``."""
    from repro.files import write_json
    from repro.plan import plan_claim
    from repro.verdict import decide

    loaded = _load_one(Path(args.claim))
    plan = plan_claim(loaded, args.scale)
    decision = decide(plan, Path("."), Path(args.papers))
    decision["provenance"] = _provenance(loaded.path.resolve().parents[2], plan)
    write_json(Path(args.out), decision)
    print(
        f"{decision['claim_id']} [{args.scale}]: decided {decision['verdict']}: {decision['reason']}", file=sys.stderr
    )
    return 0


def rule_record(loaded, scale: str) -> dict:
    """The claim's rule at ``scale`` and where it stands in the preregistration ledger beside its claims folder."""
    from repro.ledger import ledger_path, read_ledger, rule_diff, rule_of, rule_status

    rule = rule_of(loaded.claim, scale)
    status = rule_status(read_ledger(ledger_path(loaded.path.parents[1])), loaded.id, scale, rule)
    record = {**status.as_dict(), "rule": rule}
    if status.previous is not None:
        record["diff"] = [list(row) for row in rule_diff(status.previous["rule"], rule)]
    return record


def cmd_finalize(args) -> int:
    """Multiplicity across the paper's claims, preregistration status, numerics: the verdict, its card and plot."""
    from repro.files import read_json, sha256_file, write_json, write_text
    from repro.report import render_card, render_plot
    from repro.verdict import finalize

    loaded = _load_one(Path(args.claim))
    decision = read_json(Path(args.decision))
    family = [read_json(Path(p)) for p in args.family]
    reference = None
    if args.reference:
        path = Path(args.reference)
        reference = read_json(path) if path.is_file() else None
    verdict = finalize(decision, family, rule_record(loaded, args.scale), reference, args.reference_label)
    verdict["claim_file"] = {"path": args.claim, "sha256": sha256_file(Path(args.claim))}
    render_plot(verdict, Path(args.out_plot))
    write_text(Path(args.out_card), render_card(verdict))
    write_json(Path(args.out_json), verdict)
    print(f"{verdict['claim_id']} [{args.scale}]: {verdict['verdict']} — {verdict['reason']}", file=sys.stderr)
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
        f"claims={_claims_dir(args).resolve()}",
        f"papers={Path(args.papers).resolve()}",
    ]
    env = {**os.environ, "ATEN_CPU_CAPABILITY": args.capability}
    print(f"ATEN_CPU_CAPABILITY={args.capability} {' '.join(cmd)}", file=sys.stderr)
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

    claims_dir = _claims_dir(args)
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


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it has none (None, False, empty) or its help already names it."""

    def _get_help_string(self, action):
        if action.default in (None, False, "", argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


SCALE_HELP = "ci: tiny models on a 2-core CPU (minutes); reduced: more seeds and steps; full: the paper's setting"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repro",
        formatter_class=HelpFormatter,
        description=(
            "Claim verification and reduced-scale reproduction of ML papers. Run the workflow with "
            "`snakemake --cores all`; these commands inspect claims and verdicts, and are what its rules call."
        ),
        epilog="Reviewer commands: claims, paper, seeds, status, preregister, numerics. [rule] commands are called by "
        "the workflow's rules. `repro COMMAND --help` describes each.",
    )
    parser.add_argument("--version", action="version", version=f"repro {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="one of:")
    parser.set_defaults(func=lambda args: _usage(parser))

    def command(group, name: str, summary: str, description: str | None = None) -> argparse.ArgumentParser:
        return group.add_parser(name, help=summary, description=description or summary, formatter_class=HelpFormatter)

    def claims_folder(p: argparse.ArgumentParser) -> None:
        p.add_argument("--claims", default="claims", help="claims folder: <arxiv_id>/paper.yaml and claim files")

    def scale(p: argparse.ArgumentParser, required: bool = False) -> None:
        if required:
            p.add_argument("--scale", required=True, choices=["ci", "reduced", "full"], help=SCALE_HELP)
        else:
            p.add_argument("--scale", default="ci", choices=["ci", "reduced", "full"], help=SCALE_HELP)

    claims = command(
        sub,
        "claims",
        "validate, list, show and draft claims",
        "Claims are YAML files under claims/<arxiv_id>/ (claims/README.md describes the format).",
    )
    claims_sub = claims.add_subparsers(dest="claims_command", metavar="COMMAND", help="one of:")
    claims.set_defaults(func=lambda args: _usage(claims))
    p = command(
        claims_sub,
        "check",
        "validate every claim file (exit 1 on any problem)",
        "Validate every claim file and name each problem's file, line and field (exit 1 on any problem); warn "
        "about reproduction claims whose seeds cannot detect their margin.",
    )
    claims_folder(p)
    p.add_argument("--results", default="results", help="results folder read for the power warnings")
    p.set_defaults(func=cmd_claims_check)
    p = command(
        claims_sub,
        "list",
        "list claims, their kinds and which scales run",
        "List the valid claims, their kinds and which scales run; the problems of invalid claim files go to stderr "
        "(exit 1 when there are any).",
    )
    claims_folder(p)
    p.set_defaults(func=cmd_claims_list)
    p = command(
        claims_sub,
        "show",
        "show one claim and the runs it needs at a scale",
        "Show one claim file and the runs it needs at a scale (their folders under results/runs/).",
    )
    claims_folder(p)
    p.add_argument("claim_id", help="the claim's id (its file name without .yaml)")
    scale(p)
    p.set_defaults(func=cmd_claims_show)
    p = command(
        claims_sub,
        "draft",
        "draft claim files from a paper's cached text (kept out of the workflow)",
        "Write draft-<arxiv_id with - for .><version>-<a|b><nnn>.yaml files (a: abstract, b: body sentence) from a "
        "paper's cached text; a "
        "draft is validated but stays out of the workflow until its draft: block is removed.",
    )
    claims_folder(p)
    p.add_argument("arxiv_id", help="arXiv id without version, e.g. 2405.14953")
    p.add_argument("--version", default=None, help="cached version to draft from (default: the latest cached)")
    p.add_argument("--papers", default="papers", help="paper text cache (written by `repro paper add`)")
    p.add_argument("--abstract-only", action="store_true", help="ignore the full text even when it is cached")
    p.set_defaults(func=cmd_claims_draft)

    paper = command(sub, "paper", "fetch papers from arXiv into the text cache")
    paper_sub = paper.add_subparsers(dest="paper_command", metavar="COMMAND", help="one of:")
    paper.set_defaults(func=lambda args: _usage(paper))
    p = command(
        paper_sub,
        "add",
        "fetch metadata and text of an arXiv paper; create claims/<id>/paper.yaml",
        "Fetch an arXiv paper's metadata, abstract and (unless --no-fulltext) PDF text into the cache, and create "
        "claims/<arxiv_id>/paper.yaml.",
    )
    claims_folder(p)
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

    p = command(
        sub,
        "seeds",
        "seed documents: their claims, verdicts and relevance to their own question",
        "For each seed document (seeds/*.txt): its title and research question, the paper its text comes from, the "
        "claims that cite it with their verdicts, and what follows.",
    )
    claims_folder(p)
    p.add_argument("--seeds", default="seeds", help="folder of seed documents (*.txt)")
    p.add_argument("--papers", default="papers", help="paper text cache the seeds' texts are matched against")
    p.add_argument("--results", default="results", help="results folder whose verdicts-<scale>.tsv is read")
    scale(p)
    p.set_defaults(func=cmd_seeds)

    p = command(
        sub,
        "status",
        "print the verdict table of a scale",
        "Print the verdict table of a scale: per claim its verdict, effect (and what it measures), hypothesis, "
        "reason and card; flags for rules changed after evidence, fragile and stale verdicts. A table on a terminal, "
        "plain text otherwise.",
    )
    scale(p)
    p.add_argument("--results", default="results", help="results folder of a workflow run")
    p.add_argument(
        "--fail-on",
        default="",
        help=f"comma-separated verdicts or flags ({', '.join(FLAGS)}) that make the exit status 1, e.g. {FAIL_DEFAULT}",
    )
    p.set_defaults(func=cmd_status)

    p = command(sub, "run-arm", "[rule] run one experiment arm for one seed")
    p.add_argument("--spec", required=True, help="run spec JSON (experiment, scale, arm_key, seed, params)")
    p.add_argument("--out", required=True, help="path of run.json (written last)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the run")
    p.set_defaults(func=cmd_run_arm)

    p = command(sub, "compute-metrics", "[rule] score one run from its predictions and curve")
    p.add_argument("--run", required=True, help="the run's run.json")
    p.add_argument("--out", required=True, help="metrics table to write (parquet)")
    p.add_argument("--status", required=True, help="status JSON to write (ok, or the error)")
    p.set_defaults(func=cmd_compute_metrics)

    p = command(sub, "check-property", "[rule] measure a property claim's instances")
    p.add_argument("--claim", required=True, help="the claim file")
    scale(p, required=True)
    p.add_argument("--seed", type=int, default=0, help="random state of the instances")
    p.add_argument("--out", required=True, help="instance table to write (parquet)")
    p.add_argument("--status", required=True, help="status JSON to write (ok, or the error)")
    p.set_defaults(func=cmd_check_property)

    p = command(sub, "decide", "[rule] decide one claim at a scale from its own evidence")
    p.add_argument("--claim", required=True, help="the claim file")
    scale(p, required=True)
    p.add_argument("--out", required=True, help="decision JSON")
    p.add_argument("--papers", default="papers", help="paper text cache read by textual claims")
    p.set_defaults(func=cmd_decide)

    p = command(sub, "finalize", "[rule] the verdict: multiplicity, preregistration, numerics; card and plot")
    p.add_argument("--claim", required=True, help="the claim file")
    scale(p, required=True)
    p.add_argument("--decision", required=True, help="the claim's decision JSON (repro decide)")
    p.add_argument("--family", nargs="+", required=True, help="decisions of the paper's claims tested with it")
    p.add_argument("--reference", default="", help="this claim's decision under a second numeric environment")
    p.add_argument("--reference-label", default=None, help="name of the second numeric environment")
    p.add_argument("--out-json", required=True, help="verdict JSON to write")
    p.add_argument("--out-card", required=True, help="verdict card to write (markdown)")
    p.add_argument("--out-plot", required=True, help="verdict plot to write (PNG)")
    p.set_defaults(func=cmd_finalize)

    p = command(
        sub,
        "numerics",
        "run a scale's workflow again under a second numeric environment (fragility check)",
        "Run a scale's workflow again in another directory with ATEN_CPU_CAPABILITY set; then decide with "
        "`--config numerics_reference=<that directory>`: a verdict that differs there is fragile.",
    )
    claims_folder(p)
    scale(p)
    p.add_argument(
        "--capability", default="default", help="ATEN_CPU_CAPABILITY for every job (default: default, no SIMD)"
    )
    p.add_argument("--out", default="results-numerics", help="parent of the second workflow directory")
    p.add_argument("--papers", default="papers", help="paper text cache")
    p.add_argument("--cores", default="all", help="snakemake --cores of the second run")
    p.set_defaults(func=cmd_numerics)

    p = command(
        sub,
        "preregister",
        "register claims' decision rules in the ledger (claims/ledger.jsonl) before their runs",
        "Register every claim's decision rule in the preregistration ledger beside the claims folder (the workflow "
        "does this when it starts). With --claim and --reason: re-register a rule changed after its evidence.",
    )
    claims_folder(p)
    p.add_argument("--scale", action="append", choices=["ci", "reduced", "full"], help="default: every scale")
    p.add_argument("--claim", action="append", help="re-register this claim's changed rule (needs --reason)")
    p.add_argument("--reason", default=None, help="why the rule changed after its evidence was seen")
    p.set_defaults(func=cmd_preregister)

    p = command(sub, "summarize", "[rule] verdict table (TSV) and HTML report")
    scale(p, required=True)
    p.add_argument("--out-tsv", required=True, help="verdict table to write (verdicts-<scale>.tsv)")
    p.add_argument("--out-html", required=True, help="HTML report to write")
    p.add_argument("verdicts", nargs="+", help="verdict JSONs (cards and plots are read beside them)")
    p.set_defaults(func=cmd_summarize)

    p = command(sub, "track", "[rule] write verdicts and training runs to MLflow (single writer)")
    scale(p, required=True)
    p.add_argument("--uri", default="", help="tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    p.add_argument("--out", required=True, help="receipt JSON to write")
    p.add_argument("verdicts", nargs="+", help="verdict JSONs (cards and plots are read beside them)")
    p.set_defaults(func=cmd_track)

    p = command(sub, "serve-jobs", "[workflow] the job server its rules' verbs run in (repro.jobserver)")
    p.add_argument("--socket", required=True, help="Unix socket path to listen on")
    p.add_argument("--parent", type=int, required=True, help="pid of the Snakemake process; exit when it is gone")
    p.set_defaults(func=cmd_serve_jobs)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    """A command group without its command: its help, as a usage error."""
    parser.print_help(sys.stderr)
    return 2


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
    if served is not None:
        return served
    try:
        return dispatch(argv)
    except BrokenPipeError:
        # The reader left (`repro status | head`): stop quietly, and keep the exit flush from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
