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
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from repro.yamlio import YamlError, line_of, load_yaml

SCALES: tuple[str, ...] = ("ci", "reduced", "full")
Scale = Literal["ci", "reduced", "full"]

ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}$")
ARXIV_VERSIONED = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)$")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _safe_relpath(value: str) -> str:
    """A path relative to the repository root that cannot leave it."""
    if "\\" in value or "\x00" in value or value.startswith("~"):
        raise ValueError("must be a plain relative POSIX path")
    path = PurePosixPath(value)
    if path.is_absolute():
        raise ValueError("must be relative to the repository root, not absolute")
    if any(part == ".." for part in path.parts):
        raise ValueError("must not contain '..' (path traversal)")
    if not path.parts or path.parts == (".",):
        raise ValueError("must name a file")
    return value


Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{2,79}$")]
ArmName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
SafeRelPath = Annotated[str, StringConstraints(min_length=1), AfterValidator(_safe_relpath)]
ArxivVersioned = Annotated[str, StringConstraints(pattern=ARXIV_VERSIONED.pattern)]
Probability = Annotated[float, Field(gt=0.0, lt=0.5)]


# ---------------------------------------------------------------- paper.yaml


class Paper(Model):
    arxiv_id: Annotated[str, StringConstraints(pattern=ARXIV_ID.pattern)]
    versions: list[Annotated[str, StringConstraints(pattern=r"^v\d+$")]] = Field(min_length=1)
    title: Text
    authors: list[Text] = Field(min_length=1)
    venue: Text | None = None
    code: Text | None = None
    notes: Text | None = None


# ---------------------------------------------------------------- shared parts


class PaperRef(Model):
    arxiv: ArxivVersioned
    """arXiv id with version, e.g. ``2405.14953v5``: the version the quote was read in."""
    locator: Text
    """Where in the paper: "Abstract", "Table 1, Qwen3-4B-Base, pass@8", ..."""


class SeedRef(Model):
    """The seed document a claim was extracted from (kept apart from the paper on purpose)."""

    document: SafeRelPath
    relevance: Literal["direct", "partial", "none"]
    """Does the claim bear on the seed document's own research question?"""
    excerpt: Text | None = None
    """The claim as the seed document words it (often truncated or paraphrased)."""
    note: Text | None = None


class Expectation(Model):
    """The pre-declared decision rule for one scale (reference/anchors.md §3)."""

    effect: Literal["difference", "relative", "value"]
    """difference: treatment − baseline per seed; relative: 100·(treatment/baseline − 1) per seed (%);
    value: the treatment's own metric."""
    relation: Literal["greater", "less", "equal", "at_least", "at_most"]
    """greater/less: a direction claim (θ = 0); equal: TOST equivalence to θ; at_least/at_most:
    non-inferiority to θ."""
    value: float | None = None
    """θ, the claimed effect or value (required for equal/at_least/at_most)."""
    margin: Annotated[float, Field(gt=0.0)]
    """δ in effect units: the smallest effect of interest / the equivalence margin, declared before running."""
    precision: Annotated[float, Field(ge=0.0)] = 0.0
    """u, the rounding unit of θ as reported (widens prediction intervals by u/2)."""
    paper_runs: Annotated[int, Field(ge=1)] | None = None
    """Runs behind θ in the paper; 1 selects prediction-interval mode."""
    paper_sd: Annotated[float, Field(ge=0.0)] | None = None
    """The paper's reported spread of θ across its runs, if any."""
    alpha: Probability = 0.05
    source: Text | None = None
    """Where θ comes from (quote or locator); required when θ is the paper's number."""

    @model_validator(mode="after")
    def _consistent(self) -> Expectation:
        if self.relation in ("greater", "less"):
            if self.effect == "value":
                raise ValueError("a direction (greater/less) needs effect difference or relative")
            if self.value not in (None, 0.0):
                raise ValueError("direction claims compare with 0; use at_least/at_most for a minimum effect")
            if self.paper_runs is not None or self.paper_sd is not None:
                raise ValueError("paper_runs/paper_sd only apply to equal/at_least/at_most")
        elif self.value is None:
            raise ValueError(f"relation {self.relation!r} needs a value (θ)")
        if self.paper_sd is not None and (self.paper_runs is None or self.paper_runs < 2):
            raise ValueError("paper_sd needs paper_runs >= 2")
        return self

    @property
    def theta(self) -> float:
        return 0.0 if self.value is None else self.value

    @property
    def prediction_interval_mode(self) -> bool:
        return self.paper_runs == 1


Requirement = Literal["gpu", "hub", "network", "external_judge"]


class ReproductionScale(Model):
    hypothesis: Text
    """What is tested at this scale, in words (never the paper's headline number below full)."""
    seeds: Annotated[int, Field(ge=2, le=500)] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    """Parameter overrides applied to every arm at this scale."""
    expectation: Expectation | None = None
    requires: list[Requirement] = Field(default_factory=list)
    not_run: Text | None = None
    """Why this scale is not run (the spec above is still written and validated)."""

    @model_validator(mode="after")
    def _complete(self) -> ReproductionScale:
        if self.not_run is None and (self.seeds is None or self.expectation is None):
            raise ValueError("a scale that runs needs seeds and expectation (or not_run: <reason>)")
        return self


class ReproductionScales(Model):
    ci: ReproductionScale
    reduced: ReproductionScale
    full: ReproductionScale


class PropertyScale(Model):
    hypothesis: Text
    instances: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    tolerance: Annotated[float, Field(ge=0.0)] | None = None
    """Largest |lhs − rhs| accepted on an instance (absolute, in the check's units)."""
    params: dict[str, Any] = Field(default_factory=dict)
    seeds: Annotated[int, Field(ge=1, le=500)] | None = None
    """Runs per arm to check, for properties of real runs."""
    requires: list[Requirement] = Field(default_factory=list)
    not_run: Text | None = None

    @model_validator(mode="after")
    def _complete(self) -> PropertyScale:
        if self.not_run is None and (self.instances is None or self.tolerance is None):
            raise ValueError("a scale that runs needs instances and tolerance (or not_run: <reason>)")
        return self


class PropertyScales(Model):
    ci: PropertyScale
    reduced: PropertyScale
    full: PropertyScale


class PropertyRuns(Model):
    """Real runs whose artifacts the property is checked on."""

    experiment: Text
    arms: dict[ArmName, dict[str, Any]] = Field(min_length=1)


class Number(Model):
    value: float
    precision: Annotated[float, Field(gt=0.0)]
    """Rounding unit as printed in the source (45.95 -> 0.01)."""
    source: Text


class Draft(Model):
    """Drafted claims are validated but kept out of the DAG until a person removes this block."""

    drafted_by: Text
    note: Text | None = None
    proposed_kind: Literal["reproduction", "derivation"] | None = None
    """Set on quantitative sentences (drafted as textual): the kind a person should turn the draft into."""
    numbers: list[Text] = Field(default_factory=list)
    """The quantities the sentence reports, as printed ("+13.13%", "nearly 2%", "4.6 points")."""
    mentions: list[Text] = Field(default_factory=list)
    """Models, datasets, methods and baselines the sentence names."""


class ClaimBase(Model):
    id: Slug
    paper: PaperRef
    seed: SeedRef | None = None
    statement: Text
    quote: Text
    notes: Text | None = None
    draft: Draft | None = None


class OpenQuestion(Model):
    """Marks a reproduction claim as an open research question that a seed document poses and no paper claims:
    repro answers it with its own experiment. ``paper`` is then the work the question rests on (not a source
    of the claim), ``quote`` quotes the question from the seed document (checked verbatim), and ``seed`` must
    have ``relevance: direct``."""

    rests_on: list[ArxivVersioned] = Field(default_factory=list)
    """Further works the question rests on besides ``paper`` (arXiv ids with version)."""
    note: Text | None = None


class MechanismCheck(Model):
    """Evidence that the treatment's mechanism engaged at this scale (docs/design.md §5, gate 5): a mechanism
    diagnostic of the family (e.g. how far the adversary's weights moved from uniform), averaged over the
    treatment arm's seeds, must clear ``threshold``. If it does not, the comparison says nothing about the
    method and the verdict is ``inconclusive``."""

    diagnostic: Text
    """A metric of the family marked ``mechanism=True`` (a trusted metric computed from the run's curve)."""
    relation: Literal["at_least", "at_most"]
    threshold: float
    source: Text
    """Why this threshold shows the mechanism engaged (what the value means), declared before running."""


class ReproductionClaim(ClaimBase):
    kind: Literal["reproduction"]
    open_question: OpenQuestion | None = None
    experiment: Text
    metric: Text
    arms: dict[ArmName, dict[str, Any]] = Field(min_length=2)
    treatment: ArmName
    baseline: ArmName | None = None
    negative_controls: list[ArmName] = Field(min_length=1)
    mechanism: MechanismCheck | None = None
    """Required when the family declares mechanism diagnostics: what shows the treatment's mechanism engaged."""
    scales: ReproductionScales

    @model_validator(mode="after")
    def _arms(self) -> ReproductionClaim:
        named = [self.treatment, *([self.baseline] if self.baseline else []), *self.negative_controls]
        for name in named:
            if name not in self.arms:
                raise ValueError(f"arm {name!r} is not defined under arms ({', '.join(self.arms)})")
        if self.treatment in self.negative_controls:
            raise ValueError("the treatment arm cannot also be a negative control")
        if self.baseline is not None and self.baseline in self.negative_controls:
            raise ValueError("the baseline arm cannot also be a negative control")
        if len(set(self.negative_controls)) != len(self.negative_controls):
            raise ValueError("negative_controls lists an arm twice")
        for scale in SCALES:
            exp = getattr(self.scales, scale).expectation
            if exp is not None and exp.effect != "value" and self.baseline is None:
                raise ValueError(f"scales.{scale}: effect {exp.effect!r} needs a baseline arm")
        if self.open_question is not None and (self.seed is None or self.seed.relevance != "direct"):
            raise ValueError("an open question is posed by its seed document: it needs seed with relevance: direct")
        return self


class PropertyClaim(ClaimBase):
    kind: Literal["property"]
    check: Text
    runs: PropertyRuns | None = None
    scales: PropertyScales


class DerivationClaim(ClaimBase):
    kind: Literal["derivation"]
    inputs: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")], Number] = Field(min_length=1)
    formula: Text
    """Arithmetic over the input names: + - * / ** and mean(...), sum(...), min(...), max(...)."""
    reported: Number
    hypothesis: Text = "The reported number equals the formula applied to the reported inputs, within rounding."


class TextualClaim(ClaimBase):
    kind: Literal["textual"]
    testable: bool = True
    reason: Text | None = None
    """Why nothing can test it (required when testable is false)."""

    @model_validator(mode="after")
    def _reason(self) -> TextualClaim:
        if not self.testable and self.reason is None:
            raise ValueError("testable: false needs a reason")
        return self


Claim = Annotated[ReproductionClaim | PropertyClaim | DerivationClaim | TextualClaim, Field(discriminator="kind")]
KINDS: tuple[str, ...] = ("reproduction", "property", "derivation", "textual")
CLAIM_MODELS: dict[str, type[BaseModel]] = {
    "reproduction": ReproductionClaim,
    "property": PropertyClaim,
    "derivation": DerivationClaim,
    "textual": TextualClaim,
}


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class ClaimIssue:
    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '<file>'}: {self.reason}"


class ClaimError(ValueError):
    """One or more claim files are invalid. ``issues`` lists every problem found."""

    def __init__(self, issues: list[ClaimIssue]):
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{len(issues)} problem(s) in claim files:\n{lines}")


@dataclass(frozen=True)
class LoadedClaim:
    claim: ReproductionClaim | PropertyClaim | DerivationClaim | TextualClaim
    path: Path
    paper: Paper
    paper_path: Path

    @property
    def id(self) -> str:
        return self.claim.id


def _pydantic_issues(
    file: str, root, exc: ValidationError, model: type[BaseModel] | None, prefix: tuple = ()
) -> list[ClaimIssue]:
    """One issue per pydantic error; ``model``, the model validated at ``prefix`` (None: an unknown claim kind),
    gives the valid keys where a key is unknown."""
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # Drop the discriminator tag pydantic inserts for tagged unions.
        if loc and loc[0] in KINDS:
            loc = loc[1:]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = _unknown_key(str(loc[-1]), _keys_at(model, loc[:-1]))
        elif "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], dict):
            msg = f"{msg} (got {err['input']!r})"
        full = tuple(prefix) + loc
        issues.append(ClaimIssue(file, line_of(root, full), ".".join(str(p) for p in full), msg))
    return issues


def _unknown_key(key: str, known: list[str]) -> str:
    if not known:
        return "unknown key (not part of the schema)"
    close = difflib.get_close_matches(key, known, n=1)
    hint = f": did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (valid here: {', '.join(sorted(known))})"


def _keys_at(model: type[BaseModel] | None, path: tuple) -> list[str]:
    """The field names of the pydantic model found at ``path`` inside ``model`` (through optional fields, mappings
    and lists); empty when the path leads to no model."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            current = info.annotation if info is not None else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return []
    current = _unwrap(current)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _unwrap(annotation: Any) -> Any:
    """``X`` from ``Annotated[X, ...]`` and ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def load_paper(path: Path, repo_root: Path) -> Paper:
    file = _rel(path, repo_root)
    try:
        data, node = load_yaml(path)
    except YamlError as exc:
        raise ClaimError([ClaimIssue(file, exc.line, ".".join(map(str, exc.path)), exc.reason)]) from None
    except OSError as exc:
        raise ClaimError([ClaimIssue(file, 0, "", f"cannot read: {exc.strerror}")]) from None
    if not isinstance(data, dict):
        raise ClaimError([ClaimIssue(file, 1, "", "expected a mapping at the top level")])
    try:
        paper = Paper.model_validate(data)
    except ValidationError as exc:
        raise ClaimError(_pydantic_issues(file, node, exc, Paper)) from None
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


def parse_claim(path: Path, paper: Paper, repo_root: Path):
    """Validate one claim file (schema, paper link, registry). Raises ClaimError."""
    from pydantic import TypeAdapter

    file = _rel(path, repo_root)
    try:
        data, node = load_yaml(path)
    except YamlError as exc:
        raise ClaimError([ClaimIssue(file, exc.line, ".".join(map(str, exc.path)), exc.reason)]) from None
    except OSError as exc:
        raise ClaimError([ClaimIssue(file, 0, "", f"cannot read: {exc.strerror}")]) from None
    if not isinstance(data, dict):
        raise ClaimError([ClaimIssue(file, 1, "", "expected a mapping at the top level")])
    if "kind" not in data:
        raise ClaimError([ClaimIssue(file, 1, "kind", f"missing; one of {', '.join(KINDS)}")])
    try:
        claim = TypeAdapter(Claim).validate_python(data)
    except ValidationError as exc:
        raise ClaimError(_pydantic_issues(file, node, exc, CLAIM_MODELS.get(data["kind"]))) from None

    issues: list[ClaimIssue] = []

    def issue(loc: tuple, reason: str) -> None:
        issues.append(ClaimIssue(file, line_of(node, loc), ".".join(map(str, loc)), reason))

    if claim.id != path.stem:
        issue(("id",), f"{claim.id!r} must equal the file name stem {path.stem!r}")
    match = ARXIV_VERSIONED.match(claim.paper.arxiv)
    if match and match.group(1) != paper.arxiv_id:
        issue(("paper", "arxiv"), f"{claim.paper.arxiv!r} is not the paper of folder {paper.arxiv_id!r}")
    elif match and match.group(2) not in paper.versions:
        issue(("paper", "arxiv"), f"version {match.group(2)} is not listed in paper.yaml versions {paper.versions}")
    if claim.seed is not None:
        seed_path = repo_root / claim.seed.document
        if not seed_path.is_file():
            issue(("seed", "document"), f"no such file {claim.seed.document!r} in the repository")
        elif isinstance(claim, ReproductionClaim) and claim.open_question is not None:
            seed_text = " ".join(seed_path.read_text(encoding="utf-8").split())
            if " ".join(claim.quote.split()) not in seed_text:
                issue(("quote",), f"an open question's quote must appear verbatim in {claim.seed.document}")
    issues.extend(_registry_issues(claim, file, node))
    if issues:
        raise ClaimError(issues)
    return claim


def _registry_issues(claim, file: str, node) -> list[ClaimIssue]:
    """Checks that need the experiment / property registries."""
    from repro import registry

    issues: list[ClaimIssue] = []

    def issue(loc: tuple, reason: str) -> None:
        issues.append(ClaimIssue(file, line_of(node, loc), ".".join(map(str, loc)), reason))

    if isinstance(claim, ReproductionClaim):
        try:
            family = registry.get_experiment(claim.experiment)
        except registry.RegistryError as exc:
            issue(("experiment",), str(exc))
            return issues
        metrics = registry.get_metrics(claim.experiment).METRICS
        diagnostics = registry.mechanism_diagnostics(claim.experiment)
        if claim.mechanism is None and diagnostics:
            issue(
                ("mechanism",),
                f"experiment {claim.experiment} declares mechanism diagnostics ({', '.join(diagnostics)}): "
                "name the one that shows the treatment's mechanism engaged, with relation, threshold and source",
            )
        elif claim.mechanism is not None and claim.mechanism.diagnostic not in diagnostics:
            known = ", ".join(diagnostics) if diagnostics else "none"
            issue(
                ("mechanism", "diagnostic"),
                f"{claim.mechanism.diagnostic!r} is not a mechanism diagnostic of {claim.experiment} (has: {known})",
            )
        if claim.metric not in metrics:
            issue(("metric",), f"{claim.metric!r} is not a metric of {claim.experiment} (has: {', '.join(metrics)})")
        param_issues = []
        for scale in SCALES:
            spec = getattr(claim.scales, scale)
            if spec.not_run is None and not registry.is_runnable(family):
                issue(
                    ("scales", scale, "not_run"),
                    f"experiment {claim.experiment} cannot run ({family.NOT_IMPLEMENTED}); "
                    "mark this scale not_run with a reason",
                )
            for arm, arm_params in claim.arms.items():
                param_issues += _params_issues(
                    family.Params,
                    {**family.SCALES[scale], **arm_params, **spec.params},
                    file,
                    node,
                    ("arms", arm),
                    scale,
                )
        issues.extend(_merge_scales(param_issues))
    elif isinstance(claim, PropertyClaim):
        try:
            check = registry.get_property(claim.check)
        except registry.RegistryError as exc:
            issue(("check",), str(exc))
            return issues
        if check.needs_runs and claim.runs is None:
            issue(("runs",), f"property check {claim.check} is checked on real runs; declare runs:")
        if not check.needs_runs and claim.runs is not None:
            issue(("runs",), f"property check {claim.check} does not take runs")
        if claim.runs is not None:
            try:
                family = registry.get_experiment(claim.runs.experiment)
            except registry.RegistryError as exc:
                issue(("runs", "experiment"), str(exc))
                return issues
        param_issues = []
        for scale in SCALES:
            spec = getattr(claim.scales, scale)
            if spec.not_run is not None:
                continue
            param_issues += _params_issues(check.params, spec.params, file, node, ("scales", scale, "params"), scale)
            if claim.runs is not None:
                if spec.seeds is None:
                    issue(("scales", scale, "seeds"), "a property of runs needs seeds at every scale that runs")
                for arm, arm_params in claim.runs.arms.items():
                    param_issues += _params_issues(
                        family.Params,
                        {**family.SCALES[scale], **arm_params},
                        file,
                        node,
                        ("runs", "arms", arm),
                        scale,
                    )
        issues.extend(_merge_scales(param_issues))
    elif isinstance(claim, DerivationClaim):
        from repro.formulas import FormulaError, parse_formula

        try:
            names = parse_formula(claim.formula)
        except FormulaError as exc:
            issue(("formula",), str(exc))
        else:
            unknown = sorted(names - set(claim.inputs))
            if unknown:
                issue(("formula",), f"uses names not in inputs: {', '.join(unknown)}")
            unused = sorted(set(claim.inputs) - names)
            if unused:
                issue(("inputs",), f"inputs not used by the formula: {', '.join(unused)}")
    return issues


def _params_issues(model, params: dict, file: str, node, loc: tuple, scale: str) -> list[tuple[ClaimIssue, str]]:
    """Problems of ``params`` resolved at ``scale`` against the family's ``Params`` (``model``), each with its scale."""
    try:
        model.model_validate(params)
    except ValidationError as exc:
        return [(issue, scale) for issue in _pydantic_issues(file, node, exc, model, prefix=loc)]
    return []


def _merge_scales(found: list[tuple[ClaimIssue, str]]) -> list[ClaimIssue]:
    """One issue per problem, naming every scale it appears at (an arm's own mistake shows at all three)."""
    scales: dict[ClaimIssue, list[str]] = {}
    for issue, scale in found:
        scales.setdefault(issue, []).append(scale)
    return [
        replace(issue, reason=f"{issue.reason} [resolved at scale{'s' if len(at) > 1 else ''} {', '.join(at)}]")
        for issue, at in scales.items()
    ]


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
    repo_root = Path(repo_root) if repo_root is not None else claims_dir.resolve().parent
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
