"""The order of the ready jobs (config run_seconds, Plan.run_chains, rules' priorities): scoring and deciding jobs
before runs, and among runs the longest chain of work first, so that no long run starts when the other cores have
nothing left to do."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from repro.plan import build_plan

from .conftest import ROOT


def test_a_runs_chain_is_its_own_seconds_and_its_longest_dependent_chain():
    plan = build_plan(ROOT / "claims", "ci")
    chains = plan.run_chains({"xling_mlm": 60, "robust_xling": 10, "care_rlvr": 5})
    by_family: dict[str, set[float]] = {}
    for path, chain in chains.items():
        by_family.setdefault(path.parts[2], set()).add(chain)
    assert by_family["xling_mlm"] == {70.0}  # the shared pre-training, then a robust_xling run
    assert by_family["robust_xling"] == {10.0}
    assert by_family["care_warm_start"] == {6.0}  # not listed: 1 s, then a care_rlvr run
    assert by_family["mallows_bandit"] == {1.0}
    assert set(chains) == set(plan.runs)


def _dry_run(tmp_path, *config: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-n"]
    cmd += ["--config", f"claims={ROOT / 'claims'}", *config]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_scoring_jobs_go_before_runs_and_runs_longest_chain_first(tmp_path):
    out = _dry_run(tmp_path)
    assert out.returncode == 0, out.stderr
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?=^\[|\Z)", out.stdout, re.M | re.S)
    priority: dict[str, list[tuple[float, str]]] = {}
    for rule, block in jobs:
        if rule == "all":
            continue
        value = re.search(r"^\s+priority: (\S+)$", block, re.M)
        output = re.search(r"^\s+output: ([^,\s]+)", block, re.M).group(1)
        priority.setdefault(rule, []).append((float(value.group(1)) if value else 0.0, output))
    runs = priority.pop("run_arm")
    assert len(runs) > 100 and all(0 < value < 1 for value, _ in runs)
    assert all(value >= 1 for jobs in priority.values() for value, _ in jobs), priority.keys()
    first = max(runs)[1]
    assert "/xling_mlm/" in first  # 66 s, and a robust_xling run after it
    last = {output.split("/")[2] for value, output in runs if value == min(runs)[0]}
    assert last == {"mallows_bandit"}  # the shortest runs fill the end


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ('{"ci": {"no_such_family": 1}}', "run_seconds: ci: no_such_family: not a family (the families: "),
        ('{"ci": {"dro_clip": -1}}', "run_seconds: ci: dro_clip: must be a number of seconds >= 0 (got "),
        ('{"ci": [1, 2]}', "run_seconds: ci: must map family names ("),
        ("[1, 2]", "run_seconds: must map scales (ci, reduced, full) to each family's seconds (got "),
    ],
)
def test_a_bad_run_seconds_names_the_setting_the_family_and_the_reason(tmp_path, given, said):
    out = _dry_run(tmp_path, f"run_seconds={given}")
    assert out.returncode != 0
    shown = out.stdout + out.stderr  # Snakemake prints a WorkflowError on its log (stdout)
    assert f"config/config.yaml: {said}" in shown, shown[-2000:]
