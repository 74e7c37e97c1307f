"""From evidence to a verdict, through the gates of DESIGN.md §5 (the first failing gate decides):

1. ``error``     a job failed, an artifact is missing, a table fails its schema (never a falsification);
2. ``invalid``   integrity: the results were not produced by a real run (repro.integrity);
3. ``invalid``   insensitive: a negative control is not clearly worse than the treatment;
4. ``inconclusive`` too little evidence (with the seeds that would decide it);
5. the decision rule of the claim's expectation (repro.stats).

Claims marked ``not_run`` at a scale, or needing what is missing (a GPU), get ``not_run`` with the
reason; descriptive claims no experiment can test get ``not_testable``. Every verdict carries its
full decision trace. Nothing here trains or scores: it reads files written by earlier rules.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repro import integrity, registry, stats
from repro.claims import (
    DerivationClaim,
    PropertyClaim,
    ReproductionClaim,
    TextualClaim,
    hypothesis,
    iter_numbers,
    scale_spec,
)
from repro.files import read_json
from repro.formulas import evaluate
from repro.grounding import ground_claim
from repro.metrics import METRICS
from repro.paper_cache import PAPERS_DIR, CacheError
from repro.plan import ClaimPlan
from repro.schemas import PropertyInstances, RunMetrics, TableError, validate

PROB_IMPROVEMENT_SEED = 20240514
"""Fixed random state of the bootstrap behind P(improvement): verdicts are reproducible."""


def _base(plan: ClaimPlan) -> dict[str, Any]:
    claim = plan.loaded.claim
    return {
        "claim_id": claim.id,
        "kind": claim.kind,
        "scale": plan.scale,
        "hypothesis": hypothesis(claim, plan.scale),
        "statement": claim.statement,
        "quote": claim.quote,
        "paper": claim.paper.arxiv,
        "paper_title": plan.loaded.paper.title,
        "locator": claim.paper.locator,
        "seed_document": claim.seed.document if claim.seed else None,
        "seed_relevance": claim.seed.relevance if claim.seed else None,
        "seed_note": claim.seed.note if claim.seed else None,
        "open_question": (
            claim.open_question.model_dump()
            if isinstance(claim, ReproductionClaim) and claim.open_question is not None
            else None
        ),
        "notes": claim.notes,
        "gates": [],
    }


def _finish(out: dict, verdict: str, reason: str, gate: str) -> dict:
    out.update(verdict=verdict, reason=reason, gate=gate)
    return out


# ------------------------------------------------------------------ evidence


def load_run_evidence(plan: ClaimPlan, root: Path) -> dict[str, list[integrity.RunEvidence]]:
    evidence: dict[str, list[integrity.RunEvidence]] = {}
    for arm, runs in plan.arms.items():
        for run in runs:
            run_json = root / run.run_json
            status_json = root / run.dir / "metrics.json"
            metrics_file = root / run.metrics
            record = read_json(run_json) if run_json.is_file() else None
            status = read_json(status_json) if status_json.is_file() else None
            metrics = None
            if status is not None and status["status"] == "ok":
                try:
                    table = validate(RunMetrics, pd.read_parquet(metrics_file), "metrics")
                except (OSError, TableError) as exc:  # a metrics file that fails its contract is an error
                    status = {"status": "failed", "error": f"{metrics_file}: {exc}"}
                else:
                    metrics = dict(zip(table["metric"], table["value"].astype(float), strict=True))
            evidence.setdefault(arm, []).append(integrity.RunEvidence(arm, run, record, metrics, status))
    return evidence


def _run_errors(evidence: dict[str, list[integrity.RunEvidence]], metric: str | None) -> list[str]:
    errors = []
    for runs in evidence.values():
        for r in runs:
            where = f"{r.arm}/seed{r.spec.seed} ({r.spec.dir})"
            if r.record is None:
                errors.append(f"{where}: run.json is missing")
            elif r.record.get("status") != "completed":
                last = (r.record.get("error") or "").strip().splitlines()
                errors.append(f"{where}: run failed: {last[-1] if last else 'no error text'}")
            elif r.metrics_status is None:
                errors.append(f"{where}: metrics.json is missing")
            elif r.metrics_status["status"] != "ok":
                errors.append(f"{where}: metrics failed: {r.metrics_status['error'].strip().splitlines()[-1]}")
            elif metric is not None and metric not in r.metrics:
                errors.append(f"{where}: metric {metric!r} was not computed")
    return errors


# ------------------------------------------------------------------ reproduction


def _arm_table(evidence, claim: ReproductionClaim, metric: str) -> dict[str, dict]:
    roles = {claim.treatment: "treatment"}
    if claim.baseline:
        roles[claim.baseline] = "baseline"
    roles.update({name: "negative control" for name in claim.negative_controls})
    table = {}
    for arm, runs in evidence.items():
        values = [r.metrics[metric] for r in sorted(runs, key=lambda r: r.spec.seed)]
        x = np.asarray(values)
        table[arm] = {
            "role": roles.get(arm, "reported"),
            "params_key": runs[0].spec.arm_key,
            "run_dir": str(runs[0].spec.dir.parent),
            "seeds": [r.spec.seed for r in sorted(runs, key=lambda r: r.spec.seed)],
            "values": values,
            "n": len(values),
            "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "min": float(x.min()),
            "median": float(np.median(x)),
            "max": float(x.max()),
            "all_metrics_mean": {m: float(np.mean([r.metrics[m] for r in runs])) for m in runs[0].metrics},
        }
    return table


def _interval(values: list[float], alpha: float) -> dict:
    """Mean with its Student-t interval over seeds ((1 − 2α) two-sided; none for a single seed)."""
    if len(values) < 2:
        return {"n": len(values), "mean": float(np.mean(values)), "lo": None, "hi": None}
    summary = stats.summarize(np.asarray(values), alpha)
    return {"n": summary.n, "mean": summary.mean, "lo": summary.lo, "hi": summary.hi}


def arm_metric_intervals(evidence: dict[str, list[integrity.RunEvidence]], alpha: float) -> dict[str, dict]:
    """Every metric the family computes, per arm: mean and t-interval over seeds (for review on the card)."""
    out: dict[str, dict] = {}
    for arm, runs in evidence.items():
        for name in runs[0].metrics:
            out.setdefault(name, {})[arm] = _interval([r.metrics[name] for r in runs], alpha)
    return out


def arm_profiles(evidence: dict[str, list[integrity.RunEvidence]], alpha: float) -> dict[str, dict]:
    """The family's review profiles (repro.metrics.PROFILES), averaged per arm over seeds at each (panel, x).

    Returns {profile: {"x_label", "y_label", "panels": {panel: {arm: {"x", "mean", "lo", "hi"}}}}}.
    """
    from repro.metrics import PROFILES

    out: dict[str, dict] = {}
    for arm, runs in evidence.items():
        for name in runs[0].metrics_status["profiles"]:
            frames = [pd.DataFrame(r.metrics_status["profiles"][name]) for r in runs]
            table = pd.concat(frames, ignore_index=True)
            entry = out.setdefault(
                name, {"x_label": PROFILES[name].x_label, "y_label": PROFILES[name].y_label, "panels": {}}
            )
            for panel, rows in table.groupby("panel", sort=True):
                points = [(float(x), _interval(group["y"].tolist(), alpha)) for x, group in rows.groupby("x")]
                entry["panels"].setdefault(str(panel), {})[arm] = {
                    "x": [x for x, _ in points],
                    "mean": [p["mean"] for _, p in points],
                    "lo": [p["lo"] for _, p in points],
                    "hi": [p["hi"] for _, p in points],
                }
    return out


def _seeds_needed(relation: str, d: stats.Summary | None, margin: float, theta: float) -> int | None:
    """Seeds that would move the current estimate across its nearest decision boundary (power 0.8)."""
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
    needs = [stats.seeds_needed(d.sd, dist, d.alpha) for dist in distances if dist > 0]
    needs = [n for n in needs if n is not None]
    return min(needs) if needs else None


def sensitivity_gaps(
    values: dict[str, np.ndarray],
    treatment: str,
    controls: list[str],
    effect: str,
    margin: float,
    higher_is_better: bool,
    alpha: float,
    any_arm: bool = False,
) -> list[dict]:
    """The negative-control gate, one entry per control: the treatment's gap over it (anchors.md §3.4).

    values: per arm, (n,) metric values in seed order. With ``any_arm`` (a claim's ``sensitivity: any_arm``), a
    control the treatment does not clear still passes when another non-control arm clears it: the evaluation
    can then tell trained from control policies, so a treatment that stays at the control's level is judged by
    the decision rule (e.g. falsified) instead of being read as an insensitive evaluation. The entry then names
    that arm (``passed_by``) and its gap (``reference``).
    """
    gaps = []
    for control in controls:
        gap = stats.control_gap(values[treatment], values[control], effect, margin, higher_is_better, alpha, control)
        entry = {"control": control, "passed": gap.passed, **gap.summary.as_dict()}
        if any_arm and not gap.passed:
            for arm in sorted(set(values) - {treatment, *controls}):
                ref = stats.control_gap(values[arm], values[control], effect, margin, higher_is_better, alpha, control)
                if ref.passed:
                    entry.update(passed=True, passed_by=arm, reference=ref.summary.as_dict())
                    break
        gaps.append(entry)
    return gaps


def decide_reproduction(plan: ClaimPlan, root: Path) -> dict:
    claim: ReproductionClaim = plan.loaded.claim
    out = _base(plan)
    spec = scale_spec(claim, plan.scale)
    exp = spec.expectation
    metric = METRICS[claim.metric]
    out.update(
        metric=claim.metric,
        higher_is_better=metric.higher_is_better,
        expectation=exp.model_dump(),
        experiment=claim.experiment,
        n_seeds_declared=spec.seeds,
    )

    evidence = load_run_evidence(plan, root)
    errors = _run_errors(evidence, claim.metric)
    out["gates"].append({"gate": "error", "passed": not errors, "detail": errors[:20]})
    if errors:
        return _finish(out, "error", f"{len(errors)} run(s) failed or are missing: {errors[0]}", "error")

    all_runs = [r for runs in evidence.values() for r in runs]
    family_module = registry.EXPERIMENTS[claim.experiment]
    precision = exp.precision
    claimed = [(value, precision) for value in iter_numbers(claim)]
    checks = integrity.check_runs(all_runs, family_module, claimed, frozenset(claim.negative_controls))
    out["integrity"] = [c.as_dict() for c in checks]
    failed = [c for c in checks if not c.passed]
    out["gates"].append({"gate": "integrity", "passed": not failed, "detail": [c.name for c in failed]})
    arms = _arm_table(evidence, claim, claim.metric)
    out["arms"] = arms
    out["arm_metrics"] = arm_metric_intervals(evidence, exp.alpha)
    out["profiles"] = arm_profiles(evidence, exp.alpha)
    if failed:
        return _finish(out, "invalid", f"integrity check {failed[0].name} failed: {failed[0].detail}", "integrity")

    treatment = np.asarray(arms[claim.treatment]["values"])
    gap_effect = "relative" if exp.effect == "relative" else "difference"
    gaps = sensitivity_gaps(
        {arm: np.asarray(a["values"]) for arm, a in arms.items()},
        claim.treatment,
        claim.negative_controls,
        gap_effect,
        exp.margin,
        metric.higher_is_better,
        exp.alpha,
        any_arm=claim.sensitivity == "any_arm",
    )
    out["negative_controls"] = gaps
    insensitive = [g for g in gaps if not g["passed"]]
    out["gates"].append(
        {"gate": "sensitivity", "passed": not insensitive, "detail": [g["control"] for g in insensitive]}
    )
    if insensitive:
        g = insensitive[0]
        return _finish(
            out,
            "invalid",
            (
                f"insensitive evaluation: the negative control {g['control']!r} is not clearly worse than the "
                "treatment "
                f"(gap {g['mean']:.4g}, lower bound {g['lo']:.4g} ≤ δ = {exp.margin:g})"
            ),
            "sensitivity",
        )

    if exp.effect == "value":
        sample = treatment
    else:
        sample = stats.paired_effects(treatment, np.asarray(arms[claim.baseline]["values"]), exp.effect)
        pi = stats.probability_of_improvement(
            treatment if metric.higher_is_better else -treatment,
            np.asarray(arms[claim.baseline]["values"]) * (1 if metric.higher_is_better else -1),
            paired=True,
            rng=np.random.default_rng(PROB_IMPROVEMENT_SEED),
            alpha=exp.alpha,
        )
        out["prob_improvement"] = {"estimate": pi[0], "lo": pi[1], "hi": pi[2]}
    out["effect_values"] = sample.tolist()
    summary = stats.summarize(sample, exp.alpha)
    out["effect_summary"] = summary.as_dict()
    if exp.relation in ("greater", "less"):
        decision = stats.decide_direction(summary, exp.relation, exp.margin)
    elif exp.prediction_interval_mode:
        decision = stats.decide_prediction(sample, exp.relation, exp.theta, exp.margin, exp.precision, exp.alpha)
    else:
        decision = stats.decide_value(summary, exp.relation, exp.theta, exp.margin, exp.paper_sd, exp.paper_runs)
    out["decision"] = decision.as_dict()
    if sample.size >= 10:
        lo, hi = stats.bootstrap_mean_interval(sample, np.random.default_rng(PROB_IMPROVEMENT_SEED), alpha=exp.alpha)
        out["bootstrap_cross_check"] = {"lo": lo, "hi": hi}
    out["gates"].append({"gate": "decision", "passed": True, "detail": decision.mode})
    if decision.outcome == "inconclusive":
        out["seeds_needed"] = _seeds_needed(exp.relation, summary, exp.margin, exp.theta)
        needed = out["seeds_needed"]
        more = f"; about {needed} seeds would decide it (power 0.8)" if needed else ""
        return _finish(out, "inconclusive", decision.reason + more, "decision")
    return _finish(out, decision.outcome, decision.reason, "decision")


# ------------------------------------------------------------------ property


def decide_property(plan: ClaimPlan, root: Path) -> dict:
    claim: PropertyClaim = plan.loaded.claim
    spec = scale_spec(claim, plan.scale)
    out = _base(plan)
    out.update(check=claim.check, tolerance=spec.tolerance, instances_declared=spec.instances)
    check = registry.get_property(claim.check)
    out["equation"] = check.equation
    errors = []
    if plan.arms:
        evidence = load_run_evidence(plan, root)
        errors = _run_errors(evidence, None)
    table_path = root / plan.property_table
    status_path = table_path.with_suffix(".json")
    if not errors:
        if not status_path.is_file():
            errors.append(f"{plan.property_table.with_suffix('.json')} is missing")
        elif (status := read_json(status_path))["status"] != "ok":
            errors.append(f"the property check failed: {status['error'].strip().splitlines()[-1]}")
    if not errors:
        try:
            table = validate(PropertyInstances, pd.read_parquet(table_path), "property instances")
        except (OSError, TableError) as exc:
            errors.append(str(exc))
    out["gates"].append({"gate": "error", "passed": not errors, "detail": errors[:20]})
    if errors:
        return _finish(out, "error", errors[0], "error")

    checks = []
    if plan.arms:
        all_runs = [r for runs in evidence.values() for r in runs]
        checks += integrity.check_runs(all_runs, registry.EXPERIMENTS[claim.runs.experiment], [])
    main, control = table[~table["control"]], table[table["control"]]
    distinct = main["lhs"].round(12).nunique()
    checks.append(
        integrity.Check(
            "instances_nontrivial",
            distinct > 1 or len(main) == 1,
            f"{len(main)} instances, {distinct} distinct left-hand sides",
        )
    )
    insensitive = control[control["abs_err"] <= spec.tolerance]
    checks.append(
        integrity.Check(
            "check_can_fail",
            len(control) > 0 and insensitive.empty,
            f"{len(control)} perturbed control instance(s), all violating the identity by more than the tolerance"
            if len(control) and insensitive.empty
            else f"{len(insensitive)} of {len(control)} perturbed control instance(s) pass: the check cannot tell",
        )
    )
    out["integrity"] = [c.as_dict() for c in checks]
    failed = [c for c in checks if not c.passed]
    out["gates"].append({"gate": "integrity", "passed": not failed, "detail": [c.name for c in failed]})
    worst = main.loc[main["abs_err"].idxmax()]
    out["property"] = {
        "instances": len(main),
        "controls": len(control),
        "max_abs_err": float(main["abs_err"].max()),
        "worst_instance": {k: (bool(v) if k == "control" else float(v)) for k, v in worst.items()},
        "violations": int((main["abs_err"] > spec.tolerance).sum()),
        "control_min_abs_err": float(control["abs_err"].min()) if len(control) else None,
    }
    if failed:
        return _finish(out, "invalid", f"integrity check {failed[0].name} failed: {failed[0].detail}", "integrity")
    prop = out["property"]
    if prop["violations"]:
        return _finish(
            out,
            "falsified",
            (
                f"{prop['violations']} of {prop['instances']} instances violate the identity; worst |lhs − rhs| = "
                f"{prop['max_abs_err']:.3g} > tolerance {spec.tolerance:g}"
            ),
            "decision",
        )
    return _finish(
        out,
        "verified",
        (
            f"all {prop['instances']} instances within tolerance {spec.tolerance:g} (max |lhs − rhs| = "
            f"{prop['max_abs_err']:.3g}); {prop['controls']} perturbed controls violate it"
        ),
        "decision",
    )


# ------------------------------------------------------------------ derivation, textual, not run


def decide_derivation(plan: ClaimPlan) -> dict:
    claim: DerivationClaim = plan.loaded.claim
    out = _base(plan)
    values = {k: v.value for k, v in claim.inputs.items()}
    precisions = {k: v.precision for k, v in claim.inputs.items()}
    point = evaluate(claim.formula, values).mid
    interval = evaluate(claim.formula, values, precisions)
    reported = claim.reported
    r_lo, r_hi = reported.value - reported.precision / 2, reported.value + reported.precision / 2
    consistent = interval.lo <= r_hi and r_lo <= interval.hi
    out["derivation"] = {
        "formula": claim.formula,
        "inputs": {k: v.model_dump() for k, v in claim.inputs.items()},
        "computed": point,
        "computed_interval": [interval.lo, interval.hi],
        "reported": reported.model_dump(),
        "reported_interval": [r_lo, r_hi],
        "gap": 0.0 if consistent else min(abs(interval.lo - r_hi), abs(r_lo - interval.hi)),
    }
    out["gates"].append({"gate": "decision", "passed": True, "detail": "interval arithmetic over rounding"})
    if consistent:
        return _finish(
            out,
            "verified",
            (
                f"{claim.formula} = {point:.6g} (∈ [{interval.lo:.6g}, {interval.hi:.6g}] given the inputs' rounding) "
                f"agrees with the reported {reported.value:g} ± {reported.precision / 2:g}"
            ),
            "decision",
        )
    return _finish(
        out,
        "falsified",
        (
            f"{claim.formula} = {point:.6g} (∈ [{interval.lo:.6g}, {interval.hi:.6g}] given the inputs' rounding) "
            f"cannot round to the reported {reported.value:g} ± {reported.precision / 2:g}"
        ),
        "decision",
    )


def decide_textual(plan: ClaimPlan, papers_dir: Path = PAPERS_DIR) -> dict:
    """Ground the quote in the cached text of the paper version it cites (repro.grounding)."""
    claim: TextualClaim = plan.loaded.claim
    out = _base(plan)
    if not claim.testable:
        return _finish(out, "not_testable", claim.reason, "kind")
    ref = claim.paper.arxiv
    try:
        g = ground_claim(claim.quote, ref, papers_dir)
    except (CacheError, OSError, ValueError) as exc:
        out["gates"].append({"gate": "error", "passed": False, "detail": str(exc)})
        return _finish(out, "error", f"cannot read the cached text of {ref}: {exc}", "error")
    out["grounding"] = g
    if not g["cached"]:
        other = f" (cached versions: {', '.join(g['cached_versions'])})" if g["cached_versions"] else ""
        reason = f"no text of {ref} is cached under {g['cache']}{other}; run `repro paper add {ref}`"
        return _finish(out, "not_run", reason, "cache")
    out["gates"].append({"gate": "decision", "passed": True, "detail": "textual grounding (repro.grounding)"})
    where = g["file"] + f", line {g['location']['line']}"
    where += f" ({g['location']['section']})" if g["location"]["section"] else ""
    share = f"{g['score']:.0%} of the quote's information"
    if g["status"] == "grounded":
        how = "exactly (after normalisation)" if g["exact"] else f"with {share} in one passage"
        return _finish(out, "verified", f"the quote is in the paper's text, {how}: {where}", "decision")
    if g["status"] == "partial":
        numbers = f"; its number(s) {', '.join(g['missing_numbers'])} are not in it" if g["missing_numbers"] else ""
        return _finish(
            out,
            "inconclusive",
            f"only a partial match: the closest passage ({where}) holds {share} "
            f"(grounded needs {g['thresholds']['grounded']:.0%}){numbers}; compare by hand",
            "decision",
        )
    if g["fulltext_complete"]:
        return _finish(
            out,
            "falsified",
            f"the quote is not in the paper's full text: the closest passage ({where}) holds only {share} "
            f"(absent below {g['thresholds']['absent']:.0%})",
            "decision",
        )
    cached = "only the abstract is cached" if not g["has_fulltext"] else "only excerpts of the full text are cached"
    return _finish(
        out,
        "inconclusive",
        f"the quote is not in the cached text (closest passage holds {share}), but {cached}: "
        f"the rest of the paper may contain it",
        "decision",
    )


def decide(plan: ClaimPlan, root: Path, papers_dir: Path | None = None) -> dict:
    """The verdict of one claim at one scale, with its decision trace."""
    claim = plan.loaded.claim
    if plan.not_run is not None:
        out = _base(plan)
        spec = scale_spec(claim, plan.scale)
        if isinstance(claim, ReproductionClaim) and spec.expectation is not None:
            out["expectation"] = spec.expectation.model_dump()
            out["metric"] = claim.metric
        return _finish(out, "not_run", plan.not_run, "scale")
    if isinstance(claim, ReproductionClaim):
        return decide_reproduction(plan, root)
    if isinstance(claim, PropertyClaim):
        return decide_property(plan, root)
    if isinstance(claim, DerivationClaim):
        return decide_derivation(plan)
    return decide_textual(plan, papers_dir if papers_dir is not None else root / PAPERS_DIR)


def summary_row(verdict: dict) -> dict:
    """The verdict's row in ``verdicts-<scale>.tsv`` (schemas.VerdictRow, before adjustment columns)."""
    decision = verdict.get("decision") or {}
    exp = verdict.get("expectation") or {}
    derivation = verdict.get("derivation")
    effect, lo, hi = decision.get("estimate"), decision.get("lo"), decision.get("hi")
    theta = exp.get("value")
    if derivation:
        effect, (lo, hi) = derivation["computed"], derivation["computed_interval"]
        theta = derivation["reported"]["value"]
    if verdict.get("property"):
        effect = verdict["property"]["max_abs_err"]
    if (verdict.get("grounding") or {}).get("cached"):
        effect = verdict["grounding"]["score"]
    summary = verdict.get("effect_summary") or {}

    def num(x):
        return float(x) if x is not None and not (isinstance(x, float) and math.isnan(x)) else None

    return {
        "claim_id": verdict["claim_id"],
        "paper": verdict["paper"],
        "kind": verdict["kind"],
        "scale": verdict["scale"],
        "hypothesis": verdict["hypothesis"],
        "verdict": verdict["verdict"],
        "reason": verdict["reason"],
        "metric": verdict.get("metric"),
        "effect": num(effect),
        "ci_low": num(lo),
        "ci_high": num(hi),
        "theta": num(theta),
        "margin": num(exp.get("margin")),
        "n_seeds": num(summary.get("n")),
        "p_verify": num(decision.get("p_verify")),
        "p_falsify": num(decision.get("p_falsify")),
        "seeds_needed": num(verdict.get("seeds_needed")),
        "seed_document": verdict.get("seed_document"),
        "seed_relevance": verdict.get("seed_relevance"),
    }
