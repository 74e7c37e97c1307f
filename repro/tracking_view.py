"""What a reviewer reads in MLflow, as plain data (no mlflow import): run names, a claim run's metrics and tags, and
its description (the verdict card with the linked training runs, within MLflow's limit). repro.tracking writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro.verdict_record import Verdict

NOTE_LIMIT = 8000
"""MLflow's longest tag value (``mlflow.utils.validation.MAX_TAG_VAL_LENGTH``): a longer run description is cut."""
LINKS_MARKER = "\n## Linked training runs\n"


REVIEW_VIEW = "workflowType=machine_learning"
"""MLflow 3.17's UI chooses its GenAI or model-training view from this URL parameter (else the browser's last choice,
GenAI at first), not from the experiment's ``mlflow.experimentKind`` tag: review links carry it."""


def review_path(experiment_id: str) -> str:
    """The path (after the server's address) of a paper's runs table in MLflow's model-training view."""
    return f"#/experiments/{experiment_id}/runs?{REVIEW_VIEW}"


def claim_run_name(v: Verdict, scale: str) -> str:
    """The claim run's name, verdict first: the runs list shows it without configuring a column, even where the UI cuts
    the name to its column's width."""
    flags = "".join(f", {flag}" for flag, on in (("rule changed", v.rule_changed), ("fragile", v.fragile)) if on)
    return f"{v.verdict}{flags}: {v.claim_id} [{scale}]"


def training_run_name(record: dict, arms: list[str]) -> str:
    """A training run's name: family, the claims' names for its arm, seed, and the content key beside them."""
    return f"{record['experiment']} {'/'.join(arms)} seed{record['seed']} [{record['scale']} {record['arm_key']}]"


def claim_metrics(v: Verdict) -> dict[str, Any]:
    """The claim run's metrics (None: not logged): the effect with its interval, p-values raw and adjusted, θ, δ."""
    d, exp, m = v.decision, v.expectation or {}, v.multiplicity
    metrics = {
        "effect": d.estimate if d is not None else None,
        "ci_low": d.lo if d is not None else None,
        "ci_high": d.hi if d is not None else None,
        "p_verify": d.p_verify if d is not None else None,
        "p_falsify": d.p_falsify if d is not None else None,
        "n_seeds": v.effect_summary.n if v.effect_summary is not None else None,
        "prob_improvement": v.prob_improvement.estimate if v.prob_improvement is not None else None,
        "theta": exp["value"] if exp else None,
        "margin": exp["margin"] if exp else None,
        "p_verify_adjusted": m.p_verify_adjusted if m is not None else None,
        "p_falsify_adjusted": m.p_falsify_adjusted if m is not None else None,
        "mde": v.power.mde if v.power is not None else None,
    }
    if v.derivation is not None:
        metrics.update(
            effect=v.derivation.computed,
            ci_low=v.derivation.computed_interval[0],
            ci_high=v.derivation.computed_interval[1],
            theta=v.derivation.reported["value"],
        )
    if v.property_result is not None:
        metrics.update(effect=v.property_result.max_abs_err)
    return metrics


def claim_tags(v: Verdict, scale: str, card: Path) -> list[tuple[str, str]]:
    return [
        ("repro_claim_id", v.claim_id),
        ("repro_scale", scale),
        ("repro_kind", v.kind),
        ("repro_verdict", v.verdict),
        ("repro_hypothesis", v.hypothesis[:5000]),
        ("repro_reason", v.reason[:5000]),
        ("repro_paper", v.paper),
        ("repro_seed_document", v.seed_document or ""),
        ("repro_seed_relevance", v.seed_relevance or ""),
        ("repro_open_question", "true" if v.open_question else "false"),
        ("repro_gate", v.gate),
        ("repro_rule_changed_after_evidence", "true" if v.rule_changed else "false"),
        ("repro_fragile", "true" if v.fragile else "false"),
        ("mlflow.note.content", run_note(card.read_text(encoding="utf-8"), card.name, [])),
    ]


def run_note(card: str, card_name: str, links: list[str]) -> str:
    """A claim run's description: its card, then the training runs it links (``links``: one markdown line each).

    Within MLflow's :data:`NOTE_LIMIT`: a card too long is cut at a line and says where the whole card is (the run's
    artifact ``card_name``); links beyond half the limit are counted, not listed (all are in ``repro_training_runs``).
    """
    listing = LINKS_MARKER + "".join(links) if links else ""
    if len(card) + len(listing) <= NOTE_LIMIT:
        return card + listing
    if len(listing) > NOTE_LIMIT // 2:
        kept, size = [], len(LINKS_MARKER) + 80
        for line in links:
            if size + len(line) > NOTE_LIMIT // 2:
                break
            kept.append(line)
            size += len(line)
        listing = LINKS_MARKER + "".join(kept) + f"- … and {len(links) - len(kept)} more (tag repro_training_runs)\n"
    if len(card) + len(listing) <= NOTE_LIMIT:
        return card + listing
    pointer = (
        f"\n\n*The card is cut here to fit MLflow's {NOTE_LIMIT}-character description: the whole card is this "
        f"run's artifact `{card_name}`.*\n"
    )
    budget = NOTE_LIMIT - len(listing) - len(pointer)
    return card[: card.rfind("\n", 0, budget) + 1].rstrip("\n") + pointer + listing
