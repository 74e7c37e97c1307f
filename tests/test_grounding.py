"""Textual grounding: thresholds on exact, paraphrased and unrelated sentences; numbers; the verdict mapping;
and every textual claim of seeds 000 and 002 against the committed paper cache (papers/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from repro.claims import load_claims
from repro.grounding import ABSENT, GROUNDED, ground, ground_claim, tokenize
from repro.plan import plan_claim
from repro.report import render_card
from repro.verdict import decide

from .conftest import ROOT

PAPERS = ROOT / "papers"
GDRO = (PAPERS / "2601.19280/v1/fulltext.txt").read_text(encoding="utf-8")
MALLOWS = (PAPERS / "2405.14953/v5/abstract.txt").read_text(encoding="utf-8")

# Seed 000's textual claims (claims/2601.19280/ is written on another branch): each must ground in our cache.
SEED_000_TEXTUAL = {  # statement -> words the matched passage must hold
    "The DAPO 14.1k English dataset is used for all training runs.": "DAPO 14.1k English dataset[^2] for all training",
    "Metrics reported include mean@8 and pass@8 for benchmark accuracies.": "We additionally report pass@8",
    "Standard instruction tuning paradigms are characterized by static uniformity: a uniform distribution over "
    "prompts and a ...": "a fixed computational budget per prompt",
    "The Multi-Adversary Framework decomposes the training process into dynamic distributional levers.": (
        "we propose a Multi-Adversary Framework that decomposes"
    ),
    "The framework includes an Adversarial Sampler (qprompt) and an Adversarial Budgeter (nrollout).": (
        "2. Adversarial Budgeter ($n_{\\text{rollout}}$)"
    ),
    "Dynamic Grouping via Online Pass@k defines groups solely through empirical interaction.": (
        "defining groups solely through empirical interaction"
    ),
}


@pytest.mark.parametrize("statement", SEED_000_TEXTUAL)
def test_seed_000_textual_statements_ground_in_the_gdro_cache(statement):
    match = ground(statement, GDRO)
    assert match.status == "grounded", (match.score, match.missing, match.passage)
    assert match.score >= GROUNDED and SEED_000_TEXTUAL[statement] in match.passage


def test_exact_quote_scores_one_and_returns_its_sentence():
    quote = "We use the DAPO 14.1k English dataset for all training runs, following a standard post-training pipeline."
    match = ground(quote, GDRO)  # the cache has a footnote marker [^2] after "dataset": not a word of the quote
    assert match.status == "grounded" and match.score == 1.0
    assert "DAPO 14.1k English dataset[^2] for all training runs" in match.passage


def test_normalisation_of_latex_unicode_and_inflection():
    assert [t.stem for t in tokenize("Adversarial Sampler ($q_{\\text{prompt}}$)")] == [
        "adversarial",
        "sampler",
        "qprompt",
    ]
    assert [t.stem for t in tokenize("Mallows’ theory")] == [t.stem for t in tokenize("Mallows' theory")]
    assert [t.stem for t in tokenize("defines groups")] == [t.stem for t in tokenize("defining group")]
    assert ground("ﬁne-tune large language models", "to fine-tune large language models").exact  # NFKC ligature


def test_paraphrase_grounds_but_unrelated_sentences_do_not():
    paraphrase = "The dispersion index of MallowsPO reflects how dispersed human preferences to prompts are."
    assert ground(paraphrase, MALLOWS).status == "grounded"
    unrelated = [
        "The model is trained on ImageNet with a ResNet-50 backbone for 90 epochs.",
        "Robust training improves zero-shot cross-lingual transfer on text classification tasks.",  # 2104.08645
        "CARE lifts macro-averaged accuracy by 4.6 points over GRPO across six visual-reasoning benchmarks.",
    ]
    for sentence in unrelated:
        for text in (GDRO, MALLOWS):
            match = ground(sentence, text)
            assert match.status == "absent" and match.score < ABSENT, (sentence, match.score)


def test_a_wrong_number_is_never_grounded():
    right = ground("Prompt-GDRO achieves a peak gain of +13.13% on the 4B model.", GDRO)
    wrong = ground("Prompt-GDRO achieves a peak gain of +20.5% on the 4B model.", GDRO)
    assert right.status == "grounded"
    assert wrong.status == "partial" and wrong.missing_numbers == ["20.5"]


def test_elided_quote_grounds_each_fragment():
    quote = "Direct Preference Optimization (DPO) has recently emerged ... boosting nearly 2% extra LC win rate"
    match = ground(quote, MALLOWS)
    assert match.status == "grounded" and len(match.fragments) == 2 and " … " in match.passage
    assert ground("DPO has recently emerged ... boosting nearly 7% extra LC win rate", MALLOWS).status == "partial"


# ------------------------------------------------------------------ verdicts


def _textual_claims(claims_dir: Path) -> dict:
    return {c.id: c for c in load_claims(claims_dir) if c.claim.kind == "textual"}


def test_every_seed_002_textual_claim_is_verified_with_its_passage():
    claims = _textual_claims(ROOT / "claims")
    seed_002 = [c for c in claims.values() if c.claim.seed and c.claim.seed.document.startswith("seeds/002_")]
    assert len(seed_002) == 6
    for loaded in seed_002:
        verdict = decide(plan_claim(loaded, "ci"), ROOT, PAPERS)
        assert verdict["verdict"] == "verified", (loaded.id, verdict["reason"])
        g = verdict["grounding"]
        assert g["passage"] and g["file"] == "abstract.txt" and g["score"] >= GROUNDED
        card = render_card(verdict)
        assert "## Grounding" in card and g["passage"] in card and "not that what it says is true" in card


def _claims_dir(tmp_path: Path, quote: str, arxiv: str = "2601.19280v1", **extra) -> Path:
    folder = tmp_path / "claims" / arxiv[:10]
    folder.mkdir(parents=True)
    (folder / "paper.yaml").write_text(
        f'arxiv_id: "{arxiv[:10]}"\nversions: [{arxiv[10:]}]\ntitle: T\nauthors: [A]\n', encoding="utf-8"
    )
    lines = [
        f"id: probe\npaper: {{arxiv: {arxiv}, locator: x}}\nstatement: s\nquote: {json.dumps(quote)}\nkind: textual"
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    (folder / "probe.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path / "claims"


def _verdict(tmp_path: Path, papers: Path, quote: str, **kw) -> dict:
    loaded = load_claims(_claims_dir(tmp_path, quote, **kw))[0]
    return decide(plan_claim(loaded, "ci"), tmp_path, papers)


def _copy_cache(tmp_path: Path, complete: bool) -> Path:
    papers = tmp_path / "papers"
    shutil.copytree(PAPERS / "2601.19280", papers / "2601.19280")
    meta = papers / "2601.19280/v1/metadata.json"
    data = json.loads(meta.read_text())
    data["texts"][1]["complete"] = complete
    meta.write_text(json.dumps(data))
    return papers


def test_not_found_in_complete_full_text_is_falsified(tmp_path):
    papers = _copy_cache(tmp_path, complete=True)
    v = _verdict(tmp_path, papers, "The model is trained on ImageNet with a ResNet-50 backbone for 90 epochs.")
    assert v["verdict"] == "falsified" and "full text" in v["reason"]


def test_not_found_in_excerpts_or_abstract_is_inconclusive(tmp_path):
    papers = _copy_cache(tmp_path, complete=False)
    v = _verdict(tmp_path, papers, "The model is trained on ImageNet with a ResNet-50 backbone for 90 epochs.")
    assert v["verdict"] == "inconclusive" and "only excerpts of the full text are cached" in v["reason"]
    (papers / "2601.19280/v1/fulltext.txt").unlink()
    meta = papers / "2601.19280/v1/metadata.json"
    data = json.loads(meta.read_text())
    data["texts"] = data["texts"][:1]
    meta.write_text(json.dumps(data))
    v = _verdict(tmp_path / "b", papers, "The model is trained on ImageNet with a ResNet-50 backbone for 90 epochs.")
    assert v["verdict"] == "inconclusive" and "only the abstract is cached" in v["reason"]


def test_partial_match_is_inconclusive_and_names_the_number(tmp_path):
    papers = _copy_cache(tmp_path, complete=False)
    v = _verdict(tmp_path, papers, "Prompt-GDRO achieves a peak gain of +20.5% on the 4B model.")
    assert v["verdict"] == "inconclusive" and "20.5" in v["reason"]
    assert v["grounding"]["numbers_absent_from_fulltext"] == []  # an excerpt cannot show a number is absent


def test_an_invented_number_is_falsified_when_the_full_text_is_complete(tmp_path):
    """The words are the paper's (a near match), the number is not: nowhere in the complete text -> falsified."""
    papers = _copy_cache(tmp_path, complete=True)
    v = _verdict(tmp_path, papers, "Prompt-GDRO achieves a peak gain of +20.5% on the 4B model.")
    assert v["verdict"] == "falsified", v["reason"]
    assert "never contains the quote's number(s) 20.5" in v["reason"]
    assert v["grounding"]["numbers_absent_from_fulltext"] == ["20.5"]


def test_no_cached_text_is_not_run_and_untestable_is_not_testable(tmp_path):
    v = _verdict(tmp_path, tmp_path / "papers", "Anything at all.")
    assert v["verdict"] == "not_run" and "repro paper add 2601.19280v1" in v["reason"]
    papers = _copy_cache(tmp_path / "x", complete=False)
    v = _verdict(tmp_path / "y", papers, "Anything.", arxiv="2601.19280v2")
    assert v["verdict"] == "not_run" and "cached versions: v1" in v["reason"]
    v = _verdict(tmp_path / "z", papers, "Anything.", testable="false", reason="opinion")
    assert v["verdict"] == "not_testable"


def test_unreadable_cache_is_an_error_not_a_falsification(tmp_path):
    papers = _copy_cache(tmp_path, complete=True)
    (papers / "2601.19280/v1/metadata.json").write_text("{not json")
    v = _verdict(tmp_path, papers, "We use the DAPO 14.1k English dataset for all training runs.")
    assert v["verdict"] == "error" and "metadata.json" in v["reason"]


def test_ground_claim_records_the_texts_searched_and_their_hashes():
    g = ground_claim("the DAPO 14.1k English dataset", "2601.19280v1", PAPERS)
    assert [t["file"] for t in g["searched"]] == ["abstract.txt", "fulltext.txt"]
    assert all(len(t["sha256"]) == 64 for t in g["searched"])
    assert g["location"]["section"] == "5 Experiments" and g["fulltext_complete"] is False


def test_committed_cache_is_valid_and_says_where_it_came_from():
    from repro.paper_cache import cached_versions, read_record

    found = {}
    for folder in sorted(p for p in PAPERS.iterdir() if p.is_dir()):
        for version in cached_versions(folder.name, PAPERS):
            record = read_record(folder.name, version, PAPERS)
            assert (PAPERS / folder.name / version / "SOURCE.md").is_file()
            assert all(t.source.startswith(("https://", "arXiv API")) for t in record.texts)
            found[record.versioned_id] = [t.kind for t in record.texts]
    assert found == {
        "2104.08645v2": ["abstract"],
        "2405.14953v5": ["abstract"],
        "2512.19554v1": ["abstract"],
        "2601.19280v1": ["abstract", "fulltext"],
    }
