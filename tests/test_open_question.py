"""The ``open_question`` marker: a research question posed by a seed document, answered by repro's own experiment."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from repro.claims import ClaimError, load_claims
from repro.report import render_card

from .conftest import ROOT
from .test_claims import PAPER, VALID

SEED = "Title\n\nResearch question: Does training on more   items help\nthe planted model?\n"
QUOTE = 'quote: "Training beats not training."'
assert QUOTE in VALID
CLAIM = VALID.replace("id: good-claim", "id: open-planted-question").replace(
    QUOTE,
    'quote: "Does training on more items help the planted model?"\n'
    "seed: {document: seeds/q.txt, relevance: direct}\n"
    "open_question: {rests_on: [2212.08044v2], note: Operationalised on the planted family.}",
)


def _tree(tmp_path: Path, claim: str) -> Path:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "q.txt").write_text(SEED)
    folder = tmp_path / "claims" / "0000.00002"
    folder.mkdir(parents=True)
    (folder / "paper.yaml").write_text(PAPER)
    (folder / "open-planted-question.yaml").write_text(claim)
    return tmp_path / "claims"


def test_open_question_loads(tmp_path):
    (loaded,) = load_claims(_tree(tmp_path, CLAIM))
    assert loaded.claim.open_question.rests_on == ["2212.08044v2"]


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("relevance: direct", "relevance: partial", "", "relevance: direct"),
        ("seed: {document: seeds/q.txt, relevance: direct}\n", "", "", "needs seed"),
        ("help the planted model?", "help the model?", "quote", "verbatim"),
        ("rests_on: [2212.08044v2]", "rests_on: [v2-2212.08044]", "open_question.rests_on.0", "pattern"),
    ],
)
def test_malformed_open_questions_name_the_field(tmp_path, old, new, field, reason):
    assert old in CLAIM
    with pytest.raises(ClaimError) as exc:
        load_claims(_tree(tmp_path, CLAIM.replace(old, new)))
    (issue,) = exc.value.issues
    assert issue.file.endswith("open-planted-question.yaml") and issue.field == field and reason in issue.reason


def test_only_reproduction_claims_can_be_open_questions(tmp_path):
    textual = CLAIM.split("kind:")[0] + "kind: textual\n"
    with pytest.raises(ClaimError, match="open_question: unknown key"):
        load_claims(_tree(tmp_path, textual))


def test_shipped_open_questions_quote_their_seed():
    open_questions = [c for c in load_claims(ROOT / "claims") if getattr(c.claim, "open_question", None)]
    assert open_questions, "seeds 000's and 001's research questions ship as open-question claims"
    experiments = {"seeds/000_388b2f79a0c98998.txt": "dro_clip", "seeds/001_44f69d4c39dc4772.txt": "robust_xling"}
    for loaded in open_questions:
        assert loaded.claim.seed.relevance == "direct"
        assert loaded.claim.experiment == experiments[loaded.claim.seed.document]
        seed_text = " ".join((ROOT / loaded.claim.seed.document).read_text(encoding="utf-8").split())
        assert " ".join(loaded.claim.quote.split()) in seed_text
    assert {c.claim.seed.document for c in open_questions} == set(experiments)


def test_card_says_no_paper_makes_the_claim():
    verdict = {
        "verdict": "inconclusive",
        "claim_id": "q",
        "scale": "ci",
        "hypothesis": "h",
        "reason": "r",
        "kind": "reproduction",
        "statement": "s",
        "quote": "q?",
        "paper": "1911.08731v2",
        "paper_title": "t",
        "locator": "Algorithm 1",
        "seed_document": "seeds/000.txt",
        "seed_relevance": "direct",
        "open_question": {"rests_on": ["2212.08044v2"], "note": None},
    }
    card = render_card(verdict)
    assert "no paper makes this claim" in card and "arXiv:2212.08044v2" in card


def test_copying_the_repository_claims_keeps_them_valid(tmp_path):
    shutil.copytree(ROOT / "claims", tmp_path / "claims")
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    assert len(load_claims(tmp_path / "claims")) == len(load_claims(ROOT / "claims"))
