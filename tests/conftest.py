"""Shared fixtures: the repository root, tiny run helpers, and one workflow run over the planted-fault claims."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

# Tests never touch the network: transformers / huggingface_hub must not try the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_CLAIMS = ROOT / "tests" / "fixtures" / "claims"
NETGUARD = ROOT / "tests" / "netguard"

# ... and nothing does: a connection to anything but loopback or a Unix socket fails the test, here and in every
# Python process a test starts (tests/netguard/sitecustomize.py, found through PYTHONPATH).
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(NETGUARD), os.environ.get("PYTHONPATH")) if p)
sys.path.insert(0, str(NETGUARD))
import sitecustomize as _netguard  # noqa: E402  (tests/netguard: installs the guard on import)

sys.path.remove(str(NETGUARD))
assert getattr(_netguard, "NetworkUseInTests", None), f"{_netguard.__file__} is not the test suite's network guard"


SLOW_MARKERS = ("workflow", "realsystem", "server")
WORKFLOW_FIXTURES = ("planted_workflow", "finished")
"""Fixtures that run the workflow (this module's, tests/faults/conftest.py's): a test using one is a workflow test."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test that runs a workflow, a real system or a server is ``slow``. A bare `pytest` (no paths, no -m)
    leaves them out; `pytest -m slow` runs only them; naming files or tests, or any -m, selects as pytest does."""
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in WORKFLOW_FIXTURES):
            item.add_marker(pytest.mark.workflow)
        if any(item.get_closest_marker(name) for name in SLOW_MARKERS):
            item.add_marker(pytest.mark.slow)
    if config.option.markexpr or config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


WORKFLOW_S = 1800
"""A test's workflow (fixture claims: a few minutes at most on a loaded 2-core machine) that runs longer is reported as
hung, with its output, instead of holding CI until its own limit."""


def _text(output: bytes | str | None) -> str:
    """What a timed-out subprocess had written (bytes even with ``text=True``, or None)."""
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def snakemake(
    workdir: Path,
    *args: str,
    claims: Path = FIXTURE_CLAIMS,
    check: bool = True,
    env: dict | None = None,
    config: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` on ``claims`` (no conda, local cores), with ``config``
    overriding config/config.yaml."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        "2",
        *args,
        "--config",
        f"claims={claims}",
        *(f"{key}={value}" for key, value in (config or {}).items()),
    ]
    full_env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/mlflow.db", **(env or {})}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=workdir, timeout=WORKFLOW_S)
    except subprocess.TimeoutExpired as exc:
        out, err = (_text(exc.stdout), _text(exc.stderr))
        raise AssertionError(f"snakemake ran past {WORKFLOW_S} s (hung?):\n{out[-3000:]}\n{err[-6000:]}") from None
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def record_progress_bars(patch: pytest.MonkeyPatch) -> list[str]:
    """What each progress bar a run shows in its log is of (its ``desc``), in order, for runs made under ``patch``."""
    from repro.runner import Recorder

    bars: list[str] = []
    progress = Recorder.progress

    def recorded(self, iterable=None, total=None, desc="train"):
        bars.append(desc)
        return progress(self, iterable, total=total, desc=desc)

    patch.setattr(Recorder, "progress", recorded)
    return bars


def fingerprint(workdir: Path, scale: str = "ci") -> dict[str, str]:
    """What must not differ between two workflows that made the same verdicts: the verdict table and every prediction
    table, byte for byte (sha256 by path)."""
    tables = sorted((workdir / "results/runs").rglob("predictions-*.parquet"))
    files = [workdir / f"results/verdicts-{scale}.tsv", *tables]
    return {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def verdict_table(workdir: Path, scale: str = "ci") -> pd.DataFrame:
    return pd.read_csv(workdir / f"results/verdicts-{scale}.tsv", sep="\t").set_index("claim_id")


@pytest.fixture(scope="session")
def planted_workflow(tmp_path_factory) -> tuple[Path, Path]:
    """One complete workflow run over a copy of tests/fixtures/claims (planted faults), shared by the
    workflow and tracking tests, its console kept in ``<workdir>-console.txt`` beside it. Returns (workdir, claims
    folder)."""
    workdir = tmp_path_factory.mktemp("planted")
    claims = workdir / "claims"
    shutil.copytree(FIXTURE_CLAIMS, claims)
    proc = snakemake(workdir, claims=claims)
    (workdir.parent / f"{workdir.name}-console.txt").write_text(proc.stdout + proc.stderr)
    return workdir, claims


@pytest.fixture
def copy_claims(tmp_path) -> Path:
    """A writable copy of the planted-fault claims."""
    target = tmp_path / "claims"
    shutil.copytree(FIXTURE_CLAIMS, target)
    return target
