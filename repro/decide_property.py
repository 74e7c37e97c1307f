"""A property claim's decision (repro.verdict): the identity checked on random instances, or on the artifacts of
real runs, with perturbed control instances that must violate it (the check can fail)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from repro import integrity, registry
from repro.claims import PropertyClaim, scale_spec
from repro.decide_evidence import load_run_evidence, open_verdict, run_errors
from repro.files import read_json
from repro.plan import ClaimPlan
from repro.schemas import PropertyInstances
from repro.tables import TableError, validate
from repro.verdict_record import Verdict


def _instances(plan: ClaimPlan, root: Path, errors: list[str]) -> pd.DataFrame | None:
    """The checked instances (schemas.PropertyInstances); None, with the reason appended to ``errors``, when the
    check failed or its table is missing or breaks its contract."""
    table_path = root / plan.property_table
    status_path = table_path.with_suffix(".json")
    if not status_path.is_file():
        errors.append(f"{plan.property_table.with_suffix('.json')} is missing")
        return None
    if (status := read_json(status_path))["status"] != "ok":
        errors.append(f"the property check failed: {status['error'].strip().splitlines()[-1]}")
        return None
    try:
        return validate(PropertyInstances, pd.read_parquet(table_path), "property instances")
    except (OSError, TableError) as exc:
        errors.append(str(exc))
        return None


def _instance_checks(main: pd.DataFrame, control: pd.DataFrame, tolerance: float) -> list[integrity.Check]:
    """The instances are not all alike, and every perturbed control violates the identity (the check can fail)."""
    distinct = main["lhs"].round(12).nunique()
    insensitive = control[control["abs_err"] <= tolerance]
    return [
        integrity.Check(
            "instances_nontrivial",
            distinct > 1 or len(main) == 1,
            f"{len(main)} instances, {distinct} distinct left-hand sides",
        ),
        integrity.Check(
            "check_can_fail",
            len(control) > 0 and insensitive.empty,
            f"{len(control)} perturbed control instance(s), all violating the identity by more than the tolerance"
            if len(control) and insensitive.empty
            else f"{len(insensitive)} of {len(control)} perturbed control instance(s) pass: the check cannot tell",
        ),
    ]


def _decide_instances(out: Verdict, tolerance: float) -> Verdict:
    """Gate 7: every instance within the tolerance verifies, any violation falsifies."""
    prop = out.property_result
    if prop.violations:
        return out.finish(
            "falsified",
            (
                f"{prop.violations} of {prop.instances} instances violate the identity; worst |lhs − rhs| = "
                f"{prop.max_abs_err:.3g} > tolerance {tolerance:g}"
            ),
            "decision",
        )
    return out.finish(
        "verified",
        (
            f"all {prop.instances} instances within tolerance {tolerance:g} (max |lhs − rhs| = "
            f"{prop.max_abs_err:.3g}); {prop.controls} perturbed controls violate it"
        ),
        "decision",
    )


def decide_property(plan: ClaimPlan, root: Path) -> Verdict:
    claim: PropertyClaim = plan.loaded.claim
    spec = scale_spec(claim, plan.scale)
    out = open_verdict(plan)
    out.check = claim.check
    out.tolerance = spec.tolerance
    out.instances_declared = spec.instances
    out.equation = registry.get_property(claim.check).equation
    errors = []
    if plan.arms:
        evidence = load_run_evidence(plan, root)
        errors = run_errors(evidence, None)
    table = None if errors else _instances(plan, root, errors)
    out.add_gate("error", not errors, errors[:20])
    if errors:
        return out.finish("error", errors[0], "error")

    checks = []
    if plan.arms:
        all_runs = [r for runs in evidence.values() for r in runs]
        checks += integrity.check_runs(all_runs, registry.module_name(claim.runs.experiment, "experiment"), [])
    main, control = table[~table["control"]], table[table["control"]]
    checks += _instance_checks(main, control, spec.tolerance)
    out.integrity = [c.as_dict() for c in checks]
    failed = [c for c in checks if not c.passed]
    out.add_gate("integrity", not failed, [c.name for c in failed])
    worst = main.loc[main["abs_err"].idxmax()]
    out.property_result = {
        "instances": len(main),
        "controls": len(control),
        "max_abs_err": float(main["abs_err"].max()),
        "worst_instance": {k: (bool(v) if k == "control" else float(v)) for k, v in worst.items()},
        "violations": int((main["abs_err"] > spec.tolerance).sum()),
        "control_min_abs_err": float(control["abs_err"].min()) if len(control) else None,
    }
    if failed:
        return out.finish("invalid", f"integrity check {failed[0].name} failed: {failed[0].detail}", "integrity")
    return _decide_instances(out, spec.tolerance)
