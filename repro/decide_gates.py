"""The gates a reproduction claim's evidence passes before its decision rule (repro.verdict, gates 3–5): negative
controls against the metric's resolution (insensitive evaluation, inert treatment) and the treatment's mechanism."""

from __future__ import annotations

from typing import Any

import numpy as np

from repro import integrity, stats
from repro.claims import ReproductionClaim
from repro.verdict_record import ControlGap, Verdict


def control_gaps(
    values: dict[str, np.ndarray],
    treatment: str,
    controls: list[str],
    resolution: float,
    higher_is_better: bool,
    alpha: float,
    metric: str | None = None,
) -> list[ControlGap]:
    """The negative-control gates, one entry per control (anchors.md §3.4; docs/design.md §5, gates 3 and 4).

    values: per arm, (n,) metric values in seed order (seeds pair across arms). For each control the gap of every
    non-control arm over it, Δ = arm − control (sign-flipped when lower is better), must have its lower bound above
    the metric's ``resolution`` (the smallest difference its evaluation can honestly resolve) to *clear* it. The
    resolution belongs to the metric, not to the claim, so an absurd claimed effect does not make a sensitive
    evaluation look insensitive. Entry: the treatment's gap (``passed``: the treatment clears the control) and
    ``cleared_by``: every arm that clears it. ``metric``: the claim's ``control_metric`` when the values are not the
    claim's own metric's (recorded in each entry).
    """
    gaps = []
    for control in controls:
        entry: dict[str, Any] = {"control": control, "resolution": resolution, "cleared_by": [], "others": {}}
        if metric is not None:
            entry["metric"] = metric
        for arm in [treatment, *sorted(set(values) - {treatment, *controls})]:
            gap = stats.control_gap(
                values[arm], values[control], "difference", resolution, higher_is_better, alpha, control
            )
            if gap.passed:
                entry["cleared_by"].append(arm)
            if arm == treatment:
                entry.update(passed=gap.passed, **gap.summary.to_dict())
            else:
                entry["others"][arm] = {"passed": gap.passed, "mean": gap.summary.mean, "lo": gap.summary.lo}
        gaps.append(ControlGap.from_dict(entry))
    return gaps


def mechanism_check(evidence: dict[str, list[integrity.RunEvidence]], claim: ReproductionClaim) -> dict | None:
    """Did the treatment's mechanism engage? The claim's diagnostic, averaged over the treatment's seeds, against
    its preregistered threshold (gate 5). None when the claim declares no mechanism check."""
    mech = claim.mechanism
    if mech is None:
        return None
    runs = sorted(evidence[claim.treatment], key=lambda r: r.spec.seed)
    values = [r.metrics[mech.diagnostic] for r in runs]
    mean = float(np.mean(values))
    engaged = mean >= mech.threshold if mech.relation == "at_least" else mean <= mech.threshold
    per_arm = {arm: float(np.mean([r.metrics[mech.diagnostic] for r in rs])) for arm, rs in evidence.items()}
    return {**mech.model_dump(), "values": values, "mean": mean, "engaged": engaged, "per_arm": per_arm}


def sensitivity_gates(out: Verdict, gaps: list[ControlGap]) -> Verdict | None:
    """Gates 3 (insensitive → invalid) and 4 (inert treatment → inconclusive); the finished verdict, or None."""
    for gate, failing, verdict in (
        ("sensitivity", [g for g in gaps if not g.cleared_by], "invalid"),
        ("inert_treatment", [g for g in gaps if not g.passed], "inconclusive"),
    ):
        out.add_gate(gate, not failing, [g.control for g in failing])
        if failing:
            return out.finish(verdict, _control_reason(gate, failing[0]), gate)
    return None


def _control_reason(gate: str, g: ControlGap) -> str:
    on = f" on {g.metric}" if g.metric else ""
    if gate == "sensitivity":
        return (
            f"insensitive evaluation: no arm is clearly better than the negative control {g.control!r}{on} "
            f"(treatment's gap {g.mean:.4g}, lower bound {g.lo:.4g} ≤ the metric's resolution {g.resolution:g})"
        )
    return (
        f"treatment did not clear the negative control {g.control!r}{on}: inert or broken at this scale "
        f"(gap {g.mean:.4g}, lower bound {g.lo:.4g} ≤ resolution {g.resolution:g}; "
        f"{', '.join(g.cleared_by)} clear(s) it, so the evaluation can tell)"
    )


def mechanism_gate(out: Verdict, mech: dict | None, treatment: str) -> Verdict | None:
    """Gate 5 (mechanism never engaged → inconclusive); the finished verdict, or None. ``mech``: the check
    :func:`mechanism_check` gives, which the caller records in the verdict before the earlier gates run."""
    if mech is None:
        return None
    word = "≥" if mech["relation"] == "at_least" else "≤"
    detail = f"{mech['diagnostic']} = {mech['mean']:.4g} (needs {word} {mech['threshold']:g})"
    out.add_gate("mechanism", mech["engaged"], detail)
    if mech["engaged"]:
        return None
    return out.finish(
        "inconclusive",
        f"mechanism did not engage at this scale: the treatment {treatment!r} has {detail}",
        "mechanism",
    )
