"""The preregistration ledger: fingerprints cover the rule and not the prose; changes after evidence are flagged
until re-registered with a reason; the file is append-only JSON lines."""

import json
import shutil

import pytest

from repro import ledger
from repro.claims import load_claims

from .conftest import FIXTURE_CLAIMS


@pytest.fixture
def claims(tmp_path):
    target = tmp_path / "claims"
    shutil.copytree(FIXTURE_CLAIMS, target)
    return target


def _claim(claims_dir, claim_id):
    return next(c.claim for c in load_claims(claims_dir) if c.id == claim_id)


def _edit(claims_dir, claim_id, old, new):
    path = claims_dir / "0000.00001" / f"{claim_id}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_fingerprint_covers_the_rule_not_the_prose(claims):
    before = ledger.rule_of(_claim(claims, "planted-real-effect"), "ci")
    _edit(claims, "planted-real-effect", "statement: Training on 256", "statement: Fitting on 256")
    assert ledger.rule_of(_claim(claims, "planted-real-effect"), "ci") == before
    _edit(claims, "planted-real-effect", "margin: 0.02", "margin: 0.03")
    after = ledger.rule_of(_claim(claims, "planted-real-effect"), "ci")
    assert ledger.fingerprint(after) != ledger.fingerprint(before)
    assert ledger.rule_diff(before, after) == [("scale.expectation.margin", 0.02, 0.03)]


def test_the_control_metric_is_part_of_the_rule(claims):
    """It decides the negative-control gate; a claim without one keeps the fingerprint it had before the field
    existed (no key), so the ledger's existing registrations stay valid."""
    before = ledger.rule_of(_claim(claims, "planted-real-effect"), "ci")
    assert "control_metric" not in before
    controls = "negative_controls: [shuffled]"
    _edit(claims, "planted-real-effect", controls, controls + "\ncontrol_metric: log_loss")
    after = ledger.rule_of(_claim(claims, "planted-real-effect"), "ci")
    assert ledger.rule_diff(before, after) == [("control_metric", None, "log_loss")]


def test_change_after_evidence_is_flagged_until_reregistered(claims):
    path = ledger.ledger_path(claims)
    claim = _claim(claims, "planted-real-effect")
    new = ledger.register_missing(path, [claim], ("ci",), by="test")
    assert [e["event"] for e in new] == ["registered"]
    assert ledger.register_missing(path, [claim], ("ci",), by="test") == []  # idempotent
    rule = ledger.rule_of(claim, "ci")
    # edited before any evidence: silently registered again (nothing was seen), with a trace of what it replaced
    _edit(claims, "planted-real-effect", "margin: 0.02", "margin: 0.025")
    edited = _claim(claims, "planted-real-effect")
    again = ledger.register_missing(path, [edited], ("ci",), by="test")
    assert again[0]["supersedes"] == ledger.fingerprint(rule)
    # evidence under it, then an edit: flagged, not re-registered by the workflow
    ledger.record_evidence(path, [(claim.id, "ci", again[0]["fingerprint"])])
    assert ledger.record_evidence(path, [(claim.id, "ci", again[0]["fingerprint"])]) == []
    _edit(claims, "planted-real-effect", "margin: 0.025", "margin: 0.5")
    changed = _claim(claims, "planted-real-effect")
    status = ledger.rule_status(ledger.read_ledger(path), claim.id, "ci", ledger.rule_of(changed, "ci"))
    assert status.changed_after_evidence and status.flag().startswith("changed:")
    assert ledger.register_missing(path, [changed], ("ci",), by="test") == []
    with pytest.raises(ledger.LedgerError):
        ledger.reregister(path, changed, "ci", "  ")
    event = ledger.reregister(path, changed, "ci", "the first run showed δ below the evaluation's resolution")
    assert event["previous"]["fingerprint"] == again[0]["fingerprint"]
    status = ledger.rule_status(ledger.read_ledger(path), claim.id, "ci", ledger.rule_of(changed, "ci"))
    assert status.state == "reregistered" and status.as_dict()["reason"].startswith("the first run")
    lines = path.read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == [
        "registered",
        "registered",
        "evidence",
        "reregistered",
    ]


def test_a_corrupt_ledger_names_file_and_line(claims):
    path = ledger.ledger_path(claims)
    path.write_text('{"event": "registered", "claim": "x", "scale": "ci", "fingerprint": "f"}\nnot json\n')
    with pytest.raises(ledger.LedgerError, match=r"ledger.jsonl:2"):
        ledger.read_ledger(path)
