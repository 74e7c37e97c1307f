"""From evidence to a verdict, through the gates of docs/design.md §5 (the first failing gate decides):

1. ``error``        a job failed, an artifact is missing, a table fails its schema (never a falsification);
2. ``invalid``      integrity: the results were not produced by a real run (repro.integrity);
3. ``invalid``      insensitive: no arm clearly beats a negative control (by more than the metric's resolution);
4. ``inconclusive`` inert treatment: another arm clears the control, the treatment does not (broken or inert at
                    this scale: no evidence about the paper);
5. ``inconclusive`` mechanism: the family's diagnostic shows the treatment's mechanism never engaged (recorded
                    also when gate 3 or 4 decides);
6. ``inconclusive`` power: the interval straddles the boundary, or a prediction interval is too wide to tell θ
                    from θ ± δ (with the seeds that would decide it);
7. the decision rule of the claim's expectation (repro.stats), then, across a paper's reproduction claims at one
   scale, Holm's adjustment (:func:`finalize`): a verdict that does not hold at family-wise α is inconclusive;
   and, when a second numeric environment was run, a verdict that differs there is fragile (inconclusive).

:func:`decide_claim` reads one claim's evidence and makes its decision; :func:`finalize_verdict` adds what needs
the other claims (multiplicity), the preregistration ledger (repro.ledger) and the second numeric environment.
Both give a :class:`~repro.verdict_record.Verdict` (a typed record); :func:`decide` and :func:`finalize` are the
same on JSON (``repro decide`` and ``repro finalize`` write it). Claims marked ``not_run`` at a scale, or needing
what is missing (a GPU), get ``not_run`` with the reason; descriptive claims no experiment can test get
``not_testable``. Every verdict carries its full decision trace. Nothing here trains or scores: it reads files
written by earlier rules.

Where each step is: the claim and its runs' evidence in repro.decide_evidence; gates 3–5 in repro.decide_gates;
a reproduction claim's decision (gates 1–7) in repro.decide_reproduction, a property's in repro.decide_property,
a derivation's and a textual claim's in repro.decide_paper; multiplicity and numerics here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro.claims import DerivationClaim, PropertyClaim, ReproductionClaim, scale_spec
from repro.decide_evidence import arm_metric_intervals, arm_profiles, load_run_evidence, open_verdict
from repro.decide_gates import control_gaps, mechanism_check
from repro.decide_paper import decide_derivation, decide_textual
from repro.decide_property import decide_property
from repro.decide_reproduction import PROB_IMPROVEMENT_SEED, decide_reproduction, seeds_to_decide
from repro.multiplicity import family_member, holm_family
from repro.paper_cache import PAPERS_DIR
from repro.plan import ClaimPlan
from repro.verdict_record import Multiplicity, Numerics, Verdict, as_verdict

__all__ = [
    "FAMILY_METHOD",
    "PROB_IMPROVEMENT_SEED",
    "Verdict",
    "apply_multiplicity",
    "apply_numerics",
    "arm_metric_intervals",
    "arm_profiles",
    "control_gaps",
    "decide",
    "decide_claim",
    "decide_derivation",
    "decide_property",
    "decide_reproduction",
    "decide_textual",
    "finalize",
    "finalize_verdict",
    "load_run_evidence",
    "mechanism_check",
]


def decide_claim(plan: ClaimPlan, root: Path, papers_dir: Path | None = None) -> Verdict:
    """The decision of one claim at one scale, with its decision trace."""
    claim = plan.loaded.claim
    if plan.not_run is not None:
        out = open_verdict(plan)
        spec = scale_spec(claim, plan.scale)
        if isinstance(claim, ReproductionClaim) and spec.expectation is not None:
            out.expectation = spec.expectation.model_dump()
            out.metric = claim.metric
        return out.finish("not_run", plan.not_run, "scale")
    if isinstance(claim, ReproductionClaim):
        return decide_reproduction(plan, root)
    if isinstance(claim, PropertyClaim):
        return decide_property(plan, root)
    if isinstance(claim, DerivationClaim):
        return decide_derivation(plan)
    return decide_textual(plan, papers_dir if papers_dir is not None else root / PAPERS_DIR)


def decide(plan: ClaimPlan, root: Path, papers_dir: Path | None = None) -> dict[str, Any]:
    """:func:`decide_claim` as its JSON (``results/decisions/<scale>/<claim>.json``)."""
    return decide_claim(plan, root, papers_dir).to_dict()


# ------------------------------------------------------------------ across claims: multiplicity, ledger, numerics

FAMILY_METHOD = "Holm step-down over both directions of every claim (Shaffer: at most one null per claim is true)"


def apply_multiplicity(verdict: Verdict, family: list[Verdict] | list[Mapping[str, Any]]) -> None:
    """Holm across a paper's reproduction claims at one scale (``family``: their decisions, this one included, or
    what Holm reads of them, :func:`repro.multiplicity.family_member`).

    Each claim contributes two one-sided p-values (verify, falsify); claims stopped by an earlier gate contribute
    p = 1 (they stay in the family: its size is fixed by the claims, not by their outcomes). A verified or
    falsified decision stands only if its adjusted p-value is at most the claim's α; otherwise it becomes
    inconclusive (gate ``multiplicity``). Raw and adjusted p-values go on the card.
    """
    members = [m if isinstance(m, Mapping) else family_member(m.to_dict()) for m in family]
    ids = [member["claim_id"] for member in members]
    i = ids.index(verdict.claim_id)
    verify_adjusted, falsify_adjusted = holm_family(members)[i]
    d = verdict.decision
    verdict.multiplicity = Multiplicity(
        method=FAMILY_METHOD,
        family=ids,
        m=len(family),
        p_verify=d.p_verify if d is not None else None,
        p_falsify=d.p_falsify if d is not None else None,
        p_verify_adjusted=verify_adjusted,
        p_falsify_adjusted=falsify_adjusted,
    )
    if verdict.verdict not in ("verified", "falsified"):
        return
    alpha = verdict.expectation["alpha"]
    verified = verdict.verdict == "verified"
    p_raw, p_adj = (d.p_verify, verify_adjusted) if verified else (d.p_falsify, falsify_adjusted)
    holds = p_adj <= alpha
    verdict.add_gate("multiplicity", holds, f"adjusted p {p_adj:.3g} (α = {alpha:g}, m = {len(ids)})")
    if not holds:
        needed, more = _seeds_at_family_level(verdict, alpha / len(ids)), ""
        if needed is not None:
            verdict.seeds_needed = needed
            more = f"; about {needed} seeds would decide it at α/m = {alpha / len(ids):.3g} (power 0.8)"
        verdict.finish(
            "inconclusive",
            (
                f"{verdict.verdict} alone (p = {p_raw:.3g}) "
                f"but not at family-wise α = {alpha:g} over the paper's {len(ids)} reproduction claims at this scale "
                f"(Holm-adjusted p = {p_adj:.3g}){more}"
            ),
            "multiplicity",
        )


def _seeds_at_family_level(verdict: Verdict, level: float) -> int | None:
    """Seeds at which a claim that Holm made inconclusive would be decided with power 0.8 whatever the other claims
    do: its estimate's distance to the nearest decision boundary, tested at the Bonferroni level α/m (Holm never
    asks a claim for more than that). None for a prediction-interval decision (its seeds come from the paper's
    run count, not from the effect's sd) or without an effect summary."""
    from repro.claims_schema import Expectation

    d = verdict.effect_summary
    if d is None or verdict.decision is None or verdict.decision.mode == "prediction interval":
        return None
    exp = Expectation.model_validate(verdict.expectation)  # the record keeps the claim's dump: θ is its `value`
    return seeds_to_decide(exp.relation, d, exp.margin, exp.theta, alpha=level)


def apply_numerics(verdict: Verdict, reference: Verdict | None, label: str) -> None:
    """A verdict that differs under a second numeric environment (e.g. ``ATEN_CPU_CAPABILITY=default
    MKL_CBWR=COMPATIBLE``) is fragile: it rests on floating-point details, not on the evidence, so it is neither
    verified nor falsified. Both levels are compared: the claim's decision (gates 1–7), and its verdict after
    multiplicity, which can differ on its own when the Holm-adjusted p-value crosses α because other claims of the
    paper moved. ``verdict``: this claim after multiplicity; ``reference``: the same claim's verdict from the workflow
    run in that environment (its ``decided`` is its decision; None: not run there)."""
    if reference is None:
        verdict.numerics = Numerics(reference=label, reference_verdict=None, fragile=False)
        return
    here = (verdict.decided or verdict.verdict, verdict.verdict)
    there = (reference.decided or reference.verdict, reference.verdict)
    fragile = here != there
    verdict.numerics = Numerics(
        reference=label, reference_verdict=there[1], reference_decided=there[0], verdict_here=here[1], fragile=fragile
    )
    if here[0] != there[0]:
        detail = f"decided {here[0]} here, {there[0]} under {label}"
    elif fragile:
        detail = (
            f"{here[1]} here, {there[1]} under {label}: decided {here[0]} in both, but not the same after Holm over "
            "the paper's claims"
        )
    else:
        detail = f"{here[1]} here and under {label}"
    verdict.add_gate("numerics", not fragile, detail)
    if fragile and verdict.verdict in ("verified", "falsified"):
        verdict.finish(
            "inconclusive",
            f"fragile: {detail} (same code, other floating-point kernels), so the verdict rests on numerics, not on "
            f"the evidence. Here: {verdict.reason}",
            "numerics",
        )


def finalize_verdict(
    decision: Verdict,
    family: list[Verdict] | list[Mapping[str, Any]],
    rule: dict | None,
    reference: Verdict | None = None,
    reference_label: str | None = None,
) -> Verdict:
    """The verdict from a claim's decision: Holm over its paper's reproduction claims at the scale (``family``, its
    members' decisions), the preregistration status of its rule (repro.ledger.RuleStatus.as_dict plus ``rule``
    and, when changed, ``diff``) and, if a second numeric environment was run, the claim's verdict there."""
    verdict = decision.model_copy(deep=True)
    verdict.decided = decision.verdict
    if verdict.kind == "reproduction" and verdict.verdict != "not_run":
        apply_multiplicity(verdict, family)
    if reference_label is not None and verdict.verdict not in ("not_run", "not_testable"):
        apply_numerics(verdict, reference, reference_label)
    verdict.rule = rule
    return verdict


def finalize(
    decision: Mapping[str, Any],
    family: list[Mapping[str, Any]],
    rule: dict | None,
    reference: Mapping[str, Any] | None = None,
    reference_label: str | None = None,
) -> dict[str, Any]:
    """:func:`finalize_verdict` on decisions as their JSON (``repro decide``'s files), the verdict as its JSON."""
    verdict = finalize_verdict(
        as_verdict(decision),
        [as_verdict(member) for member in family],
        rule,
        None if reference is None else as_verdict(reference),
        reference_label,
    )
    return verdict.to_dict()
