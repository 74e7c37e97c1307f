"""What a decision starts from (repro.verdict): the claim as stated, which opens its verdict, and the evidence of
its runs as earlier rules left it on disk (run records, metric tables), summarised per arm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repro import integrity, registry, stats
from repro.claims import ReproductionClaim, hypothesis
from repro.files import read_json, sha256_file
from repro.metrics.tables import RunMetrics
from repro.plan import ClaimPlan
from repro.tables import TableError, validate
from repro.verdict_record import Verdict


def open_verdict(plan: ClaimPlan) -> Verdict:
    """The verdict in the making: what the claim states, and no gate run yet."""
    claim = plan.loaded.claim
    return Verdict.draft(
        claim_id=claim.id,
        kind=claim.kind,
        scale=plan.scale,
        hypothesis=hypothesis(claim, plan.scale),
        statement=claim.statement,
        quote=claim.quote,
        paper=claim.paper.arxiv,
        paper_title=plan.loaded.paper.title,
        locator=claim.paper.locator,
        seed_document=claim.seed.document if claim.seed else None,
        seed_relevance=claim.seed.relevance if claim.seed else None,
        seed_note=claim.seed.note if claim.seed else None,
        open_question=(
            claim.open_question.model_dump()
            if isinstance(claim, ReproductionClaim) and claim.open_question is not None
            else None
        ),
        notes=claim.notes,
        gates=[],
    )


def _read_record(path: Path) -> dict[str, Any] | None:
    """A run's or a scoring's JSON record; a corrupt or truncated one becomes an ``unreadable`` record naming the
    file (an ``error`` verdict), never a crash of the decision or a silently older verdict."""
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return {"status": "unreadable", "error": f"{path} is unreadable ({type(exc).__name__}: {exc})"}
    if not isinstance(record, dict) or not isinstance(record.get("status"), str):
        return {"status": "unreadable", "error": f"{path} is not a repro record (no status)"}
    return record


def _changed_artifact(run_dir: Path, record: dict[str, Any]) -> str | None:
    """Why a completed run's prediction tables or curve are not what it wrote (missing, or a sha256 other than
    its record's), or None. The verdict is decided from metrics scored off these files; a file changed since
    then (truncated, edited) leaves the metrics without their evidence, so the claim is an ``error`` naming it."""
    try:
        artifacts = record["artifacts"]
        entries = [*artifacts["tables"].values(), artifacts["curve"]]
        files = [(run_dir / entry["file"], entry["sha256"]) for entry in entries]
    except (KeyError, TypeError, AttributeError):
        return f"{run_dir / 'run.json'} lists no prediction tables and curve (not a complete run record)"
    for path, digest in files:
        if not path.is_file():
            return f"{path} is missing (remove the run's folder {run_dir} to run it again)"
        if sha256_file(path) != digest:
            return (
                f"{path} differs from the sha256 its run.json recorded (truncated or edited after the run; remove "
                f"the run's folder {run_dir} to run it again)"
            )
    return None


def load_run_evidence(plan: ClaimPlan, root: Path) -> dict[str, list[integrity.RunEvidence]]:
    evidence: dict[str, list[integrity.RunEvidence]] = {}
    for arm, runs in plan.arms.items():
        for run in runs:
            run_json = root / run.run_json
            status_json = root / run.dir / "metrics.json"
            metrics_file = root / run.metrics
            record = _read_record(run_json)
            if record is not None and record["status"] == "completed":
                changed = _changed_artifact(run_json.parent, record)
                if changed is not None:
                    record = {"status": "unreadable", "error": changed}
            status = _read_record(status_json)
            metrics = None
            if status is not None and status["status"] == "ok":
                try:
                    table = validate(RunMetrics, pd.read_parquet(metrics_file), "metrics")
                except (OSError, ValueError, TableError) as exc:  # a metrics file that fails its contract is an error
                    status = {"status": "failed", "error": f"{metrics_file}: {exc}"}
                else:
                    metrics = dict(zip(table["metric"], table["value"].astype(float), strict=True))
            evidence.setdefault(arm, []).append(integrity.RunEvidence(arm, run, record, metrics, status))
    return evidence


def run_errors(evidence: dict[str, list[integrity.RunEvidence]], metric: str | None) -> list[str]:
    """Why the evidence cannot be judged (gate 1): each failed or missing run, or one lacking ``metric``."""
    errors = []
    for runs in evidence.values():
        for r in runs:
            where = f"{r.arm}/seed{r.spec.seed} ({r.spec.dir})"
            if r.record is None:
                errors.append(f"{where}: run.json is missing")
            elif r.record["status"] == "unreadable":
                errors.append(f"{where}: {r.record['error']}")
            elif r.record.get("status") != "completed":
                last = (r.record.get("error") or "").strip().splitlines()
                errors.append(f"{where}: run failed: {last[-1] if last else 'no error text'}")
            elif r.metrics_status is None:
                errors.append(f"{where}: metrics.json is missing")
            elif r.metrics_status["status"] == "unreadable":
                errors.append(f"{where}: {r.metrics_status['error']}")
            elif r.metrics_status["status"] != "ok":
                errors.append(f"{where}: metrics failed: {r.metrics_status['error'].strip().splitlines()[-1]}")
            elif metric is not None and metric not in r.metrics:
                errors.append(f"{where}: metric {metric!r} was not computed")
    return errors


def arm_table(evidence, claim: ReproductionClaim, metric: str) -> dict[str, dict[str, Any]]:
    """Per arm: its role in the claim, where its runs are, and ``metric`` over its seeds (in seed order)."""
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
