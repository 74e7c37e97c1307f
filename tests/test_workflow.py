"""The workflow end to end on planted-fault claims: each gate fires on the fault it exists for,
reruns are incremental, and results are deterministic."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from .conftest import snakemake, verdict_table

pytestmark = pytest.mark.workflow

EXPECTED = {
    "planted-real-effect": "verified",
    "planted-placebo": "falsified",
    "planted-absurd": "falsified",
    "planted-stub": "invalid",
    "planted-crash": "error",
    "planted-untrained": "invalid",
    "planted-seed-blind": "invalid",
    "planted-insensitive": "invalid",
    "planted-property-true": "verified",
    "planted-property-false": "falsified",
    "planted-property-trivial": "invalid",
    "planted-derivation-rounding": "verified",
    "planted-derivation-wrong": "falsified",
    "planted-textual": "not_run",
    "planted-untestable": "not_testable",
}


def test_every_planted_fault_gets_its_verdict(planted_workflow):
    workdir, _ = planted_workflow
    table = verdict_table(workdir)
    assert table["verdict"].to_dict() == EXPECTED


def test_gates_name_the_fault(planted_workflow):
    workdir, _ = planted_workflow
    reasons = verdict_table(workdir)["reason"]
    assert "predictions_depend_on_inputs" in reasons["planted-stub"]
    assert "weights_changed" in reasons["planted-untrained"]
    assert "seeds_differ" in reasons["planted-seed-blind"]
    assert "insensitive evaluation" in reasons["planted-insensitive"]
    assert "planted crash" in reasons["planted-crash"]
    assert "instances_nontrivial" in reasons["planted-property-trivial"]


def test_crash_is_error_and_other_claims_are_still_decided(planted_workflow):
    workdir, _ = planted_workflow
    crash = json.loads((workdir / "results/verdicts/ci/planted-crash.json").read_text())
    assert crash["verdict"] == "error" and crash["gate"] == "error"
    assert len(verdict_table(workdir)) == len(EXPECTED)


def test_verdict_outputs_and_trace(planted_workflow):
    workdir, _ = planted_workflow
    stem = workdir / "results/verdicts/ci/planted-real-effect"
    trace = json.loads(stem.with_suffix(".json").read_text())
    assert [g["gate"] for g in trace["gates"]] == ["error", "integrity", "sensitivity", "decision"]
    assert trace["decision"]["lo"] > 0 and trace["arms"]["good"]["n"] == 4
    assert trace["negative_controls"][0]["passed"] and 0.5 <= trace["prob_improvement"]["estimate"] <= 1
    card = stem.with_suffix(".md").read_text()
    assert "Tested hypothesis (ci)" in card and "Negative controls" in card and "Integrity" in card
    assert stem.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(workdir / "results/verdicts-ci.tsv", sep="\t")
    assert {"claim_id", "kind", "scale", "hypothesis", "verdict", "effect", "ci_low", "ci_high"} <= set(table.columns)
    html = (workdir / "results/report-ci.html").read_text()
    assert "planted-real-effect" in html and "data:image/png;base64" in html


def test_second_run_does_nothing(planted_workflow):
    workdir, claims = planted_workflow
    out = snakemake(workdir, "-n", claims=claims).stdout
    assert "Nothing to be done" in out


def test_deterministic_metrics_across_clean_runs(planted_workflow, tmp_path):
    """Bit-identical results from a second clean run, which also runs every job in its own process (no job
    server; the first ran them in forks of one, repro/jobserver.py)."""
    workdir, claims = planted_workflow
    served = (workdir / "logs/job_server.log").read_text()
    assert "listening on" in served and "refused" not in served
    assert re.search(r"^fork \d+: repro run-arm in ", served, re.MULTILINE)  # runs went through the server
    snakemake(tmp_path, "results/verdicts/ci/planted-real-effect.json", claims=claims, config={"job_server": "False"})
    assert not (tmp_path / "logs/job_server.log").exists()
    for run_json in (tmp_path / "results/runs").rglob("run.json"):
        fresh = json.loads(run_json.read_text())
        forked = json.loads((workdir / run_json.relative_to(tmp_path)).read_text())
        assert fresh["status"] == forked["status"] == "completed"
        assert fresh["artifacts"] == forked["artifacts"], run_json.parent  # hashes of predictions, curve, weights
    first = sorted((workdir / "results/runs").rglob("metrics.parquet"))
    second = {p.relative_to(tmp_path): p for p in (tmp_path / "results/runs").rglob("metrics.parquet")}
    assert len(second) == 12
    for path in first:
        rel = path.relative_to(workdir)
        if rel in second:
            assert path.read_bytes() == second[rel].read_bytes(), rel
            a, b = pd.read_parquet(path), pd.read_parquet(second[rel])
            pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_editing_an_expectation_redecides_only_that_claim(planted_workflow):
    workdir, claims = planted_workflow
    path = claims / "0000.00001/planted-real-effect.yaml"
    original = path.read_text()
    before = {p.name: p.stat().st_mtime_ns for p in (workdir / "results/verdicts/ci").glob("*.json")}
    try:
        path.write_text(original.replace("margin: 0.02", "margin: 0.5"))
        plan = snakemake(workdir, "-n", claims=claims).stdout
        assert "decide_verdict" in plan and "run_arm" not in plan and "compute_metrics" not in plan
        snakemake(workdir, claims=claims)
        after = {p.name: p.stat().st_mtime_ns for p in (workdir / "results/verdicts/ci").glob("*.json")}
        changed = {name for name in before if before[name] != after[name]}
        assert changed == {"planted-real-effect.json"}
        verdict = json.loads((workdir / "results/verdicts/ci/planted-real-effect.json").read_text())
        assert verdict["expectation"]["margin"] == 0.5
        assert verdict["verdict"] == "invalid"  # a 0.5 margin is beyond what the negative control can resolve
    finally:
        path.write_text(original)
        snakemake(workdir, claims=claims)


def test_status_command(planted_workflow, capsys, monkeypatch):
    from repro.cli import main

    workdir, _ = planted_workflow
    monkeypatch.chdir(workdir)
    assert main(["status"]) == 0
    assert "planted-real-effect" in capsys.readouterr().out
    assert main(["status", "--fail-on", "error,invalid"]) == 1
