"""`repro seeds`: findings derived from the seed texts, the claim files and the verdict table."""

from __future__ import annotations

import re

import pandas as pd

from repro.claims import load_claims
from repro.cli import main
from repro.seed_documents import seeds_report

from .conftest import ROOT


def _by_name(reports):
    return {r.document.split("/")[-1][:3]: r for r in reports}


def test_seed_sources_and_findings_are_derived(tmp_path):
    table = pd.DataFrame({"claim_id": ["mallowspo-generalization"], "verdict": ["verified"]})
    table.to_csv(tmp_path / "verdicts-ci.tsv", sep="\t", index=False)
    claims = load_claims(ROOT / "claims", include_drafts=True)
    reports, used = seeds_report(ROOT / "seeds", claims, tmp_path, "ci", ROOT / "papers")
    assert used == tmp_path / "verdicts-ci.tsv"
    r = _by_name(reports)
    # seed 000: every claim it lists is GDRO text; its title and research question are about something else
    assert {i.source for i in r["000"].items} == {"2601.19280v1"}
    assert all(i.status == "grounded" for i in r["000"].items)
    assert any("is not the title of that paper" in f for f in r["000"].findings)
    # seed 001: Huang et al.'s abstract under another title; its "Falsified" gate rested on a stub
    assert r["001"].items[0].source == "2104.08645v2"
    assert any("hard-coded stub" in f for f in r["001"].findings)
    # seed 002: MallowsPO's abstract; none of its claims bear on the research question
    assert any(f.startswith("0 of the 9 repository claims") for f in r["002"].findings)
    assert any(
        "marks mallowspo-generalization unverified (×), but repro's verdict is verified" in f for f in r["002"].findings
    )
    assert not any("hard-coded stub" in f for f in r["002"].findings)
    # seed 003: CARE's abstract; it asks no research question, and every claim taken from it bears directly on the
    # problems it states instead
    assert r["003"].items[0].source == "2512.19554v1"
    n = sum(c.claim.seed is not None and c.claim.seed.document.endswith("003_eabf7bbdfbdc8702.txt") for c in claims)
    assert n >= 10
    assert r["003"].research_question is None and len(r["003"].problems) == 3
    assert any(
        f.startswith("the seed states no research question") and f"{n} of the {n} repository claims" in f
        for f in r["003"].findings
    )
    assert not any(f.endswith("bear on its research question") for f in r["003"].findings)


def test_cli_seeds_prints_every_seed(tmp_path, capsys):
    assert (
        main(
            [
                "seeds",
                "--results",
                str(tmp_path),
                "--papers",
                str(ROOT / "papers"),
                "--claims",
                str(ROOT / "claims"),
                "--seeds",
                str(ROOT / "seeds"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("\n## ") == 4 and "000_388b2f79a0c98998.txt" in out and "no verdicts-ci.tsv" in out


def test_cli_seeds_in_a_terminal_renders_the_markdown(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    args = ["--claims", str(ROOT / "claims"), "--seeds", str(ROOT / "seeds"), "--papers", str(ROOT / "papers")]
    assert main(["seeds", "--results", str(tmp_path), *args]) == 0
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert "Seed documents (4)" in out and "# Seed documents" not in out  # a heading, not its markdown
    assert "000_388b2f79a0c98998.txt" in out and "| claim |" not in out and "─" in out  # tables drawn, not piped
