"""One finished workflow over a planted claim, shared by the fault tests that damage a copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..conftest import snakemake
from ..test_claims import PAPER, VALID, _write

FAST = VALID.replace("seeds: 3", "seeds: 2")
"""The planted claim with 2 seeds: 3 arms x 2 seeds, 6 runs of under a second each."""


@pytest.fixture(scope="package")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """A workflow over the planted claim that ran rule ``all`` (verdicts, report, MLflow store), and its claims
    folder. Tests damage a copy (``copy_finished``), never this folder."""
    root = tmp_path_factory.mktemp("finished")
    claims = _write(root, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": FAST})
    workdir = root / "work"
    workdir.mkdir()
    snakemake(workdir, claims=claims)
    return workdir, claims


def copy_finished(finished: tuple[Path, Path], tmp_path: Path) -> Path:
    """A copy of the finished workflow's folder to damage."""
    target = tmp_path / "work"
    shutil.copytree(finished[0], target, symlinks=True)
    return target
