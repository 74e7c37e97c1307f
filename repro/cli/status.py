"""The verdict table and the report: ``repro status`` (a reviewer's first read), and the rule verbs ``summarize``
(verdict table and HTML report) and ``track`` (MLflow)."""

from __future__ import annotations

import sys
from pathlib import Path

from repro.cli.common import command, outside_checkout, print_for_reader, scale_option

FAIL_DEFAULT = "error,invalid"


FLAGS = ("rule_changed", "fragile")
"""Non-verdict conditions ``repro status --fail-on`` can gate on: a decision rule changed after its evidence was
seen (repro.ledger), a verdict that differs under a second numeric environment (verdict.apply_numerics)."""


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
            outside_checkout(results, "--results")
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
    print_for_reader(status_text(rows), status_table(rows))
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


def cmd_summarize(args) -> int:
    from repro.files import read_json, write_text
    from repro.report import render_html, summary_table
    from repro.verdict_record import Verdict

    paths = [Path(p) for p in args.verdicts]
    verdicts = [Verdict.from_dict(read_json(p)) for p in paths]
    table = summary_table(verdicts)
    tsv = table.to_csv(sep="\t", index=False, float_format="%.6g")
    write_text(Path(args.out_tsv), tsv)
    cards = {v.claim_id: p.with_suffix(".md").read_text(encoding="utf-8") for v, p in zip(verdicts, paths, strict=True)}
    plots = {v.claim_id: p.with_suffix(".png") for v, p in zip(verdicts, paths, strict=True)}
    write_text(Path(args.out_html), render_html(table, verdicts, cards, plots, args.scale))
    if args.out_table_html:
        write_text(Path(args.out_table_html), render_html(table, verdicts, cards, plots, args.scale, sections=False))
    return 0


def cmd_track(args) -> int:
    from repro.files import write_json
    from repro.tracking import TrackingError, sync, tracking_uri

    try:
        receipt = sync([Path(p) for p in args.verdicts], args.scale, tracking_uri(args.uri or None))
    except TrackingError as exc:  # the store is down or locked: one line naming it, the receipt not written
        print(f"repro track: {exc}", file=sys.stderr)
        return 1
    write_json(Path(args.out), receipt)
    _print_receipt(receipt)
    return 0


def cmd_track_receipt(args) -> int:
    from repro.files import write_json
    from repro.tracking import join_receipts

    receipt = join_receipts([Path(p) for p in args.receipts])
    write_json(Path(args.out), receipt)
    _print_receipt(receipt)
    return 0


def _print_receipt(receipt: dict) -> None:
    """How many runs were written, and the link that opens each paper's experiment in the MLflow UI."""
    print(
        f"mlflow {receipt['uri']}: {receipt['created']} runs written, {receipt['unchanged']} unchanged", file=sys.stderr
    )
    uri = receipt["uri"]
    served = uri.startswith(("http://", "https://"))
    base = uri.rstrip("/") if served else "http://127.0.0.1:5000"
    if not served:
        print(f"review: mlflow ui --backend-store-uri {uri}, then open", file=sys.stderr)
    for arxiv_id, path in sorted(receipt["review"].items()):
        print(f"  {arxiv_id}: {base}/{path}", file=sys.stderr)


# ------------------------------------------------------------------ parsers


def add_status(sub) -> None:
    p = command(
        sub,
        "status",
        "print the verdict table of a scale",
        "Print the verdict table of a scale: per claim its verdict, effect (and what it measures), hypothesis, "
        "reason and card; flags for rules changed after evidence, fragile and stale verdicts. A table on a terminal, "
        "plain text otherwise.",
    )
    scale_option(p)
    p.add_argument("--results", default="results", help="results folder of a workflow run")
    p.add_argument(
        "--fail-on",
        default="",
        help=f"comma-separated verdicts or flags ({', '.join(FLAGS)}) that make the exit status 1, e.g. {FAIL_DEFAULT}",
    )
    p.set_defaults(func=cmd_status)


def add_summarize(sub) -> None:
    p = command(sub, "summarize", "[rule] verdict table (TSV) and HTML report")
    scale_option(p, required=True)
    p.add_argument("--out-tsv", required=True, help="verdict table to write (verdicts-<scale>.tsv)")
    p.add_argument("--out-html", required=True, help="HTML report to write")
    p.add_argument("--out-table-html", help="the report's table alone, as HTML (for Snakemake's report)")
    p.add_argument("verdicts", nargs="+", help="verdict JSONs (cards and plots are read beside them)")
    p.set_defaults(func=cmd_summarize)


def add_track(sub) -> None:
    p = command(sub, "track", "[rule] write verdicts and training runs to MLflow (single writer)")
    scale_option(p, required=True)
    p.add_argument("--uri", default="", help="tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    p.add_argument("--out", required=True, help="receipt JSON to write")
    p.add_argument("verdicts", nargs="+", help="verdict JSONs (cards and plots are read beside them)")
    p.set_defaults(func=cmd_track)


def add_track_receipt(sub) -> None:
    p = command(sub, "track-receipt", "[rule] join the papers' MLflow receipts into one and print the review links")
    p.add_argument("--out", required=True, help="receipt JSON to write (mlflow-<scale>.json)")
    p.add_argument("receipts", nargs="+", help="the papers' receipts (`repro track --out`), all of one store and scale")
    p.set_defaults(func=cmd_track_receipt)
