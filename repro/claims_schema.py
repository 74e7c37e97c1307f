"""The claim schema: the pydantic models of ``paper.yaml`` and of the four kinds of claim file.

The models check what one file can check on its own (types, unknown keys, patterns, safe paths, and the
consistency of a claim's own fields); :mod:`repro.claims_checks` checks a claim against the experiment and
property registries, and :mod:`repro.claims` reads the files and is what the rest of repro imports.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

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


class Power(Model):
    """The pilot behind a scale's seeds: the per-seed sd of the claim's effect, measured (``repro pilot``) on seeds
    the decisive run never uses. ``repro claims check`` refuses seeds that do not detect the expectation's margin
    at 80 % power given this sd (:func:`repro.claims_checks.power_issue`). Not part of the decision rule: the
    ledger's fingerprint covers the seeds and margin it justifies, not the pilot."""

    sd: Annotated[float, Field(gt=0.0)]
    """The per-seed sd of the claim's effect on the pilot seeds, in the effect's units."""
    pilot_seeds: list[Annotated[int, Field(ge=0)]] = Field(min_length=2)
    """The pilot's seeds: none of them a decisive seed 0 … n − 1."""


class ReproductionScale(Model):
    hypothesis: Text
    """What is tested at this scale, in words (never the paper's headline number below full)."""
    seeds: Annotated[int, Field(ge=2, le=500)] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    """Parameter overrides applied to every arm at this scale."""
    expectation: Expectation | None = None
    power: Power | None = None
    """The pilot that sized ``seeds`` (optional; checked against the margin where given)."""
    requires: list[Requirement] = Field(default_factory=list)
    not_run: Text | None = None
    """Why this scale is not run (the spec above is still written and validated)."""

    @model_validator(mode="after")
    def _complete(self) -> ReproductionScale:
        if self.not_run is None and (self.seeds is None or self.expectation is None):
            raise ValueError("a scale that runs needs seeds and expectation (or not_run: <reason>)")
        if self.power is not None and self.seeds is not None:
            shared = sorted(s for s in set(self.power.pilot_seeds) if s < self.seeds)
            if shared:
                raise ValueError(
                    f"power.pilot_seeds {shared} are decisive seeds (0 … {self.seeds - 1}): a pilot must use seeds "
                    "the decisive run never does"
                )
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
    control_metric: Text | None = None
    """The metric the negative controls are checked on, when it is not ``metric``: for a claim on a difference
    between two evaluations of one run (a gain in one setting minus the gain in another), whose value is about 0
    for an untrained model as for a trained one, the controls are checked on the level metric the gap is read
    from. Default: ``metric``."""
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
