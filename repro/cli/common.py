"""What the command modules share: the claims folder and its problems, output for a reader (rich on a terminal,
plain text otherwise), loading the one claim a rule verb is given, and the parts every parser is built from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SCALE_HELP = "ci: tiny models on a 2-core CPU (minutes); reduced: more seeds and steps; full: the paper's setting"


def claims_path(args) -> Path:
    return Path(args.claims)


def outside_checkout(folder: Path, option: str) -> str | None:
    """When ``folder`` is missing because the working directory is not a repro checkout (no Snakefile): what to
    do instead. None inside a checkout, where a missing folder has its own message."""
    if folder.exists() or folder.is_absolute() or Path("Snakefile").is_file():
        return None
    return (
        f"{Path.cwd()} is not a repro checkout (no Snakefile, no {folder}/ here): run repro from the root of "
        f"one, or point at it with {option} <checkout>/{folder}"
    )


def collect(args):
    """The claims folder's valid claims (drafts included) and problems; None (after saying why) when there is no
    claims folder."""
    from repro.claims import collect_claims

    folder = claims_path(args)
    if not folder.is_dir():
        print(outside_checkout(folder, "--claims") or f"no claims folder {folder}", file=sys.stderr)
        return None
    return collect_claims(folder, include_drafts=True)


def print_for_reader(plain: str, view, *, stderr: bool = False) -> None:
    """What every reviewer verb prints: ``view`` (a rich renderable: a table, markdown) with colour when the stream
    (stdout, or stderr) is a terminal, else ``plain`` as it is, the text that pipes, scripts and tests read."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if console.is_terminal:
        console.print(view)
    else:
        print(plain, end="", file=console.file)


def print_problems(issues, note: str = "") -> None:
    """Claim-file problems on stderr: one line each (``file:line: field: reason``), a table on a terminal."""
    from rich.table import Table
    from rich.text import Text

    from repro.claims import ClaimError

    table = Table(title=f"{len(issues)} problem(s) in claim files", title_style="bold red", caption=note or None)
    for column in ("file", "line", "field", "problem"):
        table.add_column(column, overflow="fold")
    for issue in issues:
        table.add_row(*(Text(x) for x in (issue.file, str(issue.line or ""), issue.field or "<file>", issue.reason)))
    print_for_reader(f"{ClaimError(issues)}\n" + (f"{note}\n" if note else ""), table, stderr=True)


def report_problems(found) -> None:
    """A command that shows the valid claims prints the others' problems as `repro claims check` does."""
    if found.issues:
        print_problems(found.issues, "(these claims are left out above)")


def load_one(claim_path: Path):
    """Load one claim file; seed paths resolve against the folder holding the claims folder."""
    from repro.claims import LoadedClaim, load_paper, parse_claim

    root = claim_path.resolve().parents[2]
    paper_path = claim_path.parent / "paper.yaml"
    paper = load_paper(paper_path, root)
    return LoadedClaim(parse_claim(claim_path, paper, root), claim_path, paper, paper_path)


# ------------------------------------------------------------------ parser parts


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it has none (None, False, empty) or its help already names it."""

    def _get_help_string(self, action):
        if action.default in (None, False, "", argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def command(group, name: str, summary: str, description: str | None = None) -> argparse.ArgumentParser:
    """A command's parser in ``group`` (a subparsers action): ``summary`` in its group's list, ``description``
    (or the summary) atop its own help."""
    return group.add_parser(name, help=summary, description=description or summary, formatter_class=HelpFormatter)


def command_group(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """The subcommands of ``parser``; ``parser`` alone prints its help as a usage error."""
    sub = parser.add_subparsers(dest=dest, metavar="COMMAND", help="one of:")
    parser.set_defaults(func=lambda args: usage(parser))
    return sub


def usage(parser: argparse.ArgumentParser) -> int:
    """A command group without its command: its help, as a usage error."""
    parser.print_help(sys.stderr)
    return 2


def claims_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--claims", default="claims", help="claims folder: <arxiv_id>/paper.yaml and claim files")


def scale_option(p: argparse.ArgumentParser, required: bool = False) -> None:
    if required:
        p.add_argument("--scale", required=True, choices=["ci", "reduced", "full"], help=SCALE_HELP)
    else:
        p.add_argument("--scale", default="ci", choices=["ci", "reduced", "full"], help=SCALE_HELP)
