"""Decisions on what a paper itself says, with no run (repro.verdict): a derivation claim's arithmetic, recomputed
within the rounding of its inputs, and a textual claim's quote, grounded in the cached text of the paper version it
cites (repro.grounding)."""

from __future__ import annotations

from pathlib import Path

from repro.claims import DerivationClaim, TextualClaim
from repro.decide_evidence import open_verdict
from repro.formulas import evaluate
from repro.grounding import ground_claim
from repro.paper_cache import PAPERS_DIR, CacheError
from repro.plan import ClaimPlan
from repro.verdict_record import Verdict


def decide_derivation(plan: ClaimPlan) -> Verdict:
    claim: DerivationClaim = plan.loaded.claim
    out = open_verdict(plan)
    values = {k: v.value for k, v in claim.inputs.items()}
    precisions = {k: v.precision for k, v in claim.inputs.items()}
    point = evaluate(claim.formula, values).mid
    interval = evaluate(claim.formula, values, precisions)
    reported = claim.reported
    r_lo, r_hi = reported.value - reported.precision / 2, reported.value + reported.precision / 2
    consistent = interval.lo <= r_hi and r_lo <= interval.hi
    out.derivation = {
        "formula": claim.formula,
        "inputs": {k: v.model_dump() for k, v in claim.inputs.items()},
        "computed": point,
        "computed_interval": [interval.lo, interval.hi],
        "reported": reported.model_dump(),
        "reported_interval": [r_lo, r_hi],
        "gap": 0.0 if consistent else min(abs(interval.lo - r_hi), abs(r_lo - interval.hi)),
    }
    out.add_gate("decision", True, "interval arithmetic over rounding")
    recomputed = f"{claim.formula} = {point:.6g} (∈ [{interval.lo:.6g}, {interval.hi:.6g}] given the inputs' rounding)"
    if consistent:
        return out.finish(
            "verified",
            f"{recomputed} agrees with the reported {reported.value:g} ± {reported.precision / 2:g}",
            "decision",
        )
    return out.finish(
        "falsified",
        f"{recomputed} cannot round to the reported {reported.value:g} ± {reported.precision / 2:g}",
        "decision",
    )


def decide_textual(plan: ClaimPlan, papers_dir: Path = PAPERS_DIR) -> Verdict:
    """Ground the quote in the cached text of the paper version it cites (repro.grounding)."""
    claim: TextualClaim = plan.loaded.claim
    out = open_verdict(plan)
    if not claim.testable:
        return out.finish("not_testable", claim.reason, "kind")
    ref = claim.paper.arxiv
    try:
        g = ground_claim(claim.quote, ref, papers_dir)
    except (CacheError, OSError, ValueError) as exc:
        out.add_gate("error", False, str(exc))
        return out.finish("error", f"cannot read the cached text of {ref}: {exc}", "error")
    out.grounding = g
    if not g["cached"]:
        other = f" (cached versions: {', '.join(g['cached_versions'])})" if g["cached_versions"] else ""
        reason = f"no text of {ref} is cached under {g['cache']}{other}; run `repro paper add {ref}`"
        return out.finish("not_run", reason, "cache")
    out.add_gate("decision", True, "textual grounding (repro.grounding)")
    return out.finish(*_grounding_outcome(g), "decision")


def _grounding_outcome(g: dict) -> tuple[str, str]:
    """The verdict and reason of a quote grounded in cached text: where its closest passage is, how much of the
    quote it holds, and whether the rest of the paper could still hold it."""
    where = g["file"] + f", line {g['location']['line']}"
    where += f" ({g['location']['section']})" if g["location"]["section"] else ""
    if g["numbers_absent_from_fulltext"]:
        return (
            "falsified",
            f"the paper's complete full text never contains the quote's number(s) "
            f"{', '.join(g['numbers_absent_from_fulltext'])} (closest passage: {where})",
        )
    share = f"{g['score']:.0%} of the quote's information"
    if g["status"] == "grounded":
        how = "exactly (after normalisation)" if g["exact"] else f"with {share} in one passage"
        return "verified", f"the quote is in the paper's text, {how}: {where}"
    if g["status"] == "partial":
        numbers = f"; its number(s) {', '.join(g['missing_numbers'])} are not in it" if g["missing_numbers"] else ""
        return (
            "inconclusive",
            f"only a partial match: the closest passage ({where}) holds {share} "
            f"(grounded needs {g['thresholds']['grounded']:.0%}){numbers}; compare by hand",
        )
    if g["fulltext_complete"]:
        return (
            "falsified",
            f"the quote is not in the paper's full text: the closest passage ({where}) holds only {share} "
            f"(absent below {g['thresholds']['absent']:.0%})",
        )
    cached = "only the abstract is cached" if not g["has_fulltext"] else "only excerpts of the full text are cached"
    return (
        "inconclusive",
        f"the quote is not in the cached text (closest passage holds {share}), but {cached}: "
        f"the rest of the paper may contain it",
    )
