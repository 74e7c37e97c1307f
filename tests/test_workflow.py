"""The workflow end to end on planted-fault claims: each gate fires on the fault it exists for,
reruns are incremental, and results are deterministic."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat

import pandas as pd
import pytest

from .conftest import snakemake, verdict_table

pytestmark = pytest.mark.workflow

EXPECTED = {
    "planted-real-effect": "verified",
    "planted-borderline": "inconclusive",
    "planted-placebo": "falsified",
    "planted-absurd": "falsified",
    "planted-absurd-margin": "falsified",
    "planted-inert": "inconclusive",
    "planted-mechanism-idle": "inconclusive",
    "planted-wide-prediction": "inconclusive",
    "planted-stub": "invalid",
    "planted-decoy": "invalid",
    "planted-collapsed": "verified",
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
    # A stub never trains, so the weights check leads; its outputs ignoring the inputs fails too.
    assert "weights_changed" in reasons["planted-stub"]
    stub = json.loads((workdir / "results/verdicts/ci/planted-stub.json").read_text())
    failed = [c["name"] for c in stub["integrity"] if not c["passed"]]
    assert failed == ["weights_changed", "predictions_depend_on_inputs"]
    assert "weights_changed" in reasons["planted-decoy"] and "loose tensors" in reasons["planted-decoy"]
    collapsed = json.loads((workdir / "results/verdicts/ci/planted-collapsed.json").read_text())
    inputs = next(c for c in collapsed["integrity"] if c["name"] == "predictions_depend_on_inputs")
    assert inputs["passed"] and "collapsed" in inputs["detail"]  # a trained model's constant output is a result
    assert "weights_changed" in reasons["planted-untrained"]
    assert "seeds_differ" in reasons["planted-seed-blind"]
    assert "insensitive evaluation" in reasons["planted-insensitive"]
    assert "planted crash" in reasons["planted-crash"]
    assert "inert or broken at this scale" in reasons["planted-inert"]
    # Decided at the inert-treatment gate, its mechanism is still recorded: it never engaged (lr 1e-6).
    inert = json.loads((workdir / "results/verdicts/ci/planted-inert.json").read_text())
    assert inert["gate"] == "inert_treatment" and "mechanism" not in [g["gate"] for g in inert["gates"]]
    assert inert["mechanism"]["diagnostic"] == "training_loss_drop" and not inert["mechanism"]["engaged"]
    card = (workdir / "results/verdicts/ci/planted-inert.md").read_text()
    assert "## Mechanism" in card and "decided at the earlier gate `inert_treatment`" in card
    assert "mechanism did not engage" in reasons["planted-mechanism-idle"]
    assert "training_loss_drop" in reasons["planted-mechanism-idle"]
    assert "too wide to tell" in reasons["planted-wide-prediction"]
    assert "not at family-wise" in reasons["planted-borderline"]  # verified alone: Holm makes it inconclusive
    assert "smaller than the minimum effect" in reasons["planted-absurd-margin"]
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
    assert [g["gate"] for g in trace["gates"]] == [
        "error",
        "integrity",
        "sensitivity",
        "inert_treatment",
        "mechanism",
        "power",
        "decision",
        "multiplicity",
    ]
    assert trace["decision"]["lo"] > 0 and trace["arms"]["good"]["n"] == 10
    assert trace["negative_controls"][0]["passed"] and 0.5 <= trace["prob_improvement"]["estimate"] <= 1
    assert trace["mechanism"]["engaged"] and trace["power"]["mde"] > 0
    family = trace["multiplicity"]["family"]
    assert "planted-real-effect" in family and "planted-derivation-wrong" not in family
    # Holm reads the paper's family file (rule holm_family): its members' p-values, as their decisions give them.
    members = json.loads((workdir / "results/families/ci/0000.00001.json").read_text())["members"]
    assert [m["claim_id"] for m in members] == family
    decision = json.loads((workdir / "results/decisions/ci/planted-real-effect.json").read_text())["decision"]
    mine = members[family.index("planted-real-effect")]
    assert (mine["p_verify"], mine["p_falsify"]) == (decision["p_verify"], decision["p_falsify"])
    adjusted = (trace["multiplicity"]["p_verify_adjusted"], trace["multiplicity"]["p_falsify_adjusted"])
    assert (mine["p_verify_adjusted"], mine["p_falsify_adjusted"]) == adjusted
    assert trace["rule"]["state"] == "registered" and len(trace["rule"]["fingerprint"]) == 16
    card = stem.with_suffix(".md").read_text()
    assert "Tested hypothesis (ci)" in card and "Negative controls" in card and "Integrity" in card
    assert "## Mechanism" in card and "## Power" in card and "## Multiplicity" in card and "Decision rule" in card
    assert stem.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "![planted-real-effect: evidence against the claim](planted-real-effect.png)" in card
    assert "- **When it decides:** verified when the interval's lower bound is above 0" in card
    assert "| decision | **decided: verified** |" in card and "[]" not in card
    placebo = (workdir / "results/verdicts/ci/planted-placebo.md").read_text()
    assert "| decision | **decided: falsified** | paired-t direction |" in placebo and "| decision | yes" not in placebo
    table = pd.read_csv(workdir / "results/verdicts-ci.tsv", sep="\t")
    assert {"claim_id", "kind", "scale", "hypothesis", "verdict", "effect", "ci_low", "ci_high"} <= set(table.columns)
    row = table.set_index("claim_id").loc["planted-real-effect"]
    assert row["effect_label"] == "treatment − baseline (accuracy)"
    assert row["claim_file"].endswith("claims/0000.00001/planted-real-effect.yaml") and len(row["claim_sha256"]) == 64
    html = (workdir / "results/report-ci.html").read_text()
    assert "planted-real-effect" in html and "data:image/png;base64" in html


def test_result_files_are_readable_as_the_umask_allows(planted_workflow):
    """Atomic writes (repro/files.py) keep the umask's mode: teammates and a web server can read cards and tables."""
    workdir, _ = planted_workflow
    umask = os.umask(0)
    os.umask(umask)
    files = [p for p in (workdir / "results").rglob("*") if p.is_file()]
    assert len(files) > 100
    modes = {p.relative_to(workdir): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert {p: m for p, m in modes.items() if m != oct(0o666 & ~umask)} == {}


def test_second_run_does_nothing(planted_workflow):
    workdir, claims = planted_workflow
    out = snakemake(workdir, "-n", claims=claims).stdout
    assert "Nothing to be done" in out


def test_deterministic_metrics_across_clean_runs(planted_workflow, tmp_path):
    """Bit-identical results from a second clean run, which also runs every job in its own process (no job
    server; the first ran them in forks of one, repro/jobserver.py)."""
    workdir, claims = planted_workflow
    served = (workdir / "logs/job_server.log").read_text()
    assert "listening on" in served and "refused" not in served  # the jobs' -S clients are the server's environment
    assert re.search(r"^repro job server \d+ \(light\): .* listening on ", served, re.MULTILINE)
    assert re.search(r"^fork \d+: repro run-arm in ", served, re.MULTILINE)  # runs went through the server
    target = "results/decisions/ci/planted-real-effect.json"
    snakemake(tmp_path, target, claims=claims, config={"job_server": "False"})
    assert not (tmp_path / "logs/job_server.log").exists()
    for run_json in (tmp_path / "results/runs").rglob("run.json"):
        fresh = json.loads(run_json.read_text())
        forked = json.loads((workdir / run_json.relative_to(tmp_path)).read_text())
        assert fresh["status"] == forked["status"] == "completed"
        assert fresh["artifacts"] == forked["artifacts"], run_json.parent  # hashes of predictions, curve, weights
    first = sorted((workdir / "results/runs").rglob("metrics.parquet"))
    second = {p.relative_to(tmp_path): p for p in (tmp_path / "results/runs").rglob("metrics.parquet")}
    assert len(second) == 30  # 3 arms × 10 seeds
    for path in first:
        rel = path.relative_to(workdir)
        if rel in second:
            assert path.read_bytes() == second[rel].read_bytes(), rel
            a, b = pd.read_parquet(path), pd.read_parquet(second[rel])
            pd.testing.assert_frame_equal(a, b, check_exact=True)


VERDICTS = "results/verdicts-ci.tsv"
"""The target of a workflow whose verdicts a test reads: the report and the MLflow sync follow when the shared
workflow is restored (with rule ``all``) at the test's end."""


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}


def test_editing_an_expectation_redecides_it_and_flags_the_change(planted_workflow, capsys, monkeypatch):
    """Editing a rule after its evidence re-decides only that claim (and re-adjusts its paper's reproduction
    claims), is flagged everywhere until re-registered with a reason, and `--fail-on rule_changed` fails on it."""
    from repro.cli import main

    workdir, claims = planted_workflow
    ledger = claims / "ledger.jsonl"
    assert '"event": "evidence"' in ledger.read_text()  # the first run recorded its evidence
    path = claims / "0000.00001/planted-real-effect.yaml"
    original = path.read_text()
    decisions, verdicts = workdir / "results/decisions/ci", workdir / "results/verdicts/ci"
    before_d, before_v = _mtimes(decisions), _mtimes(verdicts)
    monkeypatch.chdir(workdir)
    try:
        path.write_text(original.replace("margin: 0.02", "margin: 0.5"))
        capsys.readouterr()
        assert main(["status"]) == 0  # the table still holds the verdict of the claim as it was: stale
        assert "stale: planted-real-effect (claim file changed since the verdict" in capsys.readouterr().out
        plan = snakemake(workdir, "-n", claims=claims).stdout
        assert "decide_verdict" in plan and "run_arm" not in plan and "compute_metrics" not in plan
        snakemake(workdir, VERDICTS, claims=claims)
        after_d, after_v = _mtimes(decisions), _mtimes(verdicts)
        assert {n for n in before_d if before_d[n] != after_d[n]} == {"planted-real-effect.json"}
        family = set(json.loads((verdicts / "planted-real-effect.json").read_text())["multiplicity"]["family"])
        assert {n.removesuffix(".json") for n in before_v if before_v[n] != after_v[n]} <= family
        verdict = json.loads((verdicts / "planted-real-effect.json").read_text())
        assert verdict["expectation"]["margin"] == 0.5
        # the control gate reads the metric's resolution, not the claim's δ: a large δ is judged, not "insensitive"
        assert verdict["verdict"] == "falsified"
        assert verdict["rule"]["state"] == "changed_after_evidence"
        assert ["scale.expectation.margin", 0.02, 0.5] in verdict["rule"]["diff"]
        assert "CHANGED AFTER EVIDENCE" in (verdicts / "planted-real-effect.md").read_text()
        assert verdict_table(workdir).loc["planted-real-effect", "rule_changed"]
        assert main(["status", "--fail-on", "rule_changed"]) == 1
        assert main(["preregister", "--claims", str(claims), "--claim", "planted-real-effect"]) == 2  # no reason
        reason = "test: δ = 0.5 is the effect size of interest"
        assert main(["preregister", "--claims", str(claims), "--claim", "planted-real-effect", "--reason", reason]) == 0
        snakemake(workdir, VERDICTS, claims=claims)
        verdict = json.loads((verdicts / "planted-real-effect.json").read_text())
        assert verdict["rule"]["state"] == "reregistered" and verdict["rule"]["reason"] == reason
        assert main(["status", "--fail-on", "rule_changed"]) == 0
    finally:
        path.write_text(original)
        main(["preregister", "--claims", str(claims), "--claim", "planted-real-effect", "--reason", "test: restored"])
        snakemake(workdir, claims=claims)
    capsys.readouterr()


def test_a_second_numeric_environment_marks_flipped_verdicts_fragile(planted_workflow, tmp_path, monkeypatch):
    """With numerics_reference, a verdict whose decision differs in the other environment is fragile: inconclusive,
    flagged in the summary, and `--fail-on fragile` fails. (The reference here is doctored: one verdict flipped,
    its decision with it.)"""
    from repro.cli import main

    workdir, claims = planted_workflow
    reference = tmp_path / "default"
    shutil.copytree(workdir / "results/verdicts", reference / "results/verdicts")
    flipped = reference / "results/verdicts/ci/planted-absurd-margin.json"
    flipped.write_text(
        json.dumps({**json.loads(flipped.read_text()), "verdict": "inconclusive", "decided": "inconclusive"})
    )
    monkeypatch.chdir(workdir)
    try:
        snakemake(workdir, VERDICTS, claims=claims, config={"numerics_reference": str(reference)})
        table = verdict_table(workdir)
        assert table.loc["planted-absurd-margin", "verdict"] == "inconclusive"
        assert table["fragile"].sum() == 1 and table.loc["planted-absurd-margin", "fragile"]
        assert "fragile" in table.loc["planted-absurd-margin", "reason"]
        assert table.loc["planted-placebo", "verdict"] == "falsified"  # unchanged there: stable
        assert main(["status", "--fail-on", "fragile"]) == 1
    finally:
        snakemake(workdir, claims=claims)
    assert verdict_table(workdir)["verdict"].to_dict() == EXPECTED


def test_status_command(planted_workflow, capsys, monkeypatch):
    from repro.cli import main

    workdir, _ = planted_workflow
    monkeypatch.chdir(workdir)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["claim", "verdict", "kind", "effect", "[interval]", "measures"]
    assert "    card: results/verdicts/ci/planted-real-effect.md" in out and "stale" not in out
    assert main(["status", "--fail-on", "error,invalid"]) == 1
    assert main(["status", "--fail-on", "bogus"]) == 2  # a misspelled gate is a usage error, not a pass
