"""``repro seeds``: what each seed document is, where its text comes from, and what repro makes of it.

For every ``seeds/*.txt`` the report gives the document's title and research question, the claims it
lists (with its own ✓/× marks), the paper its text actually comes from (each listed claim — or, when it
lists none, its abstract — is grounded against every cached paper under ``papers/``), the repository's
claims that cite the seed (kind, relevance to the research question, verdict at a scale) and the
findings that follow from these data. Nothing is written per seed by hand: every finding is derived
from the seed's text, the claim files and the verdict table.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from repro.grounding import ground, tokenize
from repro.paper_cache import PAPERS_DIR, read_record, read_text

_CLAIM_ROW = re.compile(r"^(?P<text>.+?)\t(?P<mark>[✓×])\t(?P<confidence>[\d.]+)\s*$", re.MULTILINE)
_RQ = re.compile(r"Research [Qq]uestion[:\s]*\n?\s*(?:Research question:\s*)?(?P<rq>[^\n]+?\?)")
_EXAMINES = re.compile(r"This paper examines:\s*(?P<title>.+?)\.\s+Research question")
_ABSTRACT = re.compile(r"^(?:Abstract:\s*|📝 Abstract\s*\n+)(?P<text>[^\n]{200,})", re.MULTILINE)
_GATE = re.compile(r"Gate Verdict\s*\n\|\s*Status\s*\|\s*(?P<status>\w+)")
_GATE_REASON = re.compile(r"\|\s*Reason\s*\|\s*(?P<reason>[^|\n]+)")
_STUB = re.compile(r"hard-?coded stub|static JSON", re.IGNORECASE)
_PROBLEMS = re.compile(
    r"^Research questions and friction points[^\n]*\n(?P<body>.*?)^Innovation\s*$", re.MULTILINE | re.DOTALL
)
_COUNTS = re.compile(r"(?P<n>\d+) claims extracted; (?P<v>\d+) (?:were )?independently verified")


@dataclass
class SeedItem:
    text: str
    mark: str | None
    """The seed's own verification mark (✓ or ×), when it lists claims."""
    source: str | None = None
    """Best-matching cached paper version."""
    score: float = 0.0
    status: str = "absent"


@dataclass
class SeedReport:
    document: str
    title: str
    research_question: str | None
    problems: list[str]
    """The problems the seed says it addresses, when it states them instead of a research question."""
    examines: str | None
    counts: str | None
    gate: str | None
    gate_reason: str | None
    items: list[SeedItem] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


def _papers(papers_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """Cached version -> (title, texts)."""
    out = {}
    for meta in sorted(Path(papers_dir).glob("*/v*/metadata.json")):
        record = read_record(meta.parent.parent.name, meta.parent.name, papers_dir)
        texts = [read_text(record.arxiv_id, record.version, t.file, papers_dir) for t in record.texts]
        out[record.versioned_id] = (record.title, texts)
    return out


def _same_words(a: str, b: str) -> bool:
    """One text is the other, or a truncation of it (seed tables cut long claims)."""
    x, y = [t.stem for t in tokenize(a)], [t.stem for t in tokenize(b)]
    n = min(len(x), len(y))
    return n > 0 and x[: n - 1] == y[: n - 1]


def _title_matches(a: str, b: str) -> bool:
    x, y = {t.stem for t in tokenize(a)}, {t.stem for t in tokenize(b)}
    return len(x & y) >= 0.8 * max(len(x), len(y))


def seed_report(path: Path, claims: list, verdicts: dict[str, str], papers: dict) -> SeedReport:
    text = path.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    rq, examines, gate = _RQ.search(text), _EXAMINES.search(text), _GATE.search(text)
    reason, counts = _GATE_REASON.search(text), _COUNTS.search(text)
    problems = _PROBLEMS.search(text)
    report = SeedReport(
        document=str(path),
        title=lines[0] if lines else "",
        research_question=rq.group("rq") if rq else None,
        problems=[line.strip() for line in problems.group("body").splitlines() if line.strip()] if problems else [],
        examines=examines.group("title") if examines else None,
        counts=counts.group() if counts else None,
        gate=gate.group("status") if gate else None,
        gate_reason=reason.group("reason").strip() if reason else None,
    )
    rows = [SeedItem(m.group("text").strip(), m.group("mark")) for m in _CLAIM_ROW.finditer(text)]
    if not rows:
        rows = [SeedItem(m.group("text").strip(), None) for m in _ABSTRACT.finditer(text)]
    for item in rows:
        for ref, (_, texts) in papers.items():
            for body in texts:
                match = ground(item.text, body)
                if match.score > item.score:
                    item.source, item.score, item.status = ref, match.score, match.status
    report.items = rows
    for c in claims:
        if c.claim.seed is None or Path(c.claim.seed.document).name != path.name:
            continue
        excerpt = c.claim.seed.excerpt or ""
        marks = [i.mark for i in rows if i.mark and excerpt and _same_words(i.text, excerpt)]
        report.claims.append(
            {
                "id": c.id,
                "kind": c.claim.kind,
                "paper": c.claim.paper.arxiv,
                "paper_title": c.paper.title,
                "relevance": c.claim.seed.relevance,
                "verdict": verdicts.get(c.id),
                "seed_mark": marks[0] if marks else None,
                "draft": c.claim.draft is not None,
            }
        )
    report.findings = _findings(report, papers)
    return report


def _findings(r: SeedReport, papers: dict) -> list[str]:
    out = []
    grounded = [i for i in r.items if i.status == "grounded"]
    sources = Counter(i.source for i in grounded)
    what = "claims it lists" if any(i.mark for i in r.items) else "abstract paragraphs"
    if sources:
        ref, n = sources.most_common(1)[0]
        title = papers[ref][0]
        out.append(f"{n} of the {len(r.items)} {what} are text of arXiv {ref} ({title})")
        if not _title_matches(r.title, title):
            out.append(f"the seed's title “{r.title}” is not the title of that paper")
    elif r.items:
        out.append(f"none of the {len(r.items)} {what} is grounded in a cached paper")
    if r.examines and not _title_matches(r.title, r.examines):
        out.append(f"the seed says it examines “{r.examines}”, which is not its own title")
    if r.claims:
        relevance = Counter(c["relevance"] for c in r.claims)
        bearing = relevance["direct"] + relevance["partial"]
        marks = f"direct {relevance['direct']}, partial {relevance['partial']}, none {relevance['none']}"
        if r.research_question:
            out.append(
                f"{bearing} of the {len(r.claims)} repository claims from this seed bear on its research question "
                f"({marks})"
            )
        elif r.problems:
            out.append(
                f"the seed states no research question, only the problems it addresses: {bearing} of the "
                f"{len(r.claims)} repository claims from this seed bear on those ({marks})"
            )
        else:
            out.append(
                f"the seed states no research question: the relevance of its {len(r.claims)} repository claims "
                f"({marks}) has nothing in the seed to be judged against"
            )
        for c in r.claims:
            if c["seed_mark"] == "×" and c["verdict"] == "verified":
                out.append(f"the seed marks {c['id']} unverified (×), but repro's verdict is verified ({c['kind']})")
            if c["seed_mark"] == "✓" and c["verdict"] in ("falsified", "invalid"):
                out.append(f"the seed marks {c['id']} verified (✓), but repro's verdict is {c['verdict']}")
    else:
        out.append("no claim of this repository cites this seed yet")
    if r.gate and r.gate_reason and _STUB.search(r.gate_reason):
        out.append(
            f"the seed's gate verdict “{r.gate}” rests on a verification script that the seed itself calls a "
            "hard-coded stub: it says nothing about the paper"
        )
    return out


def seeds_report(seeds_dir: Path, claims: list, results_dir: Path, scale: str, papers_dir: Path = PAPERS_DIR):
    """The report of every ``seeds/*.txt`` over ``claims`` (repro.claims.LoadedClaim, drafts included)."""
    table = Path(results_dir) / f"verdicts-{scale}.tsv"
    verdicts = {}
    if table.is_file():
        df = pd.read_csv(table, sep="\t", keep_default_na=False)
        verdicts = dict(zip(df["claim_id"], df["verdict"], strict=True))
    papers = _papers(papers_dir)
    reports = [seed_report(p, claims, verdicts, papers) for p in sorted(Path(seeds_dir).glob("*.txt"))]
    return reports, table if table.is_file() else None


def render(reports: list[SeedReport], table: Path | None, scale: str) -> str:
    out = [f"# Seed documents ({len(reports)})", ""]
    out.append(f"Verdicts: {table} (scale {scale})" if table else f"Verdicts: none yet (no verdicts-{scale}.tsv)")
    for r in reports:
        out += ["", f"## {r.document}", f"- title: {r.title}"]
        if r.research_question:
            out.append(f"- research question: {r.research_question}")
        elif r.problems:
            problems = "; ".join(p.rstrip(".") for p in r.problems)
            out.append(f"- research question: none stated; the problems it addresses: {problems}")
        else:
            out.append("- research question: none stated")
        if r.counts:
            out.append(f"- the seed reports: {r.counts}")
        if r.gate:
            out.append(f"- the seed's gate verdict: {r.gate} — {r.gate_reason or ''}")
        if r.items:
            out += ["", "| seed text | seed mark | found in | score |", "|---|---|---|---|"]
            for i in r.items:
                short = i.text if len(i.text) <= 90 else i.text[:87] + "..."
                source = i.source if i.status != "absent" else "–"
                out.append(f"| {short} | {i.mark or '–'} | {source} | {i.score:.2f} |")
        if r.claims:
            out += ["", "| claim | kind | paper | relevance | seed mark | verdict |", "|---|---|---|---|---|---|"]
            for c in r.claims:
                name = c["id"] + (" (draft)" if c["draft"] else "")
                out.append(
                    f"| {name} | {c['kind']} | {c['paper']} | {c['relevance']} | {c['seed_mark'] or '–'} "
                    f"| {c['verdict'] or 'not decided'} |"
                )
        out += ["", "Findings:"] + [f"- {f}" for f in r.findings]
    return "\n".join(out) + "\n"
