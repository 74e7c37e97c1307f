"""Human-readable outputs of a verdict: the markdown card, the effect-vs-claim plot, the summary
table with per-paper multiplicity adjustment, and the HTML report.

Every rendering states the scale and the hypothesis tested: a ci- or reduced-scale verdict is
about that scale's hypothesis, never the paper's headline number.
"""

from __future__ import annotations

import base64
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from repro.schemas import VERDICTS, VerdictRow
from repro.tables import validate
from repro.verdict import EFFECT_NAMES, summary_row

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
COLORS = {
    "verified": "#1a7f37",
    "falsified": "#cf222e",
    "inconclusive": "#9a6700",
    "invalid": "#8250df",
    "error": "#57606a",
    "not_run": "#6e7781",
    "not_testable": "#6e7781",
}


def _fmt(x, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if math.isnan(x):
            return "–"
        return f"{x:.{digits}g}"
    return str(x)


PROPERTY_OF_RUNS_SCOPE = (
    "A statement about training runs, checked on the artifacts of real runs of this scale ({runs}); the verdict "
    "concerns those runs."
)
BORDERLINE = 0.02
"""A grounding score this close above the grounded threshold, with quote words missing, is called borderline."""


def render_card(v: dict) -> str:
    """The verdict card (markdown, beside the verdict JSON and its plot ``<claim>.png``). Its layout is
    ``templates/card.md.j2``; what is decided here: each ``_<section>(v)`` returns None where its section does
    not apply, else the section's values, formatted where the wording depends on them (``_fmt`` for the rest)."""
    template = _templates().get_template("card.md.j2")
    return template.render(
        v=v,
        scope=_scope(v),
        show_plot=v["verdict"] not in ("not_run", "not_testable"),
        rule_changed=(v.get("rule") or {}).get("state") == "changed_after_evidence",
        fragile=bool((v.get("numerics") or {}).get("fragile")),
        seed=_seed(v),
        open_question=_open_question(v),
        notes=v.get("notes"),
        evidence=_evidence(v),
        arm_metrics=_arm_metrics(v),
        controls=_controls(v),
        mechanism=_mechanism(v),
        power=_power(v),
        multiplicity=_multiplicity(v),
        property=v.get("property"),
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
    env.filters["fmt"] = _fmt
    return env


def _scope(v: dict) -> str:
    runs = (v.get("provenance") or {}).get("runs")
    if v["kind"] == "property" and runs:
        return PROPERTY_OF_RUNS_SCOPE.format(runs=runs)
    return KIND_SCOPE.get(v["kind"]) or SCOPE[v["scale"]]


def _seed(v: dict) -> dict | None:
    if not v.get("seed_document"):
        return None
    note = f" ({v['seed_note']})" if v.get("seed_note") else ""
    return {"document": v["seed_document"], "relevance": v["seed_relevance"], "note": note}


def _open_question(v: dict) -> dict | None:
    oq = v.get("open_question")
    if not oq:
        return None
    return {
        "document": v["seed_document"],
        "rests_on": ", ".join(f"arXiv:{a}" for a in [v["paper"], *oq["rests_on"]]),
        "note": f" {oq['note']}" if oq.get("note") else "",
    }


def _evidence(v: dict) -> dict | None:
    if not v.get("arms"):
        return None
    return {
        "direction": "higher" if v["higher_is_better"] else "lower",
        "arms": list(v["arms"].items()),
        "decision": _decision(v),
    }


def _decision(v: dict) -> dict | None:
    d = v.get("decision")
    if not d:
        return None
    exp = v["expectation"]
    level = 1 - 2 * exp["alpha"]
    return {
        **d,
        "effect_name": EFFECT_NAMES[exp["effect"]],
        "interval_name": "prediction interval" if d["mode"] == "prediction interval" else f"{level:.0%} interval",
        "relation": exp["relation"],
        "theta": exp["value"] if exp["value"] is not None else 0.0,
        "margin": exp["margin"],
        "alpha": exp["alpha"],
        "rule_text": decision_rule_text(exp),
        "prob_improvement": v.get("prob_improvement"),
        "bootstrap": v.get("bootstrap_cross_check"),
        "seeds_needed": v.get("seeds_needed"),
    }


def _arm_metrics(v: dict) -> dict | None:
    """Each metric's mean [t-interval] per arm, a row per metric; the claim's metric says so."""
    if not v.get("arm_metrics"):
        return None
    arm_names = list(v["arms"])
    rows = []
    for metric, per_arm in v["arm_metrics"].items():
        cells = []
        for arm in arm_names:
            m = per_arm.get(arm)
            interval = f" [{_fmt(m['lo'], 3)}, {_fmt(m['hi'], 3)}]" if m and m["lo"] is not None else ""
            cells.append(f"{_fmt(m['mean'], 3)}{interval}" if m else "–")
        rows.append((f"{metric}{' (claim)' if metric == v['metric'] else ''}", cells))
    return {"level": f"{1 - 2 * v['expectation']['alpha']:.0%}", "arms": arm_names, "rows": rows}


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
            f"verified when the interval lies inside θ ± δ = ({_fmt(theta - delta)}, {_fmt(theta + delta)}); falsified "
            f"when a {1 - exp['alpha']:.0%} interval lies outside it"
        )
    if relation == "at_least":
        return (
            f"the boundary is θ − δ = {_fmt(theta - delta)} (x̄ − θ = −δ = {-delta:g}): verified when the interval's "
            "lower bound is above it, falsified when its upper bound is below it"
        )
    if relation == "at_most":
        return (
            f"the boundary is θ + δ = {_fmt(theta + delta)} (x̄ − θ = δ = {delta:g}): verified when the interval's "
            "upper bound is below it, falsified when its lower bound is above it"
        )
    raise ValueError(f"unknown relation {relation!r}")


def _controls(v: dict) -> dict | None:
    if not v.get("negative_controls"):
        return None
    gaps = [
        {**g, "passed": "yes" if g["passed"] else "NO", "cleared_by": ", ".join(g["cleared_by"]) or "none"}
        for g in v["negative_controls"]
    ]
    return {"resolution": v["resolution"], "gaps": gaps}


def _mechanism(v: dict) -> dict | None:
    m = v.get("mechanism")
    if not m:
        return None
    return {
        **m,
        "word": "≥" if m["relation"] == "at_least" else "≤",
        "per_seed": ", ".join(_fmt(x, 3) for x in m["values"]),
        "engaged": "yes" if m["engaged"] else "NO",
        "per_arm": ", ".join(f"{arm} {_fmt(x, 3)}" for arm, x in m["per_arm"].items()),
    }


def _power(v: dict) -> dict | None:
    p = v.get("power")
    if not p:
        return None
    return {**p, "can": "can" if p["detects_margin"] else "cannot"}


def _multiplicity(v: dict) -> dict | None:
    m = v.get("multiplicity")
    return m if m and m["p_verify"] is not None else None


def _derivation(v: dict) -> dict | None:
    d = v.get("derivation")
    if not d:
        return None
    return {
        "formula": d["formula"],
        "inputs": [
            (name, f"{inp['value']:g}", f"{inp['precision'] / 2:g}", inp["source"]) for name, inp in d["inputs"].items()
        ],
        "computed": d["computed"],
        "computed_lo": d["computed_interval"][0],
        "computed_hi": d["computed_interval"][1],
        "reported": f"{d['reported']['value']:g}",
        "reported_rounding": f"{d['reported']['precision'] / 2:g}",
        "reported_source": d["reported"]["source"],
    }


def _grounding(v: dict) -> dict | None:
    """Where the quote was found in the cached paper text, and a borderline flag (``BORDERLINE``)."""
    g = v.get("grounding") or {}
    if not g.get("cached"):
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


def _integrity(v: dict) -> dict | None:
    if not v.get("integrity"):
        return None
    checks = [{**c, "passed": "yes" if c["passed"] else "NO"} for c in v["integrity"]]
    return {"checks": checks, "collapsed": v.get("collapsed") or []}


def _numerics(v: dict) -> dict | None:
    n = v.get("numerics")
    if not n:
        return None
    return {**n, "word": "**FRAGILE**" if n["fragile"] else "stable"}


def _rule(v: dict) -> dict | None:
    r = v.get("rule")
    if not r:
        return None
    state = {
        "registered": f"registered in the ledger on {r['registered_at']}",
        "unregistered": "not in the ledger (run `repro preregister`)",
        "reregistered": f"re-registered on {r['registered_at']} after evidence under an earlier rule: {r['reason']}",
        "changed_after_evidence": "**CHANGED AFTER EVIDENCE**: this rule differs from the registered rule that "
        "evidence was already produced under; re-register it explicitly with a reason or restore it",
    }[r["state"]]
    return {
        "fingerprint": r["fingerprint"],
        "state": state,
        "diff": r.get("diff") or [],
        "previous_fingerprint": r["previous"]["fingerprint"] if r.get("diff") else None,
    }


def _trace(v: dict) -> list[tuple[str, str, str]]:
    """The gates in the order they ran, as (gate, result, detail); the one that decided the verdict says so
    (repro.verdict's ``gate``)."""
    if not v.get("gates"):
        return []
    rows = []
    for g in v["gates"]:
        if g["gate"] == v["gate"]:
            result = f"**decided: {v['verdict']}**"
        elif g["gate"] == "decision":
            result = f"{v.get('decided', v['verdict'])}, reconsidered below"
        else:
            result = "passed" if g["passed"] else "FAILED"
        detail = g["detail"]
        if isinstance(detail, list):
            detail = "; ".join(str(x) for x in detail) or "–"
        rows.append((g["gate"], result, _fmt(detail)))
    if v["gate"] not in {g["gate"] for g in v["gates"]}:  # a gate that records no row of its own (property decision)
        rows.append((v["gate"], f"**decided: {v['verdict']}**", "the verdict's reason, above"))
    return rows


def _provenance(v: dict) -> dict | None:
    prov = v.get("provenance")
    if not prov:
        return None
    return {**prov, "run_environments": prov.get("run_environments"), "runs": prov.get("runs")}


def render_plot(v: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    color = COLORS[v["verdict"]]
    title = f"{v['claim_id']} [{v['scale']}]: {v['verdict']}"
    if v.get("decision") and v.get("arms"):
        if v.get("profiles"):
            fig, (ax_arms, ax_eff) = _figure_with_profiles(plt, v)
        else:
            fig, (ax_arms, ax_eff) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
        names = list(v["arms"])
        for i, name in enumerate(names):
            arm = v["arms"][name]
            ax_arms.scatter(
                [i] * arm["n"],
                arm["values"],
                s=12,
                alpha=0.6,
                color="#cf222e" if arm["role"] == "negative control" else "#0969da",
            )
            ax_arms.hlines(arm["mean"], i - 0.25, i + 0.25, color="black")
        ax_arms.set_xticks(range(len(names)), [f"{n}\n({v['arms'][n]['role']})" for n in names], fontsize=7)
        ax_arms.set_ylabel(v["metric"])
        ax_arms.set_title("per-seed values (bar: mean)", fontsize=9)
        d, exp = v["decision"], v["expectation"]
        theta = exp["value"] if exp["value"] is not None else 0.0
        ax_eff.errorbar(
            [d["estimate"]],
            [0],
            xerr=[[d["estimate"] - d["lo"]], [d["hi"] - d["estimate"]]],
            fmt="o",
            color=color,
            capsize=6,
            label="effect and interval",
        )
        if v.get("effect_values") is not None:
            ax_eff.scatter(
                v["effect_values"], [0.15] * len(v["effect_values"]), s=10, alpha=0.5, color="gray", label="per seed"
            )
        if exp["relation"] in ("greater", "less"):
            ax_eff.axvline(0, color="black", lw=1, label="0")
            ax_eff.axvspan(-exp["margin"], exp["margin"], color="gray", alpha=0.15, label=f"±δ = {exp['margin']:g}")
        else:
            ax_eff.axvline(theta, color="#0969da", lw=1.5, label=f"claimed θ = {theta:g}")
            ax_eff.axvspan(theta - exp["margin"], theta + exp["margin"], color="#0969da", alpha=0.12, label="θ ± δ")
        ax_eff.set_yticks([])
        ax_eff.set_ylim(-0.5, 0.5)
        ax_eff.legend(fontsize=7, loc="upper right")
        ax_eff.set_title(f"effect ({exp['effect']}) vs claim", fontsize=9)
    elif v.get("derivation"):
        fig, ax = plt.subplots(figsize=(7, 2.4))
        d = v["derivation"]
        lo, hi = d["computed_interval"]
        ax.errorbar(
            [d["computed"]],
            [0.2],
            xerr=[[d["computed"] - lo], [hi - d["computed"]]],
            fmt="o",
            color=color,
            capsize=6,
            label=f"recomputed: {d['formula']}",
        )
        rlo, rhi = d["reported_interval"]
        ax.errorbar(
            [d["reported"]["value"]],
            [-0.2],
            xerr=[[d["reported"]["value"] - rlo], [rhi - d["reported"]["value"]]],
            fmt="s",
            color="#0969da",
            capsize=6,
            label="reported (± rounding)",
        )
        ax.set_yticks([])
        ax.set_ylim(-0.6, 0.6)
        ax.legend(fontsize=7)
    elif v.get("property"):
        fig, ax = plt.subplots(figsize=(7, 2.8))
        p = v["property"]
        tol = v["tolerance"]
        ax.axvline(max(tol, 1e-300), color="black", lw=1, label=f"tolerance {tol:g}")
        ax.scatter([max(p["max_abs_err"], 1e-300)], [0.2], color=color, label="largest |lhs − rhs| over instances")
        if p["control_min_abs_err"] is not None:
            ax.scatter(
                [max(p["control_min_abs_err"], 1e-300)],
                [-0.2],
                color="#cf222e",
                marker="x",
                label="smallest |lhs − rhs| over perturbed controls",
            )
        ax.set_xscale("log")
        ax.set_yticks([])
        ax.set_ylim(-0.6, 0.6)
        ax.legend(fontsize=7)
    else:
        fig, ax = plt.subplots(figsize=(7, 1.6))
        ax.axis("off")
        ax.text(0.01, 0.5, f"{v['verdict']}: {v['reason'][:150]}", fontsize=8, va="center", wrap=True)
    fig.suptitle(title, fontsize=10, color=color)
    if not fig.get_constrained_layout():
        fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)


PROFILE_COLUMNS = 6


def _figure_with_profiles(plt, v: dict):
    """The effect figure on top, and below it each review profile (each family's ``PROFILES``) as small multiples:
    one panel per profile panel (e.g. per perturbation), one line per arm with its t-interval over seeds."""
    panels = [(name, panel) for name, profile in v["profiles"].items() for panel in profile["panels"]]
    rows = math.ceil(len(panels) / PROFILE_COLUMNS)
    fig = plt.figure(figsize=(12, 3.8 + 1.9 * rows), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.8, 1.9 * rows])
    axes = top.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    grid = bottom.subplots(rows, PROFILE_COLUMNS, sharex=True, sharey=True, squeeze=False).ravel()
    arm_colors = {arm: plt.get_cmap("tab10")(i % 10) for i, arm in enumerate(v["arms"])}
    for ax, (name, panel) in zip(grid, panels, strict=False):
        profile = v["profiles"][name]
        for arm, line in profile["panels"][panel].items():
            ax.plot(line["x"], line["mean"], marker="o", ms=2.5, lw=1.2, color=arm_colors[arm], label=arm)
            if all(lo is not None for lo in line["lo"]):
                ax.fill_between(line["x"], line["lo"], line["hi"], color=arm_colors[arm], alpha=0.12, lw=0)
        ax.set_title(panel, fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in grid[len(panels) :]:
        ax.axis("off")
    first = v["profiles"][panels[0][0]]
    bottom.supxlabel(first["x_label"], fontsize=8)
    bottom.supylabel(first["y_label"], fontsize=8)
    handles, labels = grid[0].get_legend_handles_labels()
    bottom.legend(handles, labels, loc="outside upper center", ncol=len(labels), fontsize=7, frameon=False)
    return fig, axes


def summary_table(verdicts: list[dict]) -> pd.DataFrame:
    """One row per claim; Holm's adjustment within each paper is already applied to each verdict (verdict.finalize)
    and its adjusted p-values are columns."""
    rows = [summary_row(v) for v in sorted(verdicts, key=lambda v: v["claim_id"])]
    df = pd.DataFrame(rows)
    for col in (
        "effect",
        "ci_low",
        "ci_high",
        "theta",
        "margin",
        "n_seeds",
        "p_verify",
        "p_falsify",
        "p_verify_adjusted",
        "p_falsify_adjusted",
        "mde",
        "seeds_needed",
    ):
        df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
    columns = list(VerdictRow.to_schema().columns)
    return validate(VerdictRow, df[columns], "verdict summary")


def render_html(
    table: pd.DataFrame, verdicts: list[dict], cards: dict[str, str], plots: dict[str, Path], scale: str
) -> str:
    """The report: a count per verdict, the summary table, then each claim's plot and card
    (``templates/report.html.j2``, autoescaped: claim text is never markup)."""
    counts = table["verdict"].value_counts()
    rows = []
    for r in table.itertuples(index=False):
        interval = f" [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" if not math.isnan(r.ci_low) else ""
        rows.append({**r._asdict(), "effect": f"{_fmt(r.effect)}{interval}"})
    sections = [
        {
            "claim_id": v["claim_id"],
            "png": base64.b64encode(Path(plots[v["claim_id"]]).read_bytes()).decode(),
            "card": cards[v["claim_id"]],
        }
        for v in sorted(verdicts, key=lambda v: v["claim_id"])
    ]
    template = _templates().get_template("report.html.j2")
    return template.render(
        scale=scale,
        scope=SCOPE[scale],
        counts=[(k, counts[k]) for k in VERDICTS if counts.get(k, 0)],
        colors=COLORS,
        rows=rows,
        sections=sections,
    )


# ------------------------------------------------------------------ repro status


@dataclass(frozen=True)
class StatusRow:
    """One claim's line in ``repro status``."""

    claim_id: str
    verdict: str
    kind: str
    effect: str
    """The effect and its interval, formatted ("" when the verdict has none)."""
    effect_label: str
    """What the effect measures (summary column ``effect_label``)."""
    flags: list[str]
    """rule_changed, fragile, stale: conditions a reviewer must see beside the verdict."""
    hypothesis: str
    reason: str
    card: str


def status_rows(table: pd.DataFrame, stale: set[str], cards: Path) -> list[StatusRow]:
    """``table``: a ``verdicts-<scale>.tsv`` (schemas.VerdictRow); ``stale``: claims whose file changed since their
    verdict; ``cards``: the folder of the scale's cards."""
    rows = []
    for r in table.itertuples(index=False):
        effect = "" if pd.isna(r.effect) else _fmt(float(r.effect))
        if not pd.isna(r.ci_low):
            effect += f" [{_fmt(float(r.ci_low))}, {_fmt(float(r.ci_high))}]"
        flags = [flag for flag in ("rule_changed", "fragile") if getattr(r, flag)]
        flags += ["stale"] if r.claim_id in stale else []
        rows.append(
            StatusRow(
                claim_id=r.claim_id,
                verdict=r.verdict,
                kind=r.kind,
                effect=effect,
                effect_label="" if pd.isna(r.effect_label) else r.effect_label,
                flags=flags,
                hypothesis=r.hypothesis,
                reason=r.reason,
                card=str(cards / f"{r.claim_id}.md"),
            )
        )
    return rows


def status_text(rows: list[StatusRow]) -> str:
    """The verdict table as plain text (piped, or read by a script): one head line per claim (grep finds a claim's
    verdict) and its hypothesis, reason and card below it; ``status_table`` is the terminal's view."""
    width = max([len("claim"), *(len(r.claim_id) for r in rows)])
    effect_width = max([len("effect [interval]"), *(len(r.effect) for r in rows)])
    lines = [f"{'claim':{width}}  {'verdict':12}  {'kind':12}  {'effect [interval]':{effect_width}}  measures"]
    for r in rows:
        flags = " ".join(f"[{flag}]" for flag in r.flags)
        head = f"{r.claim_id:{width}}  {r.verdict:12}  {r.kind:12}  {r.effect:{effect_width}}  {r.effect_label}"
        lines.append(f"{head.rstrip()}  {flags}".rstrip())
        lines += [
            f"    {name}: {text}"
            for name, text in (("hypothesis", r.hypothesis), ("reason", r.reason), ("card", r.card))
        ]
    return "\n".join(lines) + "\n"


def status_table(rows: list[StatusRow]):
    """The verdict table on a terminal: a rich table, verdicts in their report colours."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=True, header_style="bold")
    table.add_column("claim", overflow="fold", min_width=16)
    table.add_column("verdict", no_wrap=True)
    table.add_column("effect [interval]", min_width=14)
    table.add_column("hypothesis tested", ratio=3, min_width=20)
    table.add_column("reason, card", ratio=3, min_width=20, overflow="fold")
    for r in rows:
        claim = Text(r.claim_id)
        claim.append(f"\n{r.kind}", style="dim")
        for flag in r.flags:
            claim.append(f"\n[{flag}]", style="bold yellow")
        effect = Text(r.effect)
        if r.effect_label:
            effect.append(f"\n{r.effect_label}", style="dim")
        reason = Text(r.reason)
        reason.append(f"\n{r.card}", style=f"dim link file://{Path(r.card).resolve()}")
        table.add_row(claim, Text(r.verdict, style=f"bold {COLORS[r.verdict]}"), effect, Text(r.hypothesis), reason)
    return table
