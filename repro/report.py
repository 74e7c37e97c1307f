"""Human-readable outputs of a verdict: the markdown card and the HTML report; the verdict plot
(repro.plots) and the summary table (repro.summary) are re-exported here.

Every rendering states the scale and the hypothesis tested: a ci- or reduced-scale verdict is
about that scale's hypothesis, never the paper's headline number.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from repro.plots import render_plot
from repro.report_style import COLORS, fmt
from repro.schemas import VERDICTS
from repro.summary import EFFECT_NAMES, StatusRow, status_rows, status_table, status_text, summary_table
from repro.verdict_record import Verdict, as_verdict

__all__ = [
    "COLORS",
    "SCOPE",
    "StatusRow",
    "decision_rule_text",
    "render_card",
    "render_html",
    "render_plot",
    "status_rows",
    "status_table",
    "status_text",
    "summary_table",
]

SCOPE = {
    "ci": (
        "ci scale: a tiny model on synthetic data on a 2-core CPU. The verdict concerns the hypothesis "
        "stated above, not the paper's reported numbers."
    ),
    "reduced": (
        "reduced scale: more seeds and steps than ci, still small models and synthetic data. The verdict "
        "concerns the hypothesis stated above, not the paper's reported numbers."
    ),
    "full": "full scale: the paper's setting; the verdict concerns the paper's reported number.",
}
KIND_SCOPE = {
    "derivation": "Arithmetic consistency of numbers the paper reports (no experiment re-run); valid at every scale.",
    "property": "A mathematical/algorithmic statement checked numerically on random instances.",
    "textual": (
        "Textual grounding: the quote is looked for in the cached text of the paper. Verified means the paper "
        "says this, not that what it says is true; nothing was re-run."
    ),
}
PROPERTY_OF_RUNS_SCOPE = (
    "A statement about training runs, checked on the artifacts of real runs of this scale ({runs}); the verdict "
    "concerns those runs."
)
BORDERLINE = 0.02
"""A grounding score this close above the grounded threshold, with quote words missing, is called borderline."""


def render_card(v: Verdict | Mapping[str, Any]) -> str:
    """The verdict card (markdown, beside the verdict JSON and its plot ``<claim>.png``). Its layout is
    ``templates/card.md.j2``; what is decided here: each ``_<section>(v)`` returns None where its section does
    not apply, else the section's values, formatted where the wording depends on them (``fmt`` for the rest)."""
    v = as_verdict(v)
    template = _templates().get_template("card.md.j2")
    return template.render(
        v=v,
        scope=_scope(v),
        show_plot=v.verdict not in ("not_run", "not_testable"),
        rule_changed=v.rule_changed,
        fragile=v.fragile,
        seed=_seed(v),
        open_question=_open_question(v),
        notes=v.notes,
        evidence=_evidence(v),
        arm_metrics=_arm_metrics(v),
        controls=_controls(v),
        mechanism=_mechanism(v),
        power=_power(v),
        multiplicity=_multiplicity(v),
        property=v.property_result,
        derivation=_derivation(v),
        grounding=_grounding(v),
        integrity=_integrity(v),
        numerics=_numerics(v),
        rule=_rule(v),
        trace=_trace(v),
        provenance=_provenance(v),
    )


@functools.cache
def _templates() -> jinja2.Environment:
    """``repro/templates``: markdown unescaped (a card quotes claim text verbatim), HTML autoescaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("repro", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    return env


def _scope(v: Verdict) -> str:
    runs = v.provenance.get("runs") if v.provenance else None
    if v.kind == "property" and runs:
        return PROPERTY_OF_RUNS_SCOPE.format(runs=runs)
    return KIND_SCOPE.get(v.kind) or SCOPE[v.scale]


def _seed(v: Verdict) -> dict | None:
    if not v.seed_document:
        return None
    note = f" ({v.seed_note})" if v.seed_note else ""
    return {"document": v.seed_document, "relevance": v.seed_relevance, "note": note}


def _open_question(v: Verdict) -> dict | None:
    oq = v.open_question
    if not oq:
        return None
    return {
        "document": v.seed_document,
        "rests_on": ", ".join(f"arXiv:{a}" for a in [v.paper, *oq["rests_on"]]),
        "note": f" {oq['note']}" if oq["note"] else "",
    }


def _evidence(v: Verdict) -> dict | None:
    if not v.arms:
        return None
    return {
        "direction": "higher" if v.higher_is_better else "lower",
        "arms": list(v.arms.items()),
        "decision": _decision(v),
    }


def _decision(v: Verdict) -> dict | None:
    d = v.decision
    if d is None:
        return None
    exp = v.expectation
    level = 1 - 2 * exp["alpha"]
    return {
        **d.to_dict(),
        "effect_name": EFFECT_NAMES[exp["effect"]],
        "interval_name": "prediction interval" if d.mode == "prediction interval" else f"{level:.0%} interval",
        "relation": exp["relation"],
        "theta": exp["value"] if exp["value"] is not None else 0.0,
        "margin": exp["margin"],
        "alpha": exp["alpha"],
        "rule_text": decision_rule_text(exp),
        "prob_improvement": v.prob_improvement,
        "bootstrap": v.bootstrap_cross_check,
        "seeds_needed": v.seeds_needed,
    }


def _arm_metrics(v: Verdict) -> dict | None:
    """Each metric's mean [t-interval] per arm, a row per metric; the claim's metric says so."""
    if not v.arm_metrics:
        return None
    arm_names = list(v.arms)
    rows = []
    for metric, per_arm in v.arm_metrics.items():
        cells = []
        for arm in arm_names:
            m = per_arm.get(arm)
            interval = f" [{fmt(m['lo'], 3)}, {fmt(m['hi'], 3)}]" if m and m["lo"] is not None else ""
            cells.append(f"{fmt(m['mean'], 3)}{interval}" if m else "–")
        rows.append((f"{metric}{' (claim)' if metric == v.metric else ''}", cells))
    return {"level": f"{1 - 2 * v.expectation['alpha']:.0%}", "arms": arm_names, "rows": rows}


def decision_rule_text(exp: dict) -> str:
    """When the claim's expectation verifies and falsifies, in terms of the effect interval shown on the card."""
    theta, delta = exp["value"] if exp["value"] is not None else 0.0, exp["margin"]
    relation = exp["relation"]
    if relation == "greater":
        return (
            "verified when the interval's lower bound is above 0; "
            f"falsified when its upper bound is below δ = {delta:g}"
        )
    if relation == "less":
        return (
            "verified when the interval's upper bound is below 0; "
            f"falsified when its lower bound is above −δ = {-delta:g}"
        )
    if relation == "equal":
        return (
            f"verified when the interval lies inside θ ± δ = ({fmt(theta - delta)}, {fmt(theta + delta)}); falsified "
            f"when a {1 - exp['alpha']:.0%} interval lies outside it"
        )
    if relation == "at_least":
        return (
            f"the boundary is θ − δ = {fmt(theta - delta)} (x̄ − θ = −δ = {-delta:g}): verified when the interval's "
            "lower bound is above it, falsified when its upper bound is below it"
        )
    if relation == "at_most":
        return (
            f"the boundary is θ + δ = {fmt(theta + delta)} (x̄ − θ = δ = {delta:g}): verified when the interval's "
            "upper bound is below it, falsified when its lower bound is above it"
        )
    raise ValueError(f"unknown relation {relation!r}")


def _controls(v: Verdict) -> dict | None:
    if not v.negative_controls:
        return None
    gaps = [
        {**g.to_dict(), "passed": "yes" if g.passed else "NO", "cleared_by": ", ".join(g.cleared_by) or "none"}
        for g in v.negative_controls
    ]
    return {"resolution": v.resolution, "gaps": gaps}


def _mechanism(v: Verdict) -> dict | None:
    m = v.mechanism
    if not m:
        return None
    return {
        **m,
        "word": "≥" if m["relation"] == "at_least" else "≤",
        "per_seed": ", ".join(fmt(x, 3) for x in m["values"]),
        "engaged": "yes" if m["engaged"] else "NO",
        "per_arm": ", ".join(f"{arm} {fmt(x, 3)}" for arm, x in m["per_arm"].items()),
    }


def _power(v: Verdict) -> dict | None:
    p = v.power
    if p is None:
        return None
    # every field, the pilot's None where the scale has no power block (older verdicts never set them)
    return {**p.model_dump(), "can": "can" if p.detects_margin else "cannot"}


def _multiplicity(v: Verdict):
    m = v.multiplicity
    return m if m is not None and m.p_verify is not None else None


def _derivation(v: Verdict) -> dict | None:
    d = v.derivation
    if d is None:
        return None
    return {
        "formula": d.formula,
        "inputs": [
            (name, f"{inp['value']:g}", f"{inp['precision'] / 2:g}", inp["source"]) for name, inp in d.inputs.items()
        ],
        "computed": d.computed,
        "computed_lo": d.computed_interval[0],
        "computed_hi": d.computed_interval[1],
        "reported": f"{d.reported['value']:g}",
        "reported_rounding": f"{d.reported['precision'] / 2:g}",
        "reported_source": d.reported["source"],
    }


def _grounding(v: Verdict) -> dict | None:
    """Where the quote was found in the cached paper text, and a borderline flag (``BORDERLINE``)."""
    g = v.grounded_text
    if g is None:
        return None
    loc = g["location"]
    where = f"`{g['cache']}/{g['file']}`, line {loc['line']}"
    where += f", page {loc['page']}" if loc.get("page") else ""
    where += f", section “{loc['section']}”" if loc.get("section") else ""
    borderline = g["status"] == "grounded" and g["missing"] and g["score"] - g["thresholds"]["grounded"] < BORDERLINE
    return {
        "status": g["status"],
        "score": f"{g['score']:.3f}",
        "grounded": g["thresholds"]["grounded"],
        "absent": g["thresholds"]["absent"],
        "exact": "yes" if g["exact"] else "no",
        "where": where,
        "passage": g["passage"],
        "missing": ", ".join(g["missing"]),
        "borderline": BORDERLINE if borderline else None,
        "missing_numbers": ", ".join(g["missing_numbers"]),
        "searched": [
            {**t, "complete": "yes" if t["complete"] else "no", "score": f"{t['score']:.3f}"} for t in g["searched"]
        ],
    }


def _integrity(v: Verdict) -> dict | None:
    if not v.integrity:
        return None
    checks = [{**c.to_dict(), "passed": "yes" if c.passed else "NO"} for c in v.integrity]
    return {"checks": checks, "collapsed": v.collapsed or []}


def _numerics(v: Verdict) -> dict | None:
    n = v.numerics
    if n is None:
        return None
    return {**n.to_dict(), "word": "**FRAGILE**" if n.fragile else "stable"}


def _rule(v: Verdict) -> dict | None:
    r = v.rule
    if not r:
        return None
    state = {
        "registered": f"registered in the ledger on {r['registered_at']}",
        "unregistered": "not in the ledger (run `repro preregister`)",
        "reregistered": f"re-registered on {r['registered_at']} after evidence under an earlier rule: {r['reason']}",
        "changed_after_evidence": "**CHANGED AFTER EVIDENCE**: this rule differs from the registered rule that "
        "evidence was already produced under; re-register it explicitly with a reason or restore it",
    }[r["state"]]
    diff = r.get("diff")  # only where the rule changed (repro finalize's rule record)
    return {
        "fingerprint": r["fingerprint"],
        "state": state,
        "diff": diff or [],
        "previous_fingerprint": r["previous"]["fingerprint"] if diff else None,
    }


def _trace(v: Verdict) -> list[tuple[str, str, str]]:
    """The gates in the order they ran, as (gate, result, detail); the one that decided the verdict says so
    (repro.verdict's ``gate``)."""
    if not v.gates:
        return []
    rows = []
    for g in v.gates:
        if g.gate == v.gate:
            result = f"**decided: {v.verdict}**"
        elif g.gate == "decision":
            result = f"{v.decided or v.verdict}, reconsidered below"
        else:
            result = "passed" if g.passed else "FAILED"
        detail = g.detail
        if isinstance(detail, list):
            detail = "; ".join(str(x) for x in detail) or "–"
        rows.append((g.gate, result, fmt(detail)))
    if v.gate not in {g.gate for g in v.gates}:  # a gate that records no row of its own (property decision)
        rows.append((v.gate, f"**decided: {v.verdict}**", "the verdict's reason, above"))
    return rows


def _provenance(v: Verdict) -> dict | None:
    prov = v.provenance
    if not prov:
        return None
    return {**prov, "run_environments": prov.get("run_environments"), "runs": prov.get("runs")}


def render_html(
    table: pd.DataFrame,
    verdicts: list[Verdict] | list[Mapping[str, Any]],
    cards: dict[str, str],
    plots: dict[str, Path],
    scale: str,
    sections: bool = True,
) -> str:
    """The report: a count per verdict, the summary table, then (``sections``) each claim's plot and card
    (``templates/report.html.j2``, autoescaped: claim text is never markup). Without sections it is the table alone:
    small enough for Snakemake's report, which shows an HTML result inline as a data URL (Chromium shows none over
    2 MB, and the whole ci report, its plots embedded, is about 4 MB)."""
    counts = table["verdict"].value_counts()
    rows = []
    for r in table.itertuples(index=False):
        interval = f" [{fmt(r.ci_low)}, {fmt(r.ci_high)}]" if not math.isnan(r.ci_low) else ""
        rows.append({**r._asdict(), "effect": f"{fmt(r.effect)}{interval}"})
    claim_ids = sorted(as_verdict(v).claim_id for v in verdicts) if sections else []
    shown = [
        {
            "claim_id": claim_id,
            "png": base64.b64encode(Path(plots[claim_id]).read_bytes()).decode(),
            "card": cards[claim_id],
        }
        for claim_id in claim_ids
    ]
    template = _templates().get_template("report.html.j2")
    return template.render(
        scale=scale,
        scope=SCOPE[scale],
        counts=[(k, counts[k]) for k in VERDICTS if counts.get(k, 0)],
        colors=COLORS,
        rows=rows,
        sections=shown,
    )
