"""The verdict gates that need no run: negative controls against the metric's resolution (insensitive vs inert),
Holm across a paper's claims, fragility under a second numeric environment — each by hand."""

import json
import re

import numpy as np
import pytest

from repro import stats
from repro.claims_schema import Expectation
from repro.multiplicity import family_member, write_holm
from repro.verdict import Verdict, apply_multiplicity, apply_numerics, control_gaps

CONTROL = np.array([40.0, 41.0, 40.5, 39.5, 40.0])
VALUES = {
    "inert": CONTROL + np.array([0.2, -0.3, 0.1, 0.4, -0.1]),  # a treatment that stays at the control's level
    "learner": CONTROL + np.array([6.0, 5.5, 7.0, 6.5, 6.2]),  # a baseline that clearly beats it
    "noise": CONTROL + np.array([3.0, -3.0, 2.0, -2.0, 0.5]),
    "control": CONTROL,
}


def _gaps(values, treatment, resolution=1.0):
    return control_gaps(values, treatment, ["control"], resolution, True, 0.05)[0]


def test_an_arm_clears_a_control_by_more_than_the_metrics_resolution():
    g = _gaps(VALUES, "learner")
    assert g.passed and g.cleared_by == ["learner"]
    assert g.lo == pytest.approx(stats.summarize(VALUES["learner"] - CONTROL).lo)
    assert not _gaps(VALUES, "learner", resolution=7.0).passed  # resolution above the gap


def test_inert_treatment_is_told_apart_from_an_insensitive_evaluation():
    g = _gaps(VALUES, "inert")
    assert not g.passed and g.cleared_by == ["learner"]  # the evaluation can tell: the treatment is inert
    alone = {k: VALUES[k] for k in ("inert", "noise", "control")}
    assert _gaps(alone, "inert").cleared_by == []  # nothing clears the control: insensitive


def _decision(claim_id, outcome, p_verify, p_falsify, alpha=0.05, **extra) -> Verdict:
    d = None
    if p_verify is not None:
        d = {"outcome": outcome, "reason": "raw", "mode": "TOST", "estimate": 0.0, "lo": 0.0, "hi": 0.0}
        d |= {"p_verify": p_verify, "p_falsify": p_falsify, "extra": {}}
    claim = {"kind": "reproduction", "scale": "ci", "hypothesis": "h", "statement": "s", "quote": "q"}
    claim |= {"paper": "0000.00001v1", "paper_title": "t", "locator": "l"}
    return Verdict.from_dict(
        {
            **claim,
            "claim_id": claim_id,
            "verdict": outcome,
            "reason": "raw",
            "gate": "decision",
            "gates": [],
            "decision": d,
            "expectation": {"alpha": alpha},
            **extra,
        }
    )


def test_holm_turns_a_borderline_verified_into_inconclusive():
    family = [
        _decision("a", "verified", 0.02, 0.99),  # alone: verified at α = 0.05
        _decision("b", "falsified", 0.999, 0.0001),  # strong: survives
        _decision("c", "invalid", None, None),  # stopped by a gate: p = 1, still in the family
    ]
    a, b, c = (f.model_copy(deep=True) for f in family)
    apply_multiplicity(a, family)
    apply_multiplicity(b, family)
    apply_multiplicity(c, family)
    assert a.verdict == "inconclusive" and a.gate == "multiplicity"
    assert a.multiplicity.p_verify_adjusted == pytest.approx(0.06)  # 3 claims: 0.02 × 3
    assert "family-wise" in a.reason
    assert b.verdict == "falsified" and b.multiplicity.p_falsify_adjusted == pytest.approx(0.0003)
    assert c.verdict == "invalid"
    alone = family[0].model_copy(deep=True)
    apply_multiplicity(alone, [family[0]])
    assert alone.verdict == "verified"  # the same p on its own stands
    assert family[0].gates == []  # the family's decisions are read, never changed
    from_file = family[0].model_copy(deep=True)  # the family as its file gives it (rule holm_family)
    apply_multiplicity(from_file, [family_member(f.to_dict()) for f in family])
    fresh = family[0].model_copy(deep=True)
    apply_multiplicity(fresh, family)
    assert from_file.to_dict() == fresh.to_dict()


def test_a_claim_holm_made_inconclusive_reports_the_seeds_that_decide_it_at_the_family_level():
    """Falsified alone (its upper bound is under δ) but not after Holm over 9 claims: the verdict names the seeds
    at which its estimate's distance to δ is detected at α/9 with power 0.8, and no fewer would do."""
    from scipy import stats as sps

    effects = np.array([-4.0, -1.5, -6.0, -2.5])  # mean −3.5, δ = 2.5: 6 points under the boundary
    summary = stats.summarize(effects, 0.05)
    expectation = Expectation(effect="difference", relation="greater", margin=2.5).model_dump()
    claim = _decision("a", "falsified", 0.99, 0.006, effect_summary=summary.to_dict(), expectation=expectation)
    family = [claim] + [_decision(f"o{i}", "falsified", 0.99, 0.5) for i in range(8)]
    v = claim.model_copy(deep=True)
    apply_multiplicity(v, family)
    assert v.verdict == "inconclusive" and v.gate == "multiplicity"
    n, level, distance = v.seeds_needed, 0.05 / 9, 2.5 - effects.mean()

    def detects(k):
        return distance * np.sqrt(k) / summary.sd >= sps.t.ppf(1 - level, k - 1) + sps.t.ppf(0.8, k - 1)

    assert n is not None and detects(n) and not detects(n - 1)
    assert n > stats.seeds_needed(summary.sd, distance, 0.05)  # more than the claim alone would need
    assert f"about {n} seeds would decide it at α/m = 0.00556" in v.reason
    alone = claim.model_copy(deep=True)
    apply_multiplicity(alone, [claim])
    assert alone.verdict == "falsified" and alone.seeds_needed is None  # stands alone: nothing to report
    # a value claim: the distance is taken from θ (the expectation's `value`), not from 0
    values = np.array([12.0, 12.5, 11.0, 13.0])  # at least θ − δ = 9: 3.125 above the boundary
    at_least = Expectation(effect="value", relation="at_least", value=10.0, margin=1.0, source="s").model_dump()
    claim = _decision("b", "verified", 0.006, 0.99, effect_summary=stats.summarize(values, 0.05).to_dict())
    claim.expectation = at_least
    v = claim.model_copy(deep=True)
    apply_multiplicity(v, [claim, *family[1:]])
    n, distance, sd = v.seeds_needed, values.mean() - 10.0 + 1.0, values.std(ddof=1)
    assert v.verdict == "inconclusive"
    assert distance * np.sqrt(n) / sd >= sps.t.ppf(1 - level, n - 1) + sps.t.ppf(0.8, n - 1)
    assert distance * np.sqrt(n - 1) / sd < sps.t.ppf(1 - level, n - 2) + sps.t.ppf(0.8, n - 2)


def test_a_verdict_that_flips_under_other_numerics_is_fragile():
    v = _decision("a", "falsified", 0.9, 0.01, decided="falsified")
    apply_numerics(v, _decision("a", "inconclusive", 0.9, 0.01, decided="inconclusive"), "default")
    assert v.verdict == "inconclusive" and v.gate == "numerics" and v.numerics.fragile and v.fragile
    assert v.gates[-1].detail == "decided falsified here, inconclusive under default"
    stable = _decision("b", "falsified", 0.9, 0.01, decided="falsified")
    apply_numerics(stable, _decision("b", "falsified", 0.9, 0.01, decided="falsified"), "default")
    assert stable.verdict == "falsified" and not stable.numerics.fragile


def test_a_verdict_that_flips_at_the_multiplicity_gate_under_other_numerics_is_fragile():
    """The same decision in both environments, but there the paper's other claims moved and the Holm-adjusted p
    crossed α (seen at ci: a Rollout-GDRO claim falsified at adjusted p 0.036 here, inconclusive at 0.066 under
    ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE)."""
    family_here = [_decision("a", "falsified", 0.99, 0.012), _decision("b", "falsified", 0.99, 0.02)]
    family_there = [_decision("a", "falsified", 0.99, 0.03), _decision("b", "falsified", 0.99, 0.04)]
    here, there = (family_here[0].model_copy(deep=True), family_there[0].model_copy(deep=True))
    for v, family in ((here, family_here), (there, family_there)):
        v.decided = v.verdict
        apply_multiplicity(v, family)
    assert (here.verdict, there.verdict) == ("falsified", "inconclusive")

    apply_numerics(here, there, "default")
    assert here.verdict == "inconclusive" and here.gate == "numerics" and here.fragile
    assert (here.numerics.reference_decided, here.numerics.reference_verdict) == ("falsified", "inconclusive")
    assert here.numerics.verdict_here == "falsified"
    assert "decided falsified in both, but not the same after Holm" in here.reason
    same = family_here[0].model_copy(deep=True)
    same.decided = same.verdict
    apply_multiplicity(same, family_here)
    apply_numerics(same, here.model_copy(update={"verdict": "falsified"}), "default")
    assert same.verdict == "falsified" and not same.fragile


def test_claims_check_warns_when_the_seeds_cannot_detect_the_margin(tmp_path, capsys):
    import json
    import shutil

    from repro.cli import main

    from .conftest import FIXTURE_CLAIMS

    claims = tmp_path / "claims"
    shutil.copytree(FIXTURE_CLAIMS, claims)
    verdicts = tmp_path / "results/verdicts/ci"
    verdicts.mkdir(parents=True)
    power = {"n": 4, "sd": 0.05, "mde": 0.08, "margin": 0.02, "detects_margin": False, "power": 0.8}
    (verdicts / "planted-real-effect.json").write_text(json.dumps({"power": power}))
    assert main(["claims", "check", "--claims", str(claims), "--results", str(tmp_path / "results")]) == 0
    err = capsys.readouterr().err
    assert "planted-real-effect.yaml: scales.ci: 4 seeds cannot detect δ = 0.02" in err
    assert f"about {stats.seeds_needed(0.05, 0.02)} seeds would" in err
    assert "planted-stub.yaml: scales.ci: no power block, so nothing checks that 4 seeds detect δ = 0.02" in err


def test_every_ci_reproduction_claim_of_the_repo_is_sized_by_a_pilot(tmp_path, capsys):
    """The repo's own claims: each reproduction claim that runs at ci declares the pilot that sized its seeds, so
    ``repro claims check`` has held every one of them to its margin (it refuses seeds that cannot detect it)."""
    from pathlib import Path

    from repro.cli import main

    claims = Path(__file__).resolve().parents[1] / "claims"
    assert main(["claims", "check", "--claims", str(claims), "--results", str(tmp_path)]) == 0
    assert "no power block" not in capsys.readouterr().err


def test_controls_checked_on_another_metric_say_so():
    """A claim on a gap between two settings (``control_metric``): the controls are checked on the level metric
    the gap is read from, the record names it and a failing gate's reason says on which metric it failed."""
    from repro.decide_gates import _control_reason

    g = control_gaps(VALUES, "learner", ["control"], 1.0, True, 0.05, metric="generalized_accuracy")[0]
    assert g.passed and g.metric == "generalized_accuracy"
    assert g.to_dict()["metric"] == "generalized_accuracy"
    assert "metric" not in _gaps(VALUES, "learner").to_dict()  # the claim's own metric: nothing recorded
    inert = control_gaps(VALUES, "inert", ["control"], 1.0, True, 0.05, metric="generalized_accuracy")[0]
    assert "'control' on generalized_accuracy" in _control_reason("inert_treatment", inert)


def test_a_family_file_holds_what_holm_reads_and_names_a_damaged_decision(tmp_path, capsys):
    """Through the rule verbs family-pvalues and holm-family, as the workflow's jobs call them."""
    from repro.cli import dispatch

    decided = {"claim_id": "a", "verdict": "verified", "decision": {"p_verify": 0.01, "p_falsify": 0.9}}
    stopped = {"claim_id": "b", "verdict": "invalid"}
    paths = []
    for data in (decided, stopped):
        paths.append(tmp_path / f"{data['claim_id']}.json")
        paths[-1].write_text(json.dumps(data))
    out = tmp_path / "families/ci/0000.00001-pvalues.json"
    gather = ["family-pvalues", "--paper", "0000.00001", "--scale", "ci", "--out", str(out), *map(str, paths)]
    assert dispatch(gather) == 0
    assert "0000.00001 [ci]: Holm family of 2" in capsys.readouterr().err
    members = json.loads(out.read_text())["members"]
    assert members == [
        {"claim_id": "a", "p_verify": 0.01, "p_falsify": 0.9},
        {"claim_id": "b", "p_verify": None, "p_falsify": None},
    ]
    # The file the verdicts read (rule holm_family): the same members with the p-values Holm adjusts them to, which
    # are the ones a verdict of the family reports (stopped b counts as p = 1; 2 claims, Shaffer cap 2).
    family = tmp_path / "families/ci/0000.00001.json"
    assert dispatch(["holm-family", "--pvalues", str(out), "--out", str(family)]) == 0
    adjusted = json.loads(family.read_text())["members"]
    assert [{k: m[k] for k in ("claim_id", "p_verify", "p_falsify")} for m in adjusted] == members
    verdict = _decision("a", "verified", 0.01, 0.9)
    apply_multiplicity(verdict, adjusted)
    assert adjusted[0]["p_verify_adjusted"] == verdict.multiplicity.p_verify_adjusted == pytest.approx(0.02)
    assert adjusted[0]["p_falsify_adjusted"] == verdict.multiplicity.p_falsify_adjusted
    assert adjusted[1]["p_verify_adjusted"] == adjusted[1]["p_falsify_adjusted"] == 1.0
    capsys.readouterr()
    paths[0].write_text('{"claim_id": "a", "verd')
    before = out.read_bytes()
    assert dispatch(gather) == 1
    assert re.search(r"repro family-pvalues: .*a\.json: not a decision of repro decide", capsys.readouterr().err)
    assert out.read_bytes() == before  # the job failed; its output stays as it was (Snakemake removes it)
    out.write_text('{"members": [{"claim_id": "a"}]}')
    assert dispatch(["holm-family", "--pvalues", str(out), "--out", str(family)]) == 1
    error = capsys.readouterr().err
    assert re.search(r"repro holm-family: .*0000\.00001-pvalues\.json: not a family's p-values", error)
    with pytest.raises(ValueError, match=r"0000\.00001-pvalues\.json: not a family's p-values"):
        write_holm(family, out)
