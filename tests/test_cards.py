"""Verdict cards as a reviewer reads them, from `repro decide` and `repro finalize` as the workflow calls them (claims
that need no training run), and the MLflow description of a card too long for MLflow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from repro.cli import main
from repro.report import decision_rule_text, render_card, render_html, summary_table
from repro.tracking_view import NOTE_LIMIT, run_note


def _finalize(claims: Path, claim_id: str, out: Path) -> tuple[dict, str]:
    """The verdict and card of a fixture claim, decided alone (its own family)."""
    claim = str(claims / "0000.00001" / f"{claim_id}.yaml")
    decision, stem = out / f"{claim_id}.decision.json", out / claim_id
    assert main(["decide", "--claim", claim, "--scale", "ci", "--out", str(decision)]) == 0
    args = ["finalize", "--claim", claim, "--scale", "ci", "--decision", str(decision)]
    outputs = ["--out-json", f"{stem}.json", "--out-card", f"{stem}.md", "--out-plot", f"{stem}.png"]
    assert main(args + outputs) == 0
    return json.loads(Path(f"{stem}.json").read_text()), Path(f"{stem}.md").read_text()


def test_a_falsified_card_names_the_gate_that_decided(copy_claims, tmp_path, capsys):
    verdict, card = _finalize(copy_claims, "planted-derivation-wrong", tmp_path)
    assert verdict["verdict"] == "falsified"
    assert "| decision | **decided: falsified** | interval arithmetic over rounding |" in card
    assert "| yes |" not in card and "[]" not in card
    assert "![planted-derivation-wrong: evidence against the claim](planted-derivation-wrong.png)" in card
    assert (tmp_path / "planted-derivation-wrong.png").read_bytes()[:4] == b"\x89PNG"
    assert "planted-derivation-wrong [ci]: falsified" in capsys.readouterr().err


def test_a_property_of_random_instances_says_so(copy_claims, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    claim = str(copy_claims / "0000.00001/planted-property-true.yaml")
    table = "results/properties/ci/planted-property-true.parquet"
    status = "results/properties/ci/planted-property-true.json"
    assert main(["check-property", "--claim", claim, "--scale", "ci", "--out", table, "--status", status]) == 0
    verdict, card = _finalize(copy_claims, "planted-property-true", tmp_path)
    assert verdict["verdict"] == "verified"
    assert "checked numerically on random instances" in card
    assert "| error | passed | – |" in card and "| decision | **decided: verified** | the verdict's reason" in card


def _reproduction(relation: str, value: float | None, **extra) -> dict:
    """A reproduction verdict as repro.verdict.finalize writes it, reduced to what the card reads."""
    decision = {"estimate": 0.79, "lo": 0.77, "hi": 0.81, "mode": "non-inferiority", "p_verify": 0.2, "p_falsify": 0.3}
    decision |= {"outcome": "inconclusive", "reason": "r", "extra": {}}
    arm = {"role": "treatment", "params_key": "0" * 12, "run_dir": "results/runs/planted/ci/000000000000"}
    arm |= {"seeds": [0, 1, 2], "values": [0.78, 0.79, 0.8], "all_metrics_mean": {"accuracy": 0.79}}
    return {
        "claim_id": "c",
        "kind": "reproduction",
        "scale": "ci",
        "hypothesis": "h",
        "verdict": "inconclusive",
        "reason": "r",
        "gate": "power",
        "decided": "inconclusive",
        "statement": "s",
        "quote": "q",
        "paper": "0000.00001v1",
        "paper_title": "t",
        "locator": "l",
        "metric": "accuracy",
        "higher_is_better": True,
        "arms": {"a": {**arm, "n": 3, "mean": 0.79, "sd": 0.01, "min": 0.78, "median": 0.79, "max": 0.8}},
        "expectation": {"effect": "value", "relation": relation, "value": value, "margin": 0.02, "alpha": 0.05},
        "decision": decision,
        "gates": [
            {"gate": "error", "passed": True, "detail": []},
            {"gate": "power", "passed": False, "detail": "non-inferiority"},
        ],
        **extra,
    }


def test_an_inconclusive_non_inferiority_card_names_its_boundary():
    card = render_card(_reproduction("at_least", 0.8))
    assert "the boundary is θ − δ = 0.78 (x̄ − θ = −δ = -0.02)" in card
    assert "— the one-sided p-values of the test that verifies the claim and of the test that falsifies it" in card
    assert "| error | passed | – |" in card and "| power | **decided: inconclusive** | non-inferiority |" in card


def test_the_power_section_sets_the_decisive_spread_against_the_pilot_that_sized_the_seeds():
    """A scale's power block (its pilot) is set beside the decisive spread: the MDE the seeds were chosen for, and
    the variance-ratio test that says whether the pilot understated the spread (prompt-gdro-4b's ci numbers)."""
    from repro.claims_schema import Power
    from repro.decide_reproduction import _against_pilot
    from repro.stats import minimum_detectable_effect, spread_over_pilot, summarize
    from repro.verdict_record import Verdict

    pilot = Power(sd=5.02, pilot_seeds=list(range(1000, 1012)))
    sample = np.array([-22.8, 3.1, -1.0, 5.2, -4.4, -0.6])
    summary = summarize(sample, 0.05)
    extra = _against_pilot(pilot, summary, 0.05)
    assert extra["pilot_sd"] == 5.02 and extra["pilot_seeds"] == list(range(1000, 1012))
    assert extra["planned_mde"] == pytest.approx(minimum_detectable_effect(5.02, 6))
    assert extra["spread_p"] == pytest.approx(spread_over_pilot(float(np.std(sample, ddof=1)), 6, 5.02, 12))
    assert extra["spread_p"] < 0.05
    assert _against_pilot(None, summary, 0.05) == {}
    power = {"n": 6, "sd": summary.sd, "mde": minimum_detectable_effect(summary.sd, 6), "margin": 6.1}
    power |= {"detects_margin": False, "power": 0.8, **extra}
    verdict = _reproduction("at_least", 0.8, power=power)
    assert Verdict.from_dict(verdict).power.spread_p == extra["spread_p"]  # the record keeps the new fields
    card = render_card(verdict)
    assert (
        "- Sized by a pilot on seeds 1000, 1001" in card
        and "(sd of the per-seed effect 5.02): at that sd 6 seeds" in card
    )
    assert "the pilot understated the spread, so these seeds had less than the planned 80 % power)\n\n## " in card
    calm = render_card(_reproduction("at_least", 0.8, power={**power, "sd": 5.0, "spread_p": 0.52}))
    assert "Sized by a pilot" in calm and "understated" not in calm
    # a scale without a power block: the verdict's power has none of the pilot's fields
    unsized = {key: power[key] for key in ("n", "sd", "mde", "margin", "detects_margin", "power")}
    assert "Sized by a pilot" not in render_card(_reproduction("at_least", 0.8, power=unsized))


@pytest.mark.parametrize(
    ("relation", "value", "says"),
    [
        ("greater", None, "falsified when its upper bound is below δ = 0.02"),
        ("less", None, "falsified when its lower bound is above −δ = -0.02"),
        ("equal", 0.8, "inside θ ± δ = (0.78, 0.82)"),
        ("at_most", 0.8, "the boundary is θ + δ = 0.82"),
    ],
)
def test_decision_rule_in_words(relation, value, says):
    exp = {"relation": relation, "value": value, "margin": 0.02, "alpha": 0.05}
    assert says in decision_rule_text(exp)


def test_a_borderline_grounding_says_so():
    grounding = {
        "cached": True,
        "status": "grounded",
        "score": 0.801,
        "thresholds": {"grounded": 0.8, "absent": 0.5},
        "exact": False,
        "cache": "papers/0000.00001/v1",
        "file": "abstract.txt",
        "location": {"line": 3, "page": None, "section": None},
        "passage": "p",
        "missing": ["gain"],
        "missing_numbers": [],
        "searched": [],
    }
    verdict = {**_reproduction("greater", None), "kind": "textual", "arms": None, "grounding": grounding}
    card = render_card({**verdict, "verdict": "verified", "gate": "decision", "gates": []})
    assert "**Borderline:** the score 0.801 is within 0.02 of the grounded threshold 0.8" in card
    clear = render_card({**verdict, "verdict": "verified", "grounding": {**grounding, "score": 0.9}})
    assert "Borderline" not in clear


def test_a_property_of_runs_does_not_claim_random_instances():
    verdict = {
        **_reproduction("greater", None),
        "kind": "property",
        "arms": None,
        "provenance": {"repro": "0", "commit": "x", "dirty": False, "python": "3", "numpy": "2", "pandas": "3"},
    }
    verdict["provenance"]["runs"] = "results/runs/care_rlvr/ci/0123456789ab"
    card = render_card(verdict)
    assert "random instances" not in card
    assert "checked on the artifacts of real runs of this scale (results/runs/care_rlvr/ci/0123456789ab)" in card


def test_mlflow_description_fits_and_points_to_the_whole_card():
    card = "# CARD\n" + "".join(f"| row {i} | {'x' * 60} |\n" for i in range(200))  # ~14 000 characters
    links = [f"- [run{i:032d}](#/experiments/1/runs/run{i:032d})\n" for i in range(30)]
    note = run_note(card, "c.md", links)
    assert len(note) <= NOTE_LIMIT
    assert "the whole card is this run's artifact `c.md`" in note and note.endswith(links[-1])
    assert "## Linked training runs" in note and note.startswith("# CARD\n")
    short = run_note("# CARD\n", "c.md", links)
    assert short == "# CARD\n\n## Linked training runs\n" + "".join(links)
    many = run_note(card, "c.md", links * 20)
    assert len(many) <= NOTE_LIMIT and "more (tag repro_training_runs)" in many


def test_the_report_escapes_claim_text_the_card_quotes_it(copy_claims, tmp_path):
    verdict, _ = _finalize(copy_claims, "planted-derivation-wrong", tmp_path)
    verdict["hypothesis"] = "a <b>bold</b> & <script>x()</script> hypothesis"
    card = render_card(verdict)
    assert "**Tested hypothesis (ci):** a <b>bold</b> & <script>x()</script> hypothesis" in card  # markdown: verbatim
    plots = {verdict["claim_id"]: tmp_path / "planted-derivation-wrong.png"}
    page = render_html(summary_table([verdict]), [verdict], {verdict["claim_id"]: card}, plots, "ci")
    assert "<script>" not in page and "<b>" not in page
    assert page.count("a &lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;x()&lt;/script&gt; hypothesis") == 2  # row, card


def test_a_changed_card_template_re_renders_the_cards(tmp_path, monkeypatch):
    """The card layout lives in repro/templates: editing it changes the code version of the rule that writes cards
    (repro.codekeys.verdict_key), as editing repro/report.py does, and not that of the decisions."""
    from repro import codekeys

    templates = tmp_path / "templates"
    shutil.copytree(codekeys.TEMPLATES, templates)
    monkeypatch.setattr(codekeys, "TEMPLATES", templates)
    cards, decisions = codekeys.verdict_key(), codekeys.decision_key()
    (templates / "card.md.j2").write_text((templates / "card.md.j2").read_text() + "\n")
    assert codekeys.verdict_key() != cards
    assert codekeys.decision_key() == decisions
