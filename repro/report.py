"""Human-readable outputs of a verdict: the markdown card, the effect-vs-claim plot, the summary
table with per-paper multiplicity adjustment, and the HTML report.

Every rendering states the scale and the hypothesis tested: a ci- or reduced-scale verdict is
about that scale's hypothesis, never the paper's headline number.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from repro.schemas import VERDICTS, VerdictRow, validate
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
    """The verdict card (markdown, beside the verdict JSON and its plot ``<claim>.png``)."""
    runs = (v.get("provenance") or {}).get("runs")
    if v["kind"] == "property" and runs:
        scope = PROPERTY_OF_RUNS_SCOPE.format(runs=runs)
    else:
        scope = KIND_SCOPE.get(v["kind"]) or SCOPE[v["scale"]]
    lines = [
        f"# {v['verdict'].upper()} — `{v['claim_id']}` (scale: {v['scale']})",
        "",
        f"**Tested hypothesis ({v['scale']}):** {v['hypothesis']}",
        "",
        f"**Verdict:** {v['verdict']} — {v['reason']}",
        "",
        f"> **Scope.** {scope}",
        "",
    ]
    if v["verdict"] not in ("not_run", "not_testable"):
        lines += [f"![{v['claim_id']}: evidence against the claim]({v['claim_id']}.png)", ""]
    if (v.get("rule") or {}).get("state") == "changed_after_evidence":
        lines += ["> **Warning: the decision rule was changed after its evidence existed** (see *Decision rule*).", ""]
    if (v.get("numerics") or {}).get("fragile"):
        lines += ["> **Fragile:** the verdict differs under a second numeric environment (see *Numerics*).", ""]
    lines += [
        "## Claim",
        f"- **Statement:** {v['statement']}",
        f"- **Quote:** “{v['quote']}”",
        f"- **Paper:** [arXiv:{v['paper']}](https://arxiv.org/abs/{v['paper']}) — {v['paper_title']}; {v['locator']}",
    ]
    if v.get("seed_document"):
        lines.append(
            f"- **Seed document:** `{v['seed_document']}` — bears on its research question: "
            f"**{v['seed_relevance']}**" + (f" ({v['seed_note']})" if v.get("seed_note") else "")
        )
    if v.get("open_question"):
        oq = v["open_question"]
        rests = ", ".join(f"arXiv:{a}" for a in [v["paper"], *oq["rests_on"]])
        lines.append(
            f"- **Open research question** posed by `{v['seed_document']}`: no paper makes this claim; repro "
            f"answers it with its own experiment. It rests on {rests}; the quote is the seed document's."
            + (f" {oq['note']}" if oq.get("note") else "")
        )
    if v.get("notes"):
        lines.append(f"- **Notes:** {v['notes']}")
    if v.get("arms"):
        exp = v["expectation"]
        lines += [
            "",
            "## Evidence",
            f"Metric: `{v['metric']}` ({'higher' if v['higher_is_better'] else 'lower'} is better).",
            "",
            "| arm | role | n | mean | sd | min | median | max |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, arm in v["arms"].items():
            lines.append(
                f"| {name} | {arm['role']} | {arm['n']} | {_fmt(arm['mean'])} | {_fmt(arm['sd'])} | "
                f"{_fmt(arm['min'])} | {_fmt(arm['median'])} | {_fmt(arm['max'])} |"
            )
        if v.get("decision"):
            d = v["decision"]
            effect_name = EFFECT_NAMES[exp["effect"]]
            level = 1 - 2 * exp["alpha"]
            lines += [
                "",
                f"- **Effect ({effect_name}):** {_fmt(d['estimate'])}, "
                f"{'prediction interval' if d['mode'] == 'prediction interval' else f'{level:.0%} interval'} "
                f"[{_fmt(d['lo'])}, {_fmt(d['hi'])}]",
                f"- **Expectation:** {exp['relation']} θ = {_fmt(exp['value'] if exp['value'] is not None else 0.0)}, "
                f"margin δ = {_fmt(exp['margin'])}, α = {exp['alpha']}; rule: {d['mode']}",
                f"- **When it decides:** {decision_rule_text(exp)}",
                f"- **p (verify) = {_fmt(d['p_verify'], 3)}, p (falsify) = {_fmt(d['p_falsify'], 3)}** — the one-sided "
                f"p-values of the test that verifies the claim and of the test that falsifies it: at most α = "
                f"{exp['alpha']} decides that way",
            ]
            if v.get("prob_improvement"):
                pi = v["prob_improvement"]
                lines.append(
                    f"- **P(treatment better than baseline):** {_fmt(pi['estimate'], 3)} "
                    f"[{_fmt(pi['lo'], 3)}, {_fmt(pi['hi'], 3)}] (paired, bootstrap)"
                )
            if v.get("bootstrap_cross_check"):
                b = v["bootstrap_cross_check"]
                lines.append(f"- Bootstrap cross-check of the effect's interval: [{_fmt(b['lo'])}, {_fmt(b['hi'])}]")
            if v.get("seeds_needed"):
                lines.append(f"- **Seeds that would decide it:** about {v['seeds_needed']} (power 0.8)")
    if v.get("arm_metrics"):
        level = 1 - 2 * v["expectation"]["alpha"]
        arm_names = list(v["arms"])
        lines += [
            "",
            f"## All metrics per arm (mean over seeds [{level:.0%} t-interval])",
            "| metric | " + " | ".join(arm_names) + " |",
            "|---|" + "---|" * len(arm_names),
        ]
        for metric, per_arm in v["arm_metrics"].items():
            cells = []
            for arm in arm_names:
                m = per_arm.get(arm)
                interval = f" [{_fmt(m['lo'], 3)}, {_fmt(m['hi'], 3)}]" if m and m["lo"] is not None else ""
                cells.append(f"{_fmt(m['mean'], 3)}{interval}" if m else "–")
            lines.append(f"| {metric}{' (claim)' if metric == v['metric'] else ''} | " + " | ".join(cells) + " |")
    lines += _control_lines(v) + _mechanism_lines(v) + _power_lines(v) + _multiplicity_lines(v)
    if v.get("property"):
        p = v["property"]
        lines += [
            "",
            "## Property",
            f"- **Identity:** {v['equation']}",
            f"- **Instances:** {p['instances']} (violations: {p['violations']}), tolerance {_fmt(v['tolerance'])}",
            f"- **Largest |lhs − rhs|:** {_fmt(p['max_abs_err'])}",
            f"- **Perturbed controls:** {p['controls']}, smallest |lhs − rhs| {_fmt(p['control_min_abs_err'])}",
        ]
    if v.get("derivation"):
        d = v["derivation"]
        lines += [
            "",
            "## Derivation",
            f"- **Formula:** `{d['formula']}`",
            "",
            "| input | value | rounding | source |",
            "|---|---|---|---|",
        ]
        for name, inp in d["inputs"].items():
            lines.append(f"| {name} | {inp['value']:g} | ±{inp['precision'] / 2:g} | {inp['source']} |")
        lines += [
            "",
            f"- **Computed:** {_fmt(d['computed'], 6)} ∈ [{_fmt(d['computed_interval'][0], 6)}, "
            f"{_fmt(d['computed_interval'][1], 6)}]",
            f"- **Reported:** {d['reported']['value']:g} ± {d['reported']['precision'] / 2:g} "
            f"({d['reported']['source']})",
        ]
    if (v.get("grounding") or {}).get("cached"):
        g = v["grounding"]
        loc = g["location"]
        where = f"`{g['cache']}/{g['file']}`, line {loc['line']}"
        where += f", page {loc['page']}" if loc.get("page") else ""
        where += f", section “{loc['section']}”" if loc.get("section") else ""
        lines += [
            "",
            "## Grounding",
            f"- **Match:** {g['status']} — score {g['score']:.3f} (grounded ≥ {g['thresholds']['grounded']}, "
            f"absent < {g['thresholds']['absent']}); exact normalised match: {'yes' if g['exact'] else 'no'}",
            f"- **Where:** {where}",
            f"- **Matched passage:** “{g['passage']}”",
        ]
        if g["missing"]:
            lines.append(f"- **Quote words not in the passage (stems):** {', '.join(g['missing'])}")
        if g["status"] == "grounded" and g["missing"] and g["score"] - g["thresholds"]["grounded"] < BORDERLINE:
            lines.append(
                f"- **Borderline:** the score {g['score']:.3f} is within {BORDERLINE} of the grounded threshold "
                f"{g['thresholds']['grounded']} and quote words are missing from the passage: compare the two by hand"
            )
        if g["missing_numbers"]:
            lines.append(f"- **Quote numbers not in the passage:** {', '.join(g['missing_numbers'])}")
        lines += ["", "| text searched | complete | best score | source |", "|---|---|---|---|"]
        for t in g["searched"]:
            lines.append(f"| {t['file']} | {'yes' if t['complete'] else 'no'} | {t['score']:.3f} | {t['source']} |")
    if v.get("integrity"):
        lines += ["", "## Integrity", "| check | passed | detail |", "|---|---|---|"]
        for c in v["integrity"]:
            lines.append(f"| {c['name']} | {'yes' if c['passed'] else 'NO'} | {c['detail']} |")
        for run in v.get("collapsed") or []:
            lines.append(
                f"- **Collapsed (a real outcome, not a stub):** `{run['dir']}` trained (weights and curve moved) but "
                f"its `{run['table']}` outputs are the same for every input"
            )
    lines += _numerics_lines(v) + _rule_lines(v)
    lines += _trace_lines(v)
    if v.get("provenance"):
        prov = v["provenance"]
        lines += [
            "",
            "## Provenance",
            f"- repro {prov['repro']} at commit `{prov['commit']}` (dirty: {prov['dirty']})",
            f"- Python {prov['python']}, numpy {prov['numpy']}, pandas {prov['pandas']}",
        ]
        if prov.get("run_environments"):
            lines.append(f"- Run environments: {'; '.join(prov['run_environments'])}")
        if prov.get("runs"):
            lines.append(f"- Runs: {prov['runs']}")
    return "\n".join(lines) + "\n"


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


def _trace_lines(v: dict) -> list[str]:
    """The gates in the order they ran; the one that decided the verdict says so (repro.verdict's ``gate``)."""
    if not v.get("gates"):
        return []
    lines = ["", "## Decision trace", "| gate | result | detail |", "|---|---|---|"]
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
        lines.append(f"| {g['gate']} | {result} | {_fmt(detail)} |")
    if v["gate"] not in {g["gate"] for g in v["gates"]}:  # a gate that records no row of its own (property decision)
        lines.append(f"| {v['gate']} | **decided: {v['verdict']}** | the verdict's reason, above |")
    return lines


def _control_lines(v: dict) -> list[str]:
    if not v.get("negative_controls"):
        return []
    lines = [
        "",
        "## Negative controls (gates: sensitivity, inert treatment)",
        f"An arm clears a control when the lower bound of its gap exceeds the metric's resolution "
        f"{_fmt(v['resolution'])} (the smallest difference `{v['metric']}` can honestly resolve).",
        "",
        "| control | treatment's gap | lower bound | treatment clears it | arms that clear it |",
        "|---|---|---|---|---|",
    ]
    for g in v["negative_controls"]:
        lines.append(
            f"| {g['control']} | {_fmt(g['mean'])} | {_fmt(g['lo'])} | {'yes' if g['passed'] else 'NO'} "
            f"| {', '.join(g['cleared_by']) or 'none'} |"
        )
    return lines


def _mechanism_lines(v: dict) -> list[str]:
    m = v.get("mechanism")
    if not m:
        return []
    word = "≥" if m["relation"] == "at_least" else "≤"
    per_arm = ", ".join(f"{arm} {_fmt(x, 3)}" for arm, x in m["per_arm"].items())
    return [
        "",
        "## Mechanism (did the treatment's mechanism engage?)",
        f"- **{m['diagnostic']}** on the treatment: {_fmt(m['mean'])} (per seed: "
        f"{', '.join(_fmt(x, 3) for x in m['values'])}); engaged needs {word} {_fmt(m['threshold'])}: "
        f"**{'yes' if m['engaged'] else 'NO'}**",
        f"- Why this threshold: {m['source']}",
        f"- Per arm (mean): {per_arm}",
    ]


def _power_lines(v: dict) -> list[str]:
    p = v.get("power")
    if not p:
        return []
    verdict = "can" if p["detects_margin"] else "cannot"
    return [
        "",
        "## Power",
        f"- Minimum detectable effect at 80 % power with {p['n']} seeds (sd of the per-seed effect "
        f"{_fmt(p['sd'])}): **{_fmt(p['mde'])}**; these seeds {verdict} detect the margin δ = {_fmt(p['margin'])}",
    ]


def _multiplicity_lines(v: dict) -> list[str]:
    m = v.get("multiplicity")
    if not m or m["p_verify"] is None:
        return []
    return [
        "",
        "## Multiplicity",
        f"- {m['method']}, over the paper's {m['m']} reproduction claims at this scale: "
        f"p (verify) {_fmt(m['p_verify'], 3)} → adjusted {_fmt(m['p_verify_adjusted'], 3)}; "
        f"p (falsify) {_fmt(m['p_falsify'], 3)} → adjusted {_fmt(m['p_falsify_adjusted'], 3)}",
    ]


def _numerics_lines(v: dict) -> list[str]:
    n = v.get("numerics")
    if not n:
        return []
    if n["reference_verdict"] is None:
        return ["", f"- **Numerics:** no decision under `{n['reference']}` for this claim"]
    word = "**FRAGILE**" if n["fragile"] else "stable"
    return [
        "",
        "## Numerics",
        f"- {word}: decided `{v['decided']}` here and `{n['reference_verdict']}` under `{n['reference']}`",
    ]


def _rule_lines(v: dict) -> list[str]:
    r = v.get("rule")
    if not r:
        return []
    state = {
        "registered": f"registered in the ledger on {r['registered_at']}",
        "unregistered": "not in the ledger (run `repro preregister`)",
        "reregistered": f"re-registered on {r['registered_at']} after evidence under an earlier rule: {r['reason']}",
        "changed_after_evidence": "**CHANGED AFTER EVIDENCE**: this rule differs from the registered rule that "
        "evidence was already produced under; re-register it explicitly with a reason or restore it",
    }[r["state"]]
    lines = ["", "## Decision rule (preregistration)", f"- Fingerprint `{r['fingerprint']}`: {state}"]
    if r.get("diff"):
        lines += [
            "",
            f"| field | registered (`{r['previous']['fingerprint']}`) | now (`{r['fingerprint']}`) |",
            "|---|---|---|",
        ]
        for key, old, new in r["diff"]:
            lines.append(f"| {key} | {_fmt(old)} | {_fmt(new)} |")
    return lines


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
    """The effect figure on top, and below it each review profile (repro.metrics.PROFILES) as small multiples:
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
    counts = table["verdict"].value_counts()
    chips = " ".join(
        f'<span class="v" style="background:{COLORS[k]}">{k}: {counts.get(k, 0)}</span>'
        for k in VERDICTS
        if counts.get(k, 0)
    )
    rows = []
    for r in table.itertuples(index=False):
        interval = f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" if not math.isnan(r.ci_low) else ""
        rows.append(
            f"<tr><td><a href='#{html.escape(r.claim_id)}'>{html.escape(r.claim_id)}</a></td><td>{r.kind}</td>"
            f"<td>{html.escape(r.hypothesis)}</td><td><span class='v' style='background:{COLORS[r.verdict]}'>"
            f"{r.verdict}</span></td><td>{_fmt(r.effect)} {interval}</td><td>{html.escape(r.reason)}</td></tr>"
        )
    sections = []
    for v in sorted(verdicts, key=lambda v: v["claim_id"]):
        png = base64.b64encode(Path(plots[v["claim_id"]]).read_bytes()).decode()
        sections.append(
            f"<section id='{html.escape(v['claim_id'])}'><img src='data:image/png;base64,{png}'/>"
            f"<pre>{html.escape(cards[v['claim_id']])}</pre></section>"
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>repro verdicts ({scale})</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #d0d7de;padding:4px 6px;font-size:13px;vertical-align:top}}
.v{{color:white;border-radius:4px;padding:1px 6px;font-size:12px}}pre{{white-space:pre-wrap;font-size:12px;
background:#f6f8fa;padding:1em}}img{{max-width:100%}}</style></head><body>
<h1>repro verdicts — scale <code>{scale}</code></h1>
<p>{html.escape(SCOPE[scale])}</p><p>{chips}</p>
<table><tr><th>claim</th><th>kind</th><th>hypothesis tested</th><th>verdict</th><th>effect [interval]</th>
<th>reason</th></tr>
{"".join(rows)}</table>{"".join(sections)}</body></html>
"""


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


def print_status(rows: list[StatusRow], console) -> None:
    """The verdict table: a rich table on a terminal (``console``: a ``rich.console.Console``), else plain text with
    one head line per claim (grep finds a claim's verdict) and its hypothesis, reason and card below it."""
    if console.is_terminal:
        console.print(_status_table(rows))
        return
    out = console.file
    width = max([len("claim"), *(len(r.claim_id) for r in rows)])
    effect_width = max([len("effect [interval]"), *(len(r.effect) for r in rows)])
    print(f"{'claim':{width}}  {'verdict':12}  {'kind':12}  {'effect [interval]':{effect_width}}  measures", file=out)
    for r in rows:
        flags = " ".join(f"[{flag}]" for flag in r.flags)
        head = f"{r.claim_id:{width}}  {r.verdict:12}  {r.kind:12}  {r.effect:{effect_width}}  {r.effect_label}"
        print(f"{head.rstrip()}  {flags}".rstrip(), file=out)
        for name, text in (("hypothesis", r.hypothesis), ("reason", r.reason), ("card", r.card)):
            print(f"    {name}: {text}", file=out)


def _status_table(rows: list[StatusRow]):
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
