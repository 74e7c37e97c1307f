"""The verdict table of a scale, ``results/verdicts-<scale>.tsv`` (schemas.VerdictRow): one row per verdict, with
the adjusted p-values and flags a reviewer filters on, and ``repro status``'s view of it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from repro.report_style import COLORS, fmt
from repro.schemas import VerdictRow
from repro.tables import validate
from repro.verdict_record import Verdict, as_verdict

EFFECT_NAMES = {
    "difference": "treatment − baseline",
    "relative": "100·(treatment/baseline − 1) %",
    "value": "treatment value",
}
"""What a reproduction claim's effect is, by its expectation's ``effect``."""

NUMERIC_COLUMNS = (
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
)


def effect_label(v: Verdict) -> str | None:
    """What the ``effect`` column of the verdict's summary row measures (it differs by kind)."""
    if v.derivation is not None:
        return "recomputed value (θ: reported)"
    if v.property_result is not None:
        return "largest |lhs − rhs|"
    if v.grounded_text is not None:
        return "grounding score"
    if v.decision is not None and v.expectation:
        return f"{EFFECT_NAMES[v.expectation['effect']]} ({v.metric})"
    return None


def _num(x) -> float | None:
    return float(x) if x is not None and not (isinstance(x, float) and math.isnan(x)) else None


def _effect(v: Verdict) -> tuple[Any, Any, Any, Any]:
    """The row's effect, its interval and θ: the decision's, a derivation's recomputed value against the reported
    one, a property's largest error, a grounding's score."""
    d = v.decision
    effect, lo, hi = (d.estimate, d.lo, d.hi) if d is not None else (None, None, None)
    theta = v.expectation["value"] if v.expectation else None
    if v.derivation is not None:
        effect, (lo, hi) = v.derivation.computed, v.derivation.computed_interval
        theta = v.derivation.reported["value"]
    if v.property_result is not None:
        effect = v.property_result.max_abs_err
    if v.grounded_text is not None:
        effect = v.grounded_text["score"]
    return effect, lo, hi, theta


def summary_row(v: Verdict | Mapping[str, Any]) -> dict[str, Any]:
    """The verdict's row in ``verdicts-<scale>.tsv`` (schemas.VerdictRow)."""
    v = as_verdict(v)
    effect, lo, hi, theta = _effect(v)
    d, m = v.decision, v.multiplicity
    return {
        "claim_id": v.claim_id,
        "paper": v.paper,
        "kind": v.kind,
        "scale": v.scale,
        "hypothesis": v.hypothesis,
        "verdict": v.verdict,
        "reason": v.reason,
        "metric": v.metric,
        "effect": _num(effect),
        "effect_label": effect_label(v),
        "ci_low": _num(lo),
        "ci_high": _num(hi),
        "theta": _num(theta),
        "margin": _num(v.expectation["margin"] if v.expectation else None),
        "n_seeds": _num(v.effect_summary.n if v.effect_summary is not None else None),
        "p_verify": _num(d.p_verify if d is not None else None),
        "p_falsify": _num(d.p_falsify if d is not None else None),
        "p_verify_adjusted": _num(m.p_verify_adjusted if m is not None else None),
        "p_falsify_adjusted": _num(m.p_falsify_adjusted if m is not None else None),
        "mde": _num(v.power.mde if v.power is not None else None),
        "seeds_needed": _num(v.seeds_needed),
        "rule_changed": v.rule_changed,
        "fragile": v.fragile,
        "seed_document": v.seed_document,
        "seed_relevance": v.seed_relevance,
        "claim_file": v.claim_file.path if v.claim_file is not None else None,
        "claim_sha256": v.claim_file.sha256 if v.claim_file is not None else None,
    }


def summary_table(verdicts: list[Verdict] | list[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per claim; Holm's adjustment within each paper is already applied to each verdict (verdict.finalize)
    and its adjusted p-values are columns."""
    rows = [summary_row(v) for v in sorted(map(as_verdict, verdicts), key=lambda v: v.claim_id)]
    df = pd.DataFrame(rows)
    for col in NUMERIC_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
    columns = list(VerdictRow.to_schema().columns)
    return validate(VerdictRow, df[columns], "verdict summary")


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
        effect = "" if pd.isna(r.effect) else fmt(float(r.effect))
        if not pd.isna(r.ci_low):
            effect += f" [{fmt(float(r.ci_low))}, {fmt(float(r.ci_high))}]"
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
