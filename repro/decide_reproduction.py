"""A reproduction claim's decision (repro.verdict, gates 1–7): its runs' errors and integrity, the negative controls
and the mechanism (repro.decide_gates), then power and the expectation's decision rule (repro.stats) on the
treatment's per-seed effects."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repro import integrity, registry, stats
from repro.bootstrap import bootstrap_mean_interval, probability_of_improvement
from repro.claims import ReproductionClaim, iter_numbers, scale_spec
from repro.decide_evidence import (
    arm_metric_intervals,
    arm_profiles,
    arm_table,
    load_run_evidence,
    open_verdict,
    run_errors,
)
from repro.decide_gates import control_gaps, mechanism_check, mechanism_gate, sensitivity_gates
from repro.plan import ClaimPlan
from repro.verdict_record import Verdict

PROB_IMPROVEMENT_SEED = 20240514
"""Fixed random state of the bootstrap behind P(improvement): verdicts are reproducible."""


def seeds_to_decide(
    relation: str, d: stats.Summary | None, margin: float, theta: float, alpha: float | None = None
) -> int | None:
    """Seeds that would move the current estimate across its nearest decision boundary (power 0.8), tested at
    ``alpha`` (default: the estimate's own α; a stricter one for a decision that must hold across a family)."""
    if d is None:
        return None
    mean = d.mean - theta
    if relation in ("greater", "less"):
        m = mean if relation == "greater" else -mean
        distances = [m] if m > 0 else []
        if m < margin:
            distances.append(margin - m)
    elif relation == "equal":
        distances = [margin - abs(mean), abs(mean) - margin]
    elif relation == "at_least":
        distances = [mean + margin, -(mean + margin)]
    else:
        distances = [margin - mean, mean - margin]
    level = d.alpha if alpha is None else alpha
    needs = [stats.seeds_needed(d.sd, dist, level) for dist in distances if dist > 0]
    needs = [n for n in needs if n is not None]
    return min(needs) if needs else None


def effect_sample(out: Verdict, claim: ReproductionClaim, exp, higher_is_better: bool) -> np.ndarray:
    """The treatment's per-seed effects as the expectation defines them (its values, or paired against the
    baseline, with P(treatment better than baseline))."""
    treatment = np.asarray(out.arms[claim.treatment].values)
    if exp.effect == "value":
        return treatment
    baseline = np.asarray(out.arms[claim.baseline].values)
    sign = 1 if higher_is_better else -1
    pi = probability_of_improvement(
        sign * treatment,
        sign * baseline,
        paired=True,
        rng=np.random.default_rng(PROB_IMPROVEMENT_SEED),
        alpha=exp.alpha,
    )
    out.prob_improvement = {"estimate": pi[0], "lo": pi[1], "hi": pi[2]}
    return stats.paired_effects(treatment, baseline, exp.effect)


def _against_pilot(pilot, summary: stats.Summary, alpha: float) -> dict:
    """The pilot the scale's seeds were sized with (its ``power`` block; none: {}), next to the decisive spread:
    the pilot's sd and seeds, the MDE the seeds were chosen for, and whether the decisive spread exceeds the pilot's
    beyond chance (a pilot that understated it leaves the seeds short of their planned power)."""
    if pilot is None:
        return {}
    out = {"pilot_sd": float(pilot.sd), "pilot_seeds": list(pilot.pilot_seeds)}
    if summary.n >= 2:
        out["planned_mde"] = stats.minimum_detectable_effect(pilot.sd, summary.n, alpha)
        out["spread_p"] = stats.spread_over_pilot(summary.sd, summary.n, pilot.sd, len(pilot.pilot_seeds))
    return out


def decide_effect(out: Verdict, claim: ReproductionClaim, exp, higher_is_better: bool) -> Verdict:
    """Gates 6 (power) and 7 (decision rule) on the treatment's per-seed effects."""
    sample = effect_sample(out, claim, exp, higher_is_better)
    out.effect_values = sample.tolist()
    summary = stats.summarize(sample, exp.alpha)
    out.effect_summary = summary
    if exp.relation in ("greater", "less"):
        decision = stats.decide_direction(summary, exp.relation, exp.margin)
    elif exp.prediction_interval_mode:
        decision = stats.decide_prediction(sample, exp.relation, exp.theta, exp.margin, exp.precision, exp.alpha)
    else:
        decision = stats.decide_value(summary, exp.relation, exp.theta, exp.margin, exp.paper_sd, exp.paper_runs)
    out.decision = decision
    mde = stats.minimum_detectable_effect(summary.sd, summary.n, exp.alpha)
    out.power = {
        "n": summary.n,
        "sd": summary.sd,
        "mde": mde,
        "margin": exp.margin,
        "detects_margin": bool(mde <= exp.margin),
        "power": 0.8,
        **_against_pilot(scale_spec(claim, out.scale).power, summary, exp.alpha),
    }
    if sample.size >= 10:
        lo, hi = bootstrap_mean_interval(sample, np.random.default_rng(PROB_IMPROVEMENT_SEED), alpha=exp.alpha)
        out.bootstrap_cross_check = {"lo": lo, "hi": hi}
    if decision.outcome == "inconclusive":
        needed = decision.extra.get("seeds_informative") if decision.mode == "prediction interval" else None
        out.seeds_needed = needed or seeds_to_decide(exp.relation, summary, exp.margin, exp.theta)
        out.add_gate("power", False, decision.mode)
        more = f"; about {out.seeds_needed} seeds would decide it (power 0.8)" if out.seeds_needed else ""
        return out.finish("inconclusive", decision.reason + more, "power")
    out.add_gate("power", True, f"MDE {mde:.4g} at power 0.8")
    out.add_gate("decision", True, decision.mode)
    return out.finish(decision.outcome, decision.reason, "decision")


def decide_reproduction(plan: ClaimPlan, root: Path) -> Verdict:
    claim: ReproductionClaim = plan.loaded.claim
    out = open_verdict(plan)
    spec = scale_spec(claim, plan.scale)
    exp = spec.expectation
    metric = registry.get_metrics(claim.experiment).METRICS[claim.metric]
    out.metric = claim.metric
    out.higher_is_better = metric.higher_is_better
    out.resolution = metric.resolution
    out.expectation = exp.model_dump()
    out.experiment = claim.experiment
    out.n_seeds_declared = spec.seeds

    evidence = load_run_evidence(plan, root)
    errors = run_errors(evidence, claim.metric)
    if not errors and claim.control_metric is not None:
        errors = run_errors(evidence, claim.control_metric)
    if not errors and claim.mechanism is not None:
        errors = run_errors(evidence, claim.mechanism.diagnostic)
    out.add_gate("error", not errors, errors[:20])
    if errors:
        return out.finish("error", f"{len(errors)} run(s) failed or are missing: {errors[0]}", "error")

    all_runs = [r for runs in evidence.values() for r in runs]
    family_module = registry.module_name(claim.experiment, "experiment")
    claimed = [(value, exp.precision) for value in iter_numbers(claim)]
    checks = integrity.check_runs(all_runs, family_module, claimed, frozenset(claim.negative_controls))
    out.integrity = [c.as_dict() for c in checks]
    out.collapsed = integrity.collapsed_runs(all_runs)
    failed = [c for c in checks if not c.passed]
    out.add_gate("integrity", not failed, [c.name for c in failed])
    out.arms = arm_table(evidence, claim, claim.metric)
    out.arm_metrics = arm_metric_intervals(evidence, exp.alpha)
    out.profiles = arm_profiles(evidence, exp.alpha)
    if failed:
        return out.finish("invalid", f"integrity check {failed[0].name} failed: {failed[0].detail}", "integrity")

    control_metric, control_values = metric, {arm: np.asarray(a.values) for arm, a in out.arms.items()}
    if claim.control_metric is not None:
        control_metric = registry.get_metrics(claim.experiment).METRICS[claim.control_metric]
        control_values = {
            arm: np.asarray(a["values"]) for arm, a in arm_table(evidence, claim, claim.control_metric).items()
        }
    out.negative_controls = control_gaps(
        control_values,
        claim.treatment,
        claim.negative_controls,
        control_metric.resolution,
        control_metric.higher_is_better,
        exp.alpha,
        claim.control_metric,
    )
    # The mechanism is recorded whichever gate decides: a treatment stopped at the inert-treatment gate still shows
    # whether its mechanism engaged (it did, and the arm did not learn; or it never engaged).
    out.mechanism = mechanism_check(evidence, claim)
    finished = sensitivity_gates(out, out.negative_controls)
    finished = finished or mechanism_gate(out, out.mechanism, claim.treatment)
    return finished or decide_effect(out, claim, exp, metric.higher_is_better)
