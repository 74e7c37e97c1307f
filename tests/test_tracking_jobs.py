"""MLflow is written by one job per paper, each as soon as that paper's verdicts exist, and a receipt joins them."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections import defaultdict

import pytest

from repro.claims import load_claims
from repro.files import write_json
from repro.tracking import join_receipts

from .conftest import ROOT


def _receipt(paper: str, experiment: str, created: int, unchanged: int, uri: str = "sqlite:///mlflow.db") -> dict:
    return {
        "uri": uri,
        "scale": "ci",
        "experiments": {paper: experiment},
        "review": {paper: f"#/experiments/{experiment}/runs"},
        "claims": {f"claim-of-{paper}": f"run-{paper}"},
        "training": {f"family/ci/{paper}/seed0": f"training-{paper}"},
        "created": created,
        "unchanged": unchanged,
    }


def test_the_papers_receipts_join_into_one(tmp_path):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    write_json(paths[0], _receipt("1111.11111", "1", created=3, unchanged=4))
    write_json(paths[1], _receipt("2222.22222", "2", created=0, unchanged=9))

    joined = join_receipts(paths)

    assert (joined["uri"], joined["scale"], joined["created"], joined["unchanged"]) == (
        "sqlite:///mlflow.db",
        "ci",
        3,
        13,
    )
    assert joined["experiments"] == {"1111.11111": "1", "2222.22222": "2"}
    assert set(joined["review"]) == set(joined["experiments"])
    assert joined["claims"] == {"claim-of-1111.11111": "run-1111.11111", "claim-of-2222.22222": "run-2222.22222"}
    assert len(joined["training"]) == 2


def test_receipts_of_two_stores_are_not_joined(tmp_path):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    write_json(paths[0], _receipt("1111.11111", "1", 1, 0))
    write_json(paths[1], _receipt("2222.22222", "2", 1, 0, uri="http://team:5000"))
    with pytest.raises(ValueError, match=r"b\.json: uri: 'http://team:5000', but .*a\.json has 'sqlite:///mlflow.db'"):
        join_receipts(paths)


def test_each_paper_is_tracked_by_its_own_job_from_its_own_verdicts(tmp_path):
    """The dry run of the shipped claims: one tracking job per paper, given exactly that paper's verdicts (so it can
    start while other papers' runs go on), ahead of queued jobs (priority), one at a time (mlflow_writer), and one
    receipt job after all of them."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-n", "-p"]
    cmd += ["results/mlflow-ci.json", "--config", f"claims={ROOT / 'claims'}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    tracked: dict[str, set[str]] = {}
    for line in out.splitlines():
        if line.strip().startswith("python -S -m repro track "):
            words = shlex.split(line.strip().removesuffix("\\"))
            paper = re.fullmatch(r"results/mlflow/ci/(\d{4}\.\d{4,5})\.json", words[words.index("--out") + 1]).group(1)
            tracked[paper] = {w for w in words if w.startswith("results/verdicts/ci/")}
    claims: dict[str, set[str]] = defaultdict(set)
    for loaded in load_claims(ROOT / "claims"):
        claims[loaded.claim.paper.arxiv.split("v")[0]].add(f"results/verdicts/ci/{loaded.claim.id}.json")

    assert len(claims) >= 5
    assert tracked == claims
    blocks = re.findall(r"^rule track_mlflow:\n(.*?)(?=^\[|\Z)", out, re.M | re.S)
    assert len(blocks) == len(claims)
    for block in blocks:
        assert re.search(r"^\s+priority: [1-9]\d*$", block, re.M), block
        assert re.search(r"^\s+resources: .*mlflow_writer=1", block, re.M), block
    assert out.count("rule mlflow_receipt:") == 1
    assert re.search(
        r"^\s*python -S -m repro track-receipt --out results/mlflow-ci\.json( results/mlflow/ci/\S+){5,}", out, re.M
    )
