"""Which tests a bare `pytest` runs (tests/conftest.py): not the end-to-end ones, which `pytest -m slow` and named
files still run."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT

CONSOLE = "tests/test_console.py"
WORKFLOW_TEST = f"{CONSOLE}::test_a_real_workflow_console_shows_time_left_and_claims"  # uses planted_workflow
UNIT_TEST = f"{CONSOLE}::test_progress_says_time_left_from_this_runs_jobs"


def _collected(*args: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.strip() for line in out.splitlines() if "::" in line}


def test_a_bare_pytest_leaves_out_the_end_to_end_tests_and_naming_them_runs_them():
    bare = _collected()
    assert UNIT_TEST in bare and WORKFLOW_TEST not in bare
    assert not any(node.startswith(("tests/test_workflow.py", "tests/realsystems/")) for node in bare)
    named = _collected(CONSOLE)
    assert {UNIT_TEST, WORKFLOW_TEST} <= named
    slow = _collected("-m", "slow", CONSOLE)
    assert WORKFLOW_TEST in slow and UNIT_TEST not in slow
