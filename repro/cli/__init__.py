"""``repro``: the command line. Reviewer verbs (claims, status) and the verbs the Snakemake rules call.

Each rule verb parses its arguments, calls one library function and writes its outputs atomically;
it exits non-zero only for errors of the workflow itself (bad arguments, unreadable claims), never
for a failed experiment, which becomes an ``error`` verdict instead.

The verbs live by what they work on: :mod:`repro.cli.reviewer` (claims, paper, seeds), :mod:`repro.cli.status`
(status, summarize, track), :mod:`repro.cli.runs` (run-arm, compute-metrics, arm-scores, check-property,
serve-jobs) and :mod:`repro.cli.verdicts` (decide, family-pvalues, holm-family, finalize, numerics, preregister);
this module assembles the parser.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

from repro import __version__
from repro.cli import reviewer, runs, status, verdicts
from repro.cli.common import HelpFormatter, command_group

COMMANDS = (
    reviewer.add_claims,
    reviewer.add_paper,
    reviewer.add_seeds,
    status.add_status,
    runs.add_run_arm,
    runs.add_compute_metrics,
    runs.add_arm_scores,
    runs.add_check_property,
    runs.add_pilot,
    verdicts.add_decide,
    verdicts.add_family_pvalues,
    verdicts.add_holm_family,
    verdicts.add_finalize,
    verdicts.add_numerics,
    verdicts.add_preregister,
    status.add_summarize,
    status.add_track,
    status.add_track_receipt,
    runs.add_serve_jobs,
)
"""Each adds one command (or command group) to the parser, in the order `repro --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repro",
        formatter_class=HelpFormatter,
        description=(
            "Claim verification and reduced-scale reproduction of ML papers. Run the workflow with "
            "`snakemake --cores all`; these commands inspect claims and verdicts, and are what its rules call."
        ),
        epilog="Reviewer commands: claims, paper, seeds, status, preregister, numerics, pilot. [rule] commands are "
        "called by the workflow's rules. `repro COMMAND --help` describes each.",
    )
    parser.add_argument("--version", action="version", version=f"repro {__version__}")
    sub = command_group(parser, "command")
    for add in COMMANDS:
        add(sub)
    return parser


@functools.cache
def parser() -> argparse.ArgumentParser:
    """The command line's parser, built once per process: a served job's fork finds the one the job server built in
    its warm-up (13 ms a job to build; parsing leaves it as it was)."""
    return build_parser()


def dispatch(argv: list[str] | None = None) -> int:
    """Parse and run one command in this process."""
    args = parser().parse_args(argv)
    return args.func(args)


def main(argv: list[str] | None = None, *, server: bool = True) -> int:
    """The ``repro`` entry point: rule verbs go to the workflow's job server when there is one
    (:mod:`repro.jobclient`), everything else runs here. ``server=False``: the caller already tried the server
    (``python -m repro``)."""
    from repro.jobclient import run_on_server, serve_this_process

    if server:
        served = serve_this_process() if argv is None else run_on_server(list(argv))
        if served is not None:
            return served
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return dispatch(argv)
    except BrokenPipeError:
        # The reader left (`repro status | head`): stop quietly, and keep the exit flush from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
