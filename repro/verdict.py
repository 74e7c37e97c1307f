"""From evidence to a verdict, through the gates of docs/design.md §5 (the first failing gate decides):

1. ``error``        a job failed, an artifact is missing, a table fails its schema (never a falsification);
2. ``invalid``      integrity: the results were not produced by a real run (repro.integrity);
3. ``invalid``      insensitive: no arm clearly beats a negative control (by more than the metric's resolution);
4. ``inconclusive`` inert treatment: another arm clears the control, the treatment does not (broken or inert at
                    this scale: no evidence about the paper);
5. ``inconclusive`` mechanism: the family's diagnostic shows the treatment's mechanism never engaged;
6. ``inconclusive`` power: the interval straddles the boundary, or a prediction interval is too wide to tell θ
                    from θ ± δ (with the seeds that would decide it);
7. the decision rule of the claim's expectation (repro.stats), then, across a paper's reproduction claims at one
   scale, Holm's adjustment (:func:`finalize`): a verdict that does not hold at family-wise α is inconclusive;
   and, when a second numeric environment was run, a verdict that differs there is fragile (inconclusive).

:func:`decide` reads one claim's evidence and writes its decision; :func:`finalize` adds what needs the other
claims (multiplicity), the preregistration ledger (repro.ledger) and the second numeric environment.
Claims marked ``not_run`` at a scale, or needing what is missing (a GPU), get ``not_run`` with the reason;
descriptive claims no experiment can test get ``not_testable``. Every verdict carries its full decision trace.
Nothing here trains or scores: it reads files written by earlier rules.
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
from repro.metrics.tables import RunMetrics
from repro.paper_cache import PAPERS_DIR, CacheError
from repro.plan import ClaimPlan
from repro.schemas import PropertyInstances
from repro.tables import TableError, validate

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
    """The family's review profiles (its metrics module's ``PROFILES``), averaged per arm over seeds at each
    (panel, x).

    Returns {profile: {"x_label", "y_label", "panels": {panel: {arm: {"x", "mean", "lo", "hi"}}}}}.
    """
    out: dict[str, dict] = {}
    for arm, runs in evidence.items():
        profiles = registry.get_metrics(runs[0].spec.experiment).PROFILES
        for name in runs[0].metrics_status["profiles"]:
            frames = [pd.DataFrame(r.metrics_status["profiles"][name]) for r in runs]
            table = pd.concat(frames, ignore_index=True)
            entry = out.setdefault(
                name, {"x_label": profiles[name].x_label, "y_label": profiles[name].y_label, "panels": {}}
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


def control_gaps(
    values: dict[str, np.ndarray],
    treatment: str,
    controls: list[str],
    resolution: float,
    higher_is_better: bool,
    alpha: float,
) -> list[dict]:
    """The negative-control gates, one entry per control (anchors.md §3.4; docs/design.md §5, gates 3 and 4).

    values: per arm, (n,) metric values in seed order (seeds pair across arms). For each control the gap of every
    non-control arm over it, Δ = arm − control (sign-flipped when lower is better), must have its lower bound above
    the metric's ``resolution`` (the smallest difference its evaluation can honestly resolve) to *clear* it. The
    resolution belongs to the metric, not to the claim, so an absurd claimed effect does not make a sensitive
    evaluation look insensitive. Entry: the treatment's gap (``passed``: the treatment clears the control) and
    ``cleared_by``: every arm that clears it.
    """
    gaps = []
    for control in controls:
        entry: dict[str, Any] = {"control": control, "resolution": resolution, "cleared_by": [], "others": {}}
        for arm in [treatment, *sorted(set(values) - {treatment, *controls})]:
            gap = stats.control_gap(
                values[arm], values[control], "difference", resolution, higher_is_better, alpha, control
            )
            if gap.passed:
                entry["cleared_by"].append(arm)
            if arm == treatment:
                entry.update(passed=gap.passed, **gap.summary.as_dict())
            else:
                entry["others"][arm] = {"passed": gap.passed, "mean": gap.summary.mean, "lo": gap.summary.lo}
        gaps.append(entry)
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


def _sensitivity_gates(out: dict, gaps: list[dict], treatment: str) -> dict | None:
    """Gates 3 (insensitive → invalid) and 4 (inert treatment → inconclusive); the finished verdict, or None."""
    uncleared = [g for g in gaps if not g["cleared_by"]]
    out["gates"].append({"gate": "sensitivity", "passed": not uncleared, "detail": [g["control"] for g in uncleared]})
    if uncleared:
        g = uncleared[0]
        return _finish(
            out,
            "invalid",
            (
                f"insensitive evaluation: no arm is clearly better than the negative control {g['control']!r} "
                f"(treatment's gap {g['mean']:.4g}, lower bound {g['lo']:.4g} ≤ the metric's resolution "
                f"{g['resolution']:g})"
            ),
            "sensitivity",
        )
    inert = [g for g in gaps if not g["passed"]]
    out["gates"].append({"gate": "inert_treatment", "passed": not inert, "detail": [g["control"] for g in inert]})
    if inert:
        g = inert[0]
        return _finish(
            out,
            "inconclusive",
            (
                f"treatment did not clear the negative control {g['control']!r}: inert or broken at this scale "
                f"(gap {g['mean']:.4g}, lower bound {g['lo']:.4g} ≤ resolution {g['resolution']:g}; "
                f"{', '.join(g['cleared_by'])} clear(s) it, so the evaluation can tell)"
            ),
            "inert_treatment",
        )
    return None


def _mechanism_gate(out: dict, mech: dict | None, treatment: str) -> dict | None:
    if mech is None:
        return None
    out["mechanism"] = mech
    word = "≥" if mech["relation"] == "at_least" else "≤"
    detail = f"{mech['diagnostic']} = {mech['mean']:.4g} (needs {word} {mech['threshold']:g})"
    out["gates"].append({"gate": "mechanism", "passed": mech["engaged"], "detail": detail})
    if mech["engaged"]:
        return None
    return _finish(
        out,
        "inconclusive",
        f"mechanism did not engage at this scale: the treatment {treatment!r} has {detail}",
        "mechanism",
    )


def _decide_effect(out: dict, claim: ReproductionClaim, arms: dict, exp, higher_is_better: bool) -> dict:
    """Gates 6 (power) and 7 (decision rule) on the treatment's per-seed effects."""
    treatment = np.asarray(arms[claim.treatment]["values"])
    if exp.effect == "value":
        sample = treatment
    else:
        baseline = np.asarray(arms[claim.baseline]["values"])
        sample = stats.paired_effects(treatment, baseline, exp.effect)
        sign = 1 if higher_is_better else -1
        pi = stats.probability_of_improvement(
            sign * treatment,
            sign * baseline,
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
    mde = stats.minimum_detectable_effect(summary.sd, summary.n, exp.alpha)
    out["power"] = {
        "n": summary.n,
        "sd": summary.sd,
        "mde": mde,
        "margin": exp.margin,
        "detects_margin": bool(mde <= exp.margin),
        "power": 0.8,
    }
    if sample.size >= 10:
        lo, hi = stats.bootstrap_mean_interval(sample, np.random.default_rng(PROB_IMPROVEMENT_SEED), alpha=exp.alpha)
        out["bootstrap_cross_check"] = {"lo": lo, "hi": hi}
    if decision.outcome == "inconclusive":
        needed = decision.extra.get("seeds_informative") if decision.mode == "prediction interval" else None
        out["seeds_needed"] = needed or _seeds_needed(exp.relation, summary, exp.margin, exp.theta)
        out["gates"].append({"gate": "power", "passed": False, "detail": decision.mode})
        more = f"; about {out['seeds_needed']} seeds would decide it (power 0.8)" if out["seeds_needed"] else ""
        return _finish(out, "inconclusive", decision.reason + more, "power")
    out["gates"].append({"gate": "power", "passed": True, "detail": f"MDE {mde:.4g} at power 0.8"})
    out["gates"].append({"gate": "decision", "passed": True, "detail": decision.mode})
    return _finish(out, decision.outcome, decision.reason, "decision")


def decide_reproduction(plan: ClaimPlan, root: Path) -> dict:
    claim: ReproductionClaim = plan.loaded.claim
    out = _base(plan)
    spec = scale_spec(claim, plan.scale)
    exp = spec.expectation
    metric = registry.get_metrics(claim.experiment).METRICS[claim.metric]
    out.update(
        metric=claim.metric,
        higher_is_better=metric.higher_is_better,
        resolution=metric.resolution,
        expectation=exp.model_dump(),
        experiment=claim.experiment,
        n_seeds_declared=spec.seeds,
    )

    evidence = load_run_evidence(plan, root)
    errors = _run_errors(evidence, claim.metric)
    if not errors and claim.mechanism is not None:
        errors = _run_errors(evidence, claim.mechanism.diagnostic)
    out["gates"].append({"gate": "error", "passed": not errors, "detail": errors[:20]})
    if errors:
        return _finish(out, "error", f"{len(errors)} run(s) failed or are missing: {errors[0]}", "error")

    all_runs = [r for runs in evidence.values() for r in runs]
    family_module = registry.module_name(claim.experiment, "experiment")
    precision = exp.precision
    claimed = [(value, precision) for value in iter_numbers(claim)]
    checks = integrity.check_runs(all_runs, family_module, claimed, frozenset(claim.negative_controls))
    out["integrity"] = [c.as_dict() for c in checks]
    out["collapsed"] = integrity.collapsed_runs(all_runs)
    failed = [c for c in checks if not c.passed]
    out["gates"].append({"gate": "integrity", "passed": not failed, "detail": [c.name for c in failed]})
    arms = _arm_table(evidence, claim, claim.metric)
    out["arms"] = arms
    out["arm_metrics"] = arm_metric_intervals(evidence, exp.alpha)
    out["profiles"] = arm_profiles(evidence, exp.alpha)
    if failed:
        return _finish(out, "invalid", f"integrity check {failed[0].name} failed: {failed[0].detail}", "integrity")

    gaps = control_gaps(
        {arm: np.asarray(a["values"]) for arm, a in arms.items()},
        claim.treatment,
        claim.negative_controls,
        metric.resolution,
        metric.higher_is_better,
        exp.alpha,
    )
    out["negative_controls"] = gaps
    finished = _sensitivity_gates(out, gaps, claim.treatment)
    finished = finished or _mechanism_gate(out, mechanism_check(evidence, claim), claim.treatment)
    return finished or _decide_effect(out, claim, arms, exp, metric.higher_is_better)


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
        checks += integrity.check_runs(all_runs, registry.module_name(claim.runs.experiment, "experiment"), [])
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
    if g["numbers_absent_from_fulltext"]:
        return _finish(
            out,
            "falsified",
            f"the paper's complete full text never contains the quote's number(s) "
            f"{', '.join(g['numbers_absent_from_fulltext'])} (closest passage: {where})",
            "decision",
        )
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


# ------------------------------------------------------------------ across claims: multiplicity, ledger, numerics

FAMILY_METHOD = "Holm step-down over both directions of every claim (Shaffer: at most one null per claim is true)"


def apply_multiplicity(verdict: dict, family: list[dict]) -> None:
    """Holm across a paper's reproduction claims at one scale (``family``: their decisions, this one included).

    Each claim contributes two one-sided p-values (verify, falsify); claims stopped by an earlier gate contribute
    p = 1 (they stay in the family: its size is fixed by the claims, not by their outcomes). A verified or
    falsified decision stands only if its adjusted p-value is at most the claim's α; otherwise it becomes
    inconclusive (gate ``multiplicity``). Raw and adjusted p-values go on the card.
    """
    ids = [member["claim_id"] for member in family]
    pvalues = []
    for member in family:
        d = member.get("decision")
        pvalues += [d["p_verify"], d["p_falsify"]] if d else [1.0, 1.0]
    adjusted = stats.holm(pvalues, max_true=len(family))
    i = ids.index(verdict["claim_id"])
    d = verdict.get("decision")
    verdict["multiplicity"] = {
        "method": FAMILY_METHOD,
        "family": ids,
        "m": len(family),
        "p_verify": d["p_verify"] if d else None,
        "p_falsify": d["p_falsify"] if d else None,
        "p_verify_adjusted": adjusted[2 * i],
        "p_falsify_adjusted": adjusted[2 * i + 1],
    }
    if verdict["verdict"] not in ("verified", "falsified"):
        return
    alpha = verdict["expectation"]["alpha"]
    verified = verdict["verdict"] == "verified"
    p_raw, p_adj = (d["p_verify"], adjusted[2 * i]) if verified else (d["p_falsify"], adjusted[2 * i + 1])
    holds = p_adj <= alpha
    verdict["gates"].append(
        {"gate": "multiplicity", "passed": holds, "detail": f"adjusted p {p_adj:.3g} (α = {alpha:g}, m = {len(ids)})"}
    )
    if not holds:
        _finish(
            verdict,
            "inconclusive",
            (
                f"{verdict['verdict']} alone (p = {p_raw:.3g}) "
                f"but not at family-wise α = {alpha:g} over the paper's {len(ids)} reproduction claims at this scale "
                f"(Holm-adjusted p = {p_adj:.3g})"
            ),
            "multiplicity",
        )


def apply_numerics(verdict: dict, reference: dict | None, label: str) -> None:
    """A verdict that differs under a second numeric environment (e.g. ``ATEN_CPU_CAPABILITY=default``) is fragile:
    it rests on floating-point details, not on the evidence, so it is neither verified nor falsified.
    ``reference``: the same claim's decision from the workflow run in that environment (None: not run there)."""
    if reference is None:
        verdict["numerics"] = {"reference": label, "reference_verdict": None, "fragile": False}
        return
    here = verdict["decided"]
    fragile = reference["verdict"] != here
    verdict["numerics"] = {"reference": label, "reference_verdict": reference["verdict"], "fragile": fragile}
    verdict["gates"].append(
        {"gate": "numerics", "passed": not fragile, "detail": f"{here} here, {reference['verdict']} under {label}"}
    )
    if fragile and verdict["verdict"] in ("verified", "falsified"):
        _finish(
            verdict,
            "inconclusive",
            f"fragile: {here} here but {reference['verdict']} under {label} (same code, other floating-point "
            f"kernels), so the verdict rests on numerics, not on the evidence. Here: {verdict['reason']}",
            "numerics",
        )


def finalize(
    decision: dict,
    family: list[dict],
    rule: dict | None,
    reference: dict | None = None,
    reference_label: str | None = None,
) -> dict:
    """The verdict from a claim's decision: Holm over its paper's reproduction claims at the scale (``family``, its
    members' decisions), the preregistration status of its rule (repro.ledger.RuleStatus.as_dict plus ``rule``
    and, when changed, ``diff``) and, if a second numeric environment was run, that environment's decision."""
    verdict = dict(decision, gates=list(decision["gates"]))
    verdict["decided"] = decision["verdict"]
    if verdict["kind"] == "reproduction" and verdict["verdict"] != "not_run":
        apply_multiplicity(verdict, family)
    if reference_label is not None and verdict["verdict"] not in ("not_run", "not_testable"):
        apply_numerics(verdict, reference, reference_label)
    verdict["rule"] = rule
    return verdict


EFFECT_NAMES = {
    "difference": "treatment − baseline",
    "relative": "100·(treatment/baseline − 1) %",
    "value": "treatment value",
}
"""What a reproduction claim's effect is, by its expectation's ``effect``."""


def effect_label(verdict: dict) -> str | None:
    """What the ``effect`` column of the verdict's summary row measures (it differs by kind)."""
    if verdict.get("derivation"):
        return "recomputed value (θ: reported)"
    if verdict.get("property"):
        return "largest |lhs − rhs|"
    if (verdict.get("grounding") or {}).get("cached"):
        return "grounding score"
    if verdict.get("decision") and verdict.get("expectation"):
        return f"{EFFECT_NAMES[verdict['expectation']['effect']]} ({verdict['metric']})"
    return None


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
        "effect_label": effect_label(verdict),
        "ci_low": num(lo),
        "ci_high": num(hi),
        "theta": num(theta),
        "margin": num(exp.get("margin")),
        "n_seeds": num(summary.get("n")),
        "p_verify": num(decision.get("p_verify")),
        "p_falsify": num(decision.get("p_falsify")),
        "p_verify_adjusted": num((verdict.get("multiplicity") or {}).get("p_verify_adjusted")),
        "p_falsify_adjusted": num((verdict.get("multiplicity") or {}).get("p_falsify_adjusted")),
        "mde": num((verdict.get("power") or {}).get("mde")),
        "seeds_needed": num(verdict.get("seeds_needed")),
        "rule_changed": bool((verdict.get("rule") or {}).get("state") == "changed_after_evidence"),
        "fragile": bool((verdict.get("numerics") or {}).get("fragile")),
        "seed_document": verdict.get("seed_document"),
        "seed_relevance": verdict.get("seed_relevance"),
        "claim_file": (verdict.get("claim_file") or {}).get("path"),
        "claim_sha256": (verdict.get("claim_file") or {}).get("sha256"),
    }
