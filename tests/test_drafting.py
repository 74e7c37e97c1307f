"""`repro claims draft` on the committed cache of the four seed papers: the headline numbers become quantitative
drafts, every draft validates, and drafts stay out of the workflow."""

from __future__ import annotations

import re
import shutil

import yaml

from repro.claims import load_claims
from repro.drafting import draft_claims, quantities, split_sentences

from .conftest import ROOT

SEED_PAPERS = ["2601.19280", "2405.14953", "2512.19554", "2104.08645"]
HEADLINES = {  # where each headline number is printed (checked below against the cached texts)
    "2601.19280": ["+13.13%", "+10.64%", "+9.20%"],  # body only (introduction, §5.1, conclusion), not the abstract
    "2405.14953": ["nearly 2%"],  # abstract
    "2512.19554": ["4.6 points"],  # abstract
    "2104.08645": [],  # the abstract reports no number
}


def _drafts(tmp_path, arxiv_id, **kw) -> list[dict]:
    files = draft_claims(arxiv_id, tmp_path / "claims", ROOT / "papers", log=lambda _: None, **kw)
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in files]


def test_headline_numbers_are_quantitative_drafts(tmp_path):
    for arxiv_id, numbers in HEADLINES.items():
        drafts = _drafts(tmp_path, arxiv_id)
        assert drafts, arxiv_id
        quantitative = [d for d in drafts if d["draft"].get("proposed_kind")]
        drafted = {n for d in quantitative for n in d["draft"]["numbers"]}
        assert set(numbers) <= drafted, (arxiv_id, drafted)
        for d in quantitative:
            assert d["kind"] == "textual" and d["draft"]["proposed_kind"] in ("reproduction", "derivation")
    loaded = load_claims(tmp_path / "claims", include_drafts=True)  # validates every draft
    assert len(loaded) > 20 and all(c.claim.draft is not None for c in loaded)
    assert load_claims(tmp_path / "claims") == []  # ... and none enters the workflow


def test_gdro_headline_numbers_are_in_the_body_not_the_abstract(tmp_path):
    abstract_only = _drafts(tmp_path, "2601.19280", body=False)
    numbers = {n for d in abstract_only for n in d["draft"].get("numbers", [])}
    assert numbers == {"+10.6%", "+10.1%"}  # the abstract's averages; +13.13% etc. are only in the body
    body = _drafts(tmp_path / "b", "2601.19280")
    sources = {d["paper"]["locator"].split(",")[0] for d in body if "+13.13%" in d["draft"].get("numbers", [])}
    assert sources == {"1 Introduction", "5.1 Main Results"}


def test_kinds_and_mentions():
    assert quantities("boosting nearly 2% extra LC win rate") == ["nearly 2%"]
    assert quantities("lifts accuracy by 4.6 points over GRPO") == ["4.6 points"]
    assert quantities("gives 5–10$\\times$ more rollouts") == ["5–10$\\times$"]
    assert quantities("a reward in $\\{-1,+1\\}$ on Qwen3-4B-Base") == []


def test_sentence_splitting_keeps_abbreviations_and_decimals():
    text = "We follow Sagawa et al. (2020), e.g. with 14.1k prompts. The gain is 4.6 points. Done here now, really."
    assert split_sentences(text) == [
        "We follow Sagawa et al. (2020), e.g. with 14.1k prompts.",
        "The gain is 4.6 points.",
        "Done here now, really.",
    ]


def test_sentences_already_quoted_by_a_claim_are_not_drafted(tmp_path):
    shutil.copytree(ROOT / "claims" / "2405.14953", tmp_path / "claims" / "2405.14953")
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    drafts = _drafts(tmp_path, "2405.14953")
    quotes = " ".join(d["quote"] for d in drafts)
    assert "nearly 2%" not in quotes  # mallowspo-lc-winrate-llama3 quotes it
    assert "Inspired by Mallows" not in quotes  # mallowspo-inspired-by-mallows quotes it


def test_claims_readme_names_drafts_as_they_are_written(tmp_path):
    files = draft_claims("2405.14953", tmp_path / "claims", ROOT / "papers", log=lambda _: None)
    readme = (ROOT / "claims" / "README.md").read_text(encoding="utf-8")
    example = re.search(r"`(draft-[\w-]+\.yaml)`: the abstract's third sentence", readme)
    assert example is not None and example.group(1) in {p.name for p in files}
