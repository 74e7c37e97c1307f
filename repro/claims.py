"""Claim schema and loader.

A claim is one YAML file of data under ``claims/<arxiv_id>/``; the folder also holds ``paper.yaml``.
Everything is validated here, at the boundary: unknown keys, wrong types, unknown experiments,
metrics or property checks, arm parameters the family's ``Params`` rejects, unsafe paths, YAML tags
and duplicate ids are all errors naming the file, the field and the reason. Nothing downstream
re-checks what this module guarantees.

Kinds (docs/design.md §2): ``reproduction`` (experiment arms, a metric, a comparison, negative controls,
a hypothesis and an expectation per scale), ``property`` (a mathematical or algorithmic statement
checked numerically on many instances, optionally on real runs), ``derivation`` (a reported number
recomputed from other reported numbers, within rounding) and ``textual`` (checked against the
source text; ``testable: false`` statements are labelled ``not_testable``).

This module reads the files and is what the rest of repro imports; the models are in
:mod:`repro.claims_schema`, the problems and the checks against the registries in :mod:`repro.claims_checks`
(their names are importable from here).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from repro.claims_checks import ClaimError, ClaimIssue, FileIssues, pydantic_issues, registry_issues
from repro.claims_schema import (
    ARXIV_ID,
    ARXIV_VERSIONED,
    CLAIM_MODELS,
    KINDS,
    SCALES,
    ArmName,
    ArxivVersioned,
    Claim,
    ClaimBase,
    DerivationClaim,
    Draft,
    Expectation,
    MechanismCheck,
    Model,
    Number,
    OpenQuestion,
    Paper,
    PaperRef,
    Probability,
    PropertyClaim,
    PropertyRuns,
    PropertyScale,
    PropertyScales,
    ReproductionClaim,
    ReproductionScale,
    ReproductionScales,
    Requirement,
    SafeRelPath,
    Scale,
    SeedRef,
    Slug,
    Text,
    TextualClaim,
)
from repro.yamlio import YamlError, line_of, load_mapping

__all__ = [
    "ARXIV_ID",
    "ARXIV_VERSIONED",
    "CLAIM_MODELS",
    "KINDS",
    "SCALES",
    "ArmName",
    "ArxivVersioned",
    "Claim",
    "ClaimBase",
    "ClaimError",
    "ClaimIssue",
    "ClaimSet",
    "DerivationClaim",
    "Draft",
    "Expectation",
    "LoadedClaim",
    "MechanismCheck",
    "Model",
    "Number",
    "OpenQuestion",
    "Paper",
    "PaperRef",
    "Probability",
    "PropertyClaim",
    "PropertyRuns",
    "PropertyScale",
    "PropertyScales",
    "ReproductionClaim",
    "ReproductionScale",
    "ReproductionScales",
    "Requirement",
    "SafeRelPath",
    "Scale",
    "SeedRef",
    "Slug",
    "Text",
    "TextualClaim",
    "collect_claims",
    "hypothesis",
    "iter_numbers",
    "load_claims",
    "load_paper",
    "parse_claim",
    "scale_spec",
]


@dataclass(frozen=True)
class LoadedClaim:
    claim: ReproductionClaim | PropertyClaim | DerivationClaim | TextualClaim
    path: Path
    paper: Paper
    paper_path: Path

    @property
    def id(self) -> str:
        return self.claim.id


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, which callers pass resolved (once, not once per claim file)."""
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def _read(path: Path, file: str) -> tuple[dict[str, Any], Any]:
    """The mapping in ``path`` and its YAML root node; a file that is not one plain mapping raises ClaimError."""
    try:
        return load_mapping(path)
    except YamlError as exc:
        raise ClaimError([ClaimIssue(file, exc.line, ".".join(map(str, exc.path)), exc.reason)]) from None


def load_paper(path: Path, repo_root: Path) -> Paper:
    file = _rel(path, repo_root)
    data, node = _read(path, file)
    try:
        paper = Paper.model_validate(data)
    except ValidationError as exc:
        raise ClaimError(pydantic_issues(file, node, exc, Paper)) from None
    if paper.arxiv_id != path.parent.name:
        raise ClaimError(
            [
                ClaimIssue(
                    file,
                    line_of(node, ("arxiv_id",)),
                    "arxiv_id",
                    f"{paper.arxiv_id!r} does not match its folder {path.parent.name!r}",
                )
            ]
        )
    return paper


@functools.cache
def _claim_adapter() -> TypeAdapter:
    """The validator of the claim union, built once (building it takes longer than validating a claim)."""
    return TypeAdapter(Claim)


def parse_claim(path: Path, paper: Paper, repo_root: Path):
    """Validate one claim file (schema, paper link, registry). Raises ClaimError."""
    file = _rel(path, repo_root)
    data, node = _read(path, file)
    if "kind" not in data:
        raise ClaimError([ClaimIssue(file, 1, "kind", f"missing; one of {', '.join(KINDS)}")])
    try:
        claim = _claim_adapter().validate_python(data)
    except ValidationError as exc:
        raise ClaimError(pydantic_issues(file, node, exc, CLAIM_MODELS.get(data["kind"]))) from None
    found = FileIssues(file, node)
    _link_issues(claim, path, paper, repo_root, found)
    registry_issues(claim, found)
    if found.issues:
        raise ClaimError(found.issues)
    return claim


def _link_issues(claim, path: Path, paper: Paper, repo_root: Path, found: FileIssues) -> None:
    """The claim's id is its file name, it cites a listed version of its folder's paper, its seed document exists
    and an open question's quote appears in it."""
    if claim.id != path.stem:
        found.add(("id",), f"{claim.id!r} must equal the file name stem {path.stem!r}")
    match = ARXIV_VERSIONED.match(claim.paper.arxiv)
    if match and match.group(1) != paper.arxiv_id:
        found.add(("paper", "arxiv"), f"{claim.paper.arxiv!r} is not the paper of folder {paper.arxiv_id!r}")
    elif match and match.group(2) not in paper.versions:
        found.add(("paper", "arxiv"), f"version {match.group(2)} is not listed in paper.yaml versions {paper.versions}")
    if claim.seed is not None:
        seed_path = repo_root / claim.seed.document
        if not seed_path.is_file():
            found.add(("seed", "document"), f"no such file {claim.seed.document!r} in the repository")
        elif isinstance(claim, ReproductionClaim) and claim.open_question is not None:
            seed_text = " ".join(seed_path.read_text(encoding="utf-8").split())
            if " ".join(claim.quote.split()) not in seed_text:
                found.add(("quote",), f"an open question's quote must appear verbatim in {claim.seed.document}")


@dataclass(frozen=True)
class ClaimSet:
    """The valid claims of a claims folder and the problems of the rest (see :func:`collect_claims`)."""

    claims: list[LoadedClaim]
    issues: list[ClaimIssue]

    def problems(self) -> str:
        return str(ClaimError(self.issues)) if self.issues else ""


def collect_claims(claims_dir: Path, repo_root: Path | None = None, include_drafts: bool = False) -> ClaimSet:
    """Every valid claim under ``claims_dir`` (``<arxiv_id>/paper.yaml`` + claim files) and every problem found.

    A claim with a problem, or whose id another file also uses, is left out of ``claims``: reviewer commands
    (``repro claims list``, ``show``, ``seeds``) show the rest while a user is still editing one file.
    """
    claims_dir = Path(claims_dir)
    repo_root = Path(repo_root).resolve() if repo_root is not None else claims_dir.resolve().parent
    issues: list[ClaimIssue] = []
    loaded: list[LoadedClaim] = []
    if not claims_dir.is_dir():
        return ClaimSet([], [ClaimIssue(str(claims_dir), 0, "", "claims folder does not exist")])
    for path in sorted(p for p in claims_dir.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")):
        issues.append(
            ClaimIssue(
                _rel(path, repo_root),
                0,
                "",
                f"claim files are read only inside a paper folder: move it to {claims_dir.name}/<arxiv_id>/"
                f"{path.name}, beside that paper's paper.yaml (`repro paper add <arxiv_id>` creates one)",
            )
        )
    for folder in sorted(p for p in claims_dir.iterdir() if p.is_dir()):
        if folder.name.startswith((".", "_")):
            continue
        rel = _rel(folder, repo_root)
        if not ARXIV_ID.match(folder.name):
            issues.append(ClaimIssue(rel, 0, "", "claim folders are named by arXiv id (e.g. 2405.14953)"))
            continue
        paper_path = folder / "paper.yaml"
        if not paper_path.is_file():
            issues.append(ClaimIssue(rel, 0, "", "missing paper.yaml"))
            continue
        try:
            paper = load_paper(paper_path, repo_root)
        except ClaimError as exc:
            issues.extend(exc.issues)
            continue
        for path in sorted(folder.iterdir()):
            if path.name == "paper.yaml" or path.suffix not in (".yaml", ".yml"):
                if path.is_dir():
                    issues.append(ClaimIssue(_rel(path, repo_root), 0, "", "unexpected folder inside a paper folder"))
                continue
            try:
                claim = parse_claim(path, paper, repo_root)
            except ClaimError as exc:
                issues.extend(exc.issues)
                continue
            loaded.append(LoadedClaim(claim, path, paper, paper_path))
    seen: dict[str, Path] = {}
    duplicated: set[str] = set()
    for item in loaded:
        if item.id in seen:
            duplicated.add(item.id)
            issues.append(
                ClaimIssue(
                    _rel(item.path, repo_root),
                    0,
                    "id",
                    f"duplicate id {item.id!r} (also in {_rel(seen[item.id], repo_root)})",
                )
            )
        seen.setdefault(item.id, item.path)
    valid = [item for item in loaded if item.id not in duplicated and (include_drafts or item.claim.draft is None)]
    return ClaimSet(valid, issues)


def load_claims(claims_dir: Path, repo_root: Path | None = None, include_drafts: bool = False) -> list[LoadedClaim]:
    """Load and validate every claim under ``claims_dir`` (``<arxiv_id>/paper.yaml`` + claim files).

    Collects *all* problems across files before raising :class:`ClaimError`.
    """
    found = collect_claims(claims_dir, repo_root, include_drafts)
    if found.issues:
        raise ClaimError(found.issues)
    return found.claims


def scale_spec(claim, scale: str):
    """The claim's spec for ``scale`` (None for derivations and textual claims, which are scale-free)."""
    if isinstance(claim, ReproductionClaim | PropertyClaim):
        return getattr(claim.scales, scale)
    return None


def hypothesis(claim, scale: str) -> str:
    if isinstance(claim, DerivationClaim):
        return claim.hypothesis
    if isinstance(claim, TextualClaim):
        return "The quoted statement appears in the paper's text." if claim.testable else "Not testable."
    return scale_spec(claim, scale).hypothesis


def iter_numbers(claim) -> Iterable[float]:
    """Every reported number a claim carries (used by the metric-literal integrity scan)."""
    if isinstance(claim, ReproductionClaim):
        for scale in SCALES:
            exp = getattr(claim.scales, scale).expectation
            if exp is not None and exp.value is not None:
                yield exp.value
    elif isinstance(claim, DerivationClaim):
        yield claim.reported.value
        for number in claim.inputs.values():
            yield number.value
