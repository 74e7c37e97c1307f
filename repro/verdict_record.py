"""The verdict as a typed record: what ``repro decide`` writes (results/decisions/), what ``repro finalize`` writes
(results/verdicts/) and what the cards, the plot, the summary table, the HTML report and MLflow read.

Its JSON is the record's :meth:`Record.to_dict`, read back with :meth:`Record.from_dict`: a field is written when
it was set, ``None`` included, and left out when it never was (a decision stopped at the error gate has no ``arms``,
one whose power gate passed and that Holm left standing has no ``seeds_needed``), so a file read and written again
is the same file. Records are strict: a value is kept as given (an ``int`` stays an ``int``, never becomes ``1.0``),
an unknown field is refused, and an assignment is checked as construction is.

Blocks whose shape another module owns stay dicts: the claim's expectation, mechanism and open question (as the
claim schema dumps them), the grounding (repro.grounding), the rule's ledger status (repro.ledger via ``repro
finalize``), the provenance (``repro decide``), review profiles and per-arm metric intervals (the family's metrics).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from repro.schemas import VERDICTS

Number = int | float
"""A number as computed: an ``int`` stays an ``int`` (a t-interval over 5 seeds has df 4), a float a float."""


class Record(BaseModel):
    """A part of a verdict: strict types, no unknown fields, assignments validated."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True, serialize_by_alias=True)

    def to_dict(self) -> dict[str, Any]:
        """As the JSON files hold it: every field that was set (``None`` included), none that never was."""
        return self.model_dump(exclude_unset=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls.model_validate(data)

    @classmethod
    def of(cls, *values: Any) -> Self:
        """From every field's value in the order the fields are declared (as a dataclass is built)."""
        return cls.model_validate(dict(zip(cls.model_fields, values, strict=True)))


class Gate(Record):
    """One row of the decision trace, in the order the gates ran."""

    gate: str
    passed: bool
    detail: str | list[str]


class Bounds(Record):
    lo: float
    hi: float


class Estimate(Bounds):
    """A point estimate with its interval (P(improvement) with its bootstrap interval)."""

    estimate: float


class Summary(Record):
    """Mean of a sample with its Student-t interval (repro.stats.summarize, repro.stats.welch).

    ``lo``/``hi`` are the (1 − 2α) two-sided bounds, i.e. one-sided (1 − α) bounds.
    """

    n: int
    mean: float
    sd: float
    se: float
    df: Number
    lo: float
    hi: float
    alpha: float


class Decision(Record):
    """The expectation's decision rule on the per-seed effects (repro.stats.decide_direction, decide_value,
    decide_prediction)."""

    outcome: str
    """verified, falsified or inconclusive"""
    reason: str
    mode: str
    estimate: float
    lo: float
    hi: float
    p_verify: float
    p_falsify: float
    extra: dict[str, Any]


class Power(Record):
    n: int
    sd: float
    mde: float
    margin: float
    detects_margin: bool
    power: float
    pilot_sd: float | None = None
    """The per-seed sd of the effect that the scale's pilot measured (its ``power`` block), when it records one."""
    pilot_seeds: list[int] | None = None
    planned_mde: float | None = None
    """The minimum detectable effect the seeds were chosen for: at the pilot's sd, n seeds, α and 80 % power."""
    spread_p: float | None = None
    """One-sided F-test p that the decisive spread exceeds the pilot's by chance (repro.stats.spread_over_pilot)."""


class Arm(Record):
    """One arm's values of the claim's metric over its seeds (in seed order)."""

    role: str
    params_key: str
    run_dir: str
    seeds: list[int]
    values: list[float]
    n: int
    mean: float
    sd: float
    min: float
    median: float
    max: float
    all_metrics_mean: dict[str, float]


class ControlGap(Summary):
    """The treatment's gap over one negative control (gates 3 and 4) and every arm that clears the control."""

    control: str
    metric: str | None = None
    """The claim's ``control_metric``, when the gap is not on the claim's own metric (absent otherwise)."""
    resolution: float
    cleared_by: list[str]
    others: dict[str, dict[str, Any]]
    passed: bool


class IntegrityCheck(Record):
    """``repro.integrity.Check``."""

    name: str
    passed: bool
    detail: str


class PropertyResult(Record):
    instances: int
    controls: int
    max_abs_err: float
    worst_instance: dict[str, bool | float]
    violations: int
    control_min_abs_err: float | None


class Derivation(Record):
    """A derivation claim's formula recomputed with interval arithmetic over the inputs' rounding."""

    formula: str
    inputs: dict[str, dict[str, Any]]
    computed: Number
    computed_interval: list[Number]
    reported: dict[str, Any]
    reported_interval: list[Number]
    gap: Number


class Multiplicity(Record):
    """Holm across the paper's reproduction claims at the scale (``repro.verdict.apply_multiplicity``)."""

    method: str
    family: list[str]
    m: int
    p_verify: float | None
    p_falsify: float | None
    p_verify_adjusted: float
    p_falsify_adjusted: float


class Numerics(Record):
    """The same claim under a second numeric environment (``repro.verdict.apply_numerics``): its decision there
    (``reference_decided``) and its verdict there after multiplicity (``reference_verdict``), against this claim's
    verdict after multiplicity here (``verdict_here``). Records written before verdicts were compared hold the
    decision there in ``reference_verdict`` and neither of the other two."""

    reference: str
    reference_verdict: str | None
    fragile: bool
    reference_decided: str | None = None
    verdict_here: str | None = None


class ClaimFile(Record):
    path: str
    sha256: str


class Verdict(Record):
    """A claim's decision (``repro decide``) or verdict (``repro finalize``) at one scale, with its trace.

    The claim's fields come first, set for every claim; ``verdict``, ``reason`` and ``gate`` are set by the gate
    that decided; the rest is set by the kind's decision (and left out of the JSON where it was not reached).
    """

    # the claim, as stated
    claim_id: str
    kind: Literal["reproduction", "property", "derivation", "textual"]
    scale: str
    hypothesis: str
    statement: str
    quote: str
    paper: str
    paper_title: str
    locator: str
    seed_document: str | None = None
    seed_relevance: str | None = None
    seed_note: str | None = None
    open_question: dict[str, Any] | None = None
    notes: str | None = None
    # the outcome: the gate that decided, and every gate that ran
    verdict: Literal[VERDICTS]
    reason: str
    gate: str | None = None
    gates: list[Gate] = []
    decided: str | None = None
    """The decision's verdict, before multiplicity and numerics (set by finalize)."""
    # reproduction
    metric: str | None = None
    higher_is_better: bool | None = None
    resolution: float | None = None
    expectation: dict[str, Any] | None = None
    experiment: str | None = None
    n_seeds_declared: int | None = None
    integrity: list[IntegrityCheck] | None = None
    collapsed: list[dict[str, Any]] | None = None
    arms: dict[str, Arm] | None = None
    arm_metrics: dict[str, dict[str, Any]] | None = None
    profiles: dict[str, Any] | None = None
    negative_controls: list[ControlGap] | None = None
    mechanism: dict[str, Any] | None = None
    prob_improvement: Estimate | None = None
    effect_values: list[float] | None = None
    effect_summary: Summary | None = None
    decision: Decision | None = None
    power: Power | None = None
    bootstrap_cross_check: Bounds | None = None
    seeds_needed: int | None = None
    # property
    check: str | None = None
    tolerance: float | None = None
    instances_declared: int | None = None
    equation: str | None = None
    property_result: PropertyResult | None = Field(default=None, alias="property")
    # derivation, textual
    derivation: Derivation | None = None
    grounding: dict[str, Any] | None = None
    # across claims (finalize) and the files it came from (the CLI)
    multiplicity: Multiplicity | None = None
    numerics: Numerics | None = None
    rule: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    claim_file: ClaimFile | None = None

    @classmethod
    def draft(cls, **fields: Any) -> Self:
        """A verdict being decided: ``fields`` now (each validated), ``verdict``, ``reason`` and ``gate`` when a gate
        decides (:meth:`finish`)."""
        out = cls.model_construct()
        for name, value in fields.items():
            setattr(out, name, value)
        return out

    def finish(self, verdict: str, reason: str, gate: str) -> Self:
        self.verdict, self.reason, self.gate = verdict, reason, gate
        return self

    def add_gate(self, gate: str, passed: bool, detail: str | list[str]) -> None:
        self.gates = [*self.gates, Gate(gate=gate, passed=passed, detail=detail)]

    @property
    def rule_changed(self) -> bool:
        """The decision rule differs from the registered rule its evidence was produced under (repro.ledger)."""
        return self.rule is not None and self.rule.get("state") == "changed_after_evidence"

    @property
    def fragile(self) -> bool:
        """The verdict differs under a second numeric environment."""
        return self.numerics is not None and self.numerics.fragile

    @property
    def grounded_text(self) -> dict[str, Any] | None:
        """The grounding, when the paper's text was cached (a textual claim's verdict rests on it)."""
        return self.grounding if self.grounding is not None and self.grounding.get("cached") else None


def as_verdict(v: Verdict | Mapping[str, Any]) -> Verdict:
    """A verdict as a record, from itself or from its JSON (a dict as ``repro.files.read_json`` returns it)."""
    return v if isinstance(v, Verdict) else Verdict.from_dict(v)
