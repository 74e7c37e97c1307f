"""The verdict as a typed record (repro.verdict_record): what is written is what is read back, a field never set
stays out of the JSON, values keep their type, and what the record does not know is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from repro import stats
from repro.claims import load_claims
from repro.plan import plan_claim
from repro.report import render_card
from repro.summary import summary_row
from repro.verdict import Verdict, decide, decide_claim, finalize, finalize_verdict
from repro.verdict_record import as_verdict

from .conftest import FIXTURE_CLAIMS


def _plan(claim_id: str):
    loaded = {c.id: c for c in load_claims(FIXTURE_CLAIMS)}[claim_id]
    return plan_claim(loaded, "ci")


def _json(v: Verdict) -> dict:
    """As ``repro.files.write_json`` writes it and ``read_json`` reads it back."""
    return json.loads(json.dumps(v.to_dict(), sort_keys=True, allow_nan=False))


@pytest.mark.parametrize("claim_id", ["planted-derivation-wrong", "planted-untestable", "planted-real-effect"])
def test_a_decision_reads_back_as_written(claim_id, tmp_path):
    decision = decide_claim(_plan(claim_id), tmp_path)  # planted-real-effect: no runs here, an error verdict
    data = _json(decision)
    assert Verdict.from_dict(data).to_dict() == data == json.loads(json.dumps(decide(_plan(claim_id), tmp_path)))
    verdict = finalize_verdict(Verdict.from_dict(data), [Verdict.from_dict(data)], None)
    assert finalize(data, [data], None) == verdict.to_dict()
    assert Verdict.from_dict(_json(verdict)).to_dict() == _json(verdict)
    assert verdict.decided == decision.verdict and data == _json(decision)  # the decision itself is left as it was


def test_a_field_never_set_is_left_out_one_set_to_none_is_written(tmp_path):
    v = decide_claim(_plan("planted-real-effect"), tmp_path)
    assert v.verdict == "error" and v.gate == "error"
    data = v.to_dict()
    assert "arms" not in data and "decision" not in data and v.arms is None  # the error gate stopped it first
    assert data["seed_document"] is None or isinstance(data["seed_document"], str)  # always written
    v.seeds_needed = None
    assert v.to_dict()["seeds_needed"] is None


def test_values_keep_their_type():
    s = stats.summarize(np.array([1.0, 2.0, 4.0]))
    assert s.df == 2 and isinstance(s.to_dict()["df"], int)  # df = n − 1 stays an int, as the JSON had it
    assert isinstance(stats.welch(np.array([1.0, 2.0]), np.array([1.0, 3.0])).df, float)
    assert stats.Summary.of(*s.to_dict().values()) == s


def test_what_the_record_does_not_know_is_refused(tmp_path):
    data = decide_claim(_plan("planted-derivation-wrong"), tmp_path).to_dict()
    with pytest.raises(ValidationError, match="verdikt"):
        Verdict.from_dict({**data, "verdikt": "verified"})
    with pytest.raises(ValidationError, match="verdict"):
        Verdict.from_dict({**data, "verdict": "probably"})
    with pytest.raises(ValidationError, match="passed"):
        Verdict.from_dict({**data, "gates": [{"gate": "decision", "passed": "yes", "detail": ""}]})
    v = Verdict.from_dict(data)
    with pytest.raises(ValidationError):
        v.tolerance = "small"  # assignments are checked as construction is
    assert as_verdict(v) is v


def test_cards_and_rows_read_the_record_or_its_json(tmp_path):
    v = finalize_verdict(decide_claim(_plan("planted-derivation-wrong"), tmp_path), [], None)
    assert render_card(v) == render_card(v.to_dict())
    assert summary_row(v) == summary_row(v.to_dict())
    assert (
        summary_row(v)["effect"] == v.derivation.computed and v.derivation.computed_interval[0] <= v.derivation.computed
    )


def test_gates_are_recorded_in_order(tmp_path):
    v = decide_claim(_plan("planted-derivation-wrong"), tmp_path)
    before = [g.gate for g in v.gates]
    v.add_gate("numerics", True, "stable")
    assert [g.gate for g in v.gates] == [*before, "numerics"] and v.to_dict()["gates"][-1]["detail"] == "stable"
