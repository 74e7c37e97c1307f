"""`repro pilot`: a claim's per-seed spread measured on pilot seeds, in a scratch folder, never on decisive seeds."""

import json

import numpy as np
import pytest
import yaml

from repro import stats
from repro.claims_schema import Power
from repro.cli import dispatch
from repro.pilot import PilotError, parse_seeds

from .conftest import FIXTURE_CLAIMS


def _pilot(tmp_path, monkeypatch, claim="planted-real-effect", seeds="1000-1002"):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "scratch"
    code = dispatch(["pilot", claim, "--claims", str(FIXTURE_CLAIMS), "--seeds", seeds, "--out", str(out)])
    return code, out


def test_a_pilot_reports_the_effect_spread_and_the_seeds_for_the_margin(tmp_path, monkeypatch, capsys):
    code, out = _pilot(tmp_path, monkeypatch)
    assert code == 0
    report = json.loads((out / "pilot-planted-real-effect-ci.json").read_text())
    good, weak = np.array(report["values"]["good"]), np.array(report["values"]["weak"])
    assert len(good) == 3 and report["seeds"] == [1000, 1001, 1002]
    assert report["effects"] == pytest.approx((good - weak).tolist())
    sd = float(np.std(good - weak, ddof=1))
    assert report["effect_sd"] == pytest.approx(sd)
    assert report["seeds_for_margin"] == stats.seeds_needed(sd, 0.02)
    # the fixture paper's reproduction claims that run at ci: its Holm family, and the seeds that survive it
    m = report["family_size"]
    assert m == sum(
        1
        for f in FIXTURE_CLAIMS.glob("*/*.yaml")
        if f.name != "paper.yaml"
        and (c := yaml.safe_load(f.read_text()))["kind"] == "reproduction"
        and "not_run" not in c["scales"]["ci"]
        and "draft" not in c
    )
    assert m > 1 and report["seeds_for_margin_at_family_alpha"] == stats.seeds_needed(sd, 0.02, 0.05 / m)
    assert report["mde_at_declared_seeds"] == pytest.approx(stats.minimum_detectable_effect(sd, 10))
    assert report["mechanism"]["means"]["good"] > 0.05  # the planted treatment trains
    assert report["control_gaps"]["shuffled"]["passes"]
    printed = capsys.readouterr().out
    assert "effect (difference" in printed and "seeds to detect the margin" in printed
    assert f"at α/m = 0.05/{m} (Holm over the paper's {m} reproduction claims" in printed
    # the pilot as the claim's scale records it (power:), parsed by the claim schema
    line = next(x for x in printed.splitlines() if "power: {" in x)
    recorded = Power(**yaml.safe_load(line[line.index("power: {") :])["power"])
    assert recorded.sd == pytest.approx(sd, rel=1e-3) and recorded.pilot_seeds == [1000, 1001, 1002]
    # its runs live in the scratch folder: nothing under the working directory's results/
    assert not (tmp_path / "results").exists()
    assert len(list((out / "results" / "runs" / "planted" / "ci").glob("*/seed100*/run.json"))) == 9


def test_a_second_pilot_reuses_finished_runs(tmp_path, monkeypatch):
    _, out = _pilot(tmp_path, monkeypatch)
    records = sorted(out.glob("results/runs/planted/ci/*/seed1000/run.json"))
    before = [r.stat().st_mtime_ns for r in records]
    code, _ = _pilot(tmp_path, monkeypatch)
    assert code == 0
    assert [r.stat().st_mtime_ns for r in records] == before


def test_a_pilot_refuses_the_decisive_seeds(tmp_path, monkeypatch, capsys):
    code, out = _pilot(tmp_path, monkeypatch, seeds="8-11")
    assert code == 2
    err = capsys.readouterr().err
    assert "seeds [8, 9] are the decisive seeds of scales.ci (0 … 9)" in err
    assert not out.exists()


def test_a_pilot_is_for_reproduction_claims(tmp_path, monkeypatch, capsys):
    code, _ = _pilot(tmp_path, monkeypatch, claim="planted-property-true")
    assert code == 2
    assert "pilots are for reproduction claims" in capsys.readouterr().err
    code, _ = _pilot(tmp_path, monkeypatch, claim="no-such-claim")
    assert code == 2


def test_pilot_seeds_parse_ranges_and_lists():
    assert parse_seeds("1000-1002,1010") == [1000, 1001, 1002, 1010]
    with pytest.raises(PilotError, match="at least two seeds"):
        parse_seeds("1000")
    with pytest.raises(PilotError, match="backwards"):
        parse_seeds("1005-1000")
