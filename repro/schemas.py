"""Table contracts for every table that crosses a rule boundary (pandera ``DataFrameModel``).

All models are ``strict`` (no unexpected columns) and ``coerce`` (parquet dtypes normalised), and
are validated lazily so that every failure is reported at once (:func:`validate`).
Grouped as: shared tables (curves, metrics, property instances, verdict rows), then one section
per experiment family (its prediction tables and curve columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

VERDICTS = ("verified", "falsified", "inconclusive", "invalid", "error", "not_run", "not_testable")


class TableError(ValueError):
    """A table failed its schema; ``cases`` holds pandera's failure cases (all of them)."""

    def __init__(self, table: str, cases: pd.DataFrame):
        self.table = table
        self.cases = cases
        lines = []
        for row in cases.head(20).itertuples(index=False):
            lines.append(
                f"    column {row.column!s}: check {row.check!s} failed on {row.failure_case!r} (index {row.index})"
            )
        more = f"\n    ... and {len(cases) - 20} more" if len(cases) > 20 else ""
        super().__init__(f"table {table!r} fails its schema ({len(cases)} failure(s)):\n" + "\n".join(lines) + more)


def validate(model: type[pa.DataFrameModel], df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Validate lazily; raise :class:`TableError` listing every failure."""
    try:
        return model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise TableError(table, exc.failure_cases) from None


class Strict(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = True


@dataclass(frozen=True)
class PredictionTable:
    """A family's prediction table: its schema, the columns that identify an item's input, and the
    columns that hold the model's outputs (the input-dependence integrity check reads these)."""

    schema: type[pa.DataFrameModel]
    input_columns: tuple[str, ...]
    output_columns: tuple[str, ...]


# ------------------------------------------------------------------ shared tables


class Curve(Strict):
    """Training curve: one row per logged step. Families extend it with their columns."""

    step: Series[int] = pa.Field(ge=0)

    @pa.dataframe_check
    def steps_increase(cls, df: pd.DataFrame) -> bool:
        return bool(df["step"].is_monotonic_increasing and df["step"].is_unique)


class RunMetrics(Strict):
    """Metrics of one run, computed by trusted code from the run's predictions and curve."""

    metric: Series[str] = pa.Field(unique=True)
    value: Series[float] = pa.Field(nullable=False)
    source_sha256: Series[str] = pa.Field(str_length={"min_value": 64, "max_value": 64})

    @pa.check("value")
    def finite(cls, s: pd.Series) -> pd.Series:
        return s.abs() < float("inf")


class PropertyInstances(Strict):
    """One row per checked instance. ``control`` rows are deliberately perturbed instances that must
    *violate* the identity: they show the check can fail (sensitivity)."""

    instance: Series[int] = pa.Field(ge=0)
    control: Series[bool]
    lhs: Series[float] = pa.Field(nullable=False)
    rhs: Series[float] = pa.Field(nullable=False)
    abs_err: Series[float] = pa.Field(ge=0.0)

    @pa.dataframe_check
    def abs_err_consistent(cls, df: pd.DataFrame) -> pd.Series:
        return (df["abs_err"] - (df["lhs"] - df["rhs"]).abs()).abs() <= 1e-9 * (1 + df["abs_err"].abs())


class VerdictRow(Strict):
    """One row of ``results/verdicts-<scale>.tsv``."""

    claim_id: Series[str]
    paper: Series[str]
    kind: Series[str] = pa.Field(isin=["reproduction", "property", "derivation", "textual"])
    scale: Series[str] = pa.Field(isin=["ci", "reduced", "full"])
    hypothesis: Series[str]
    verdict: Series[str] = pa.Field(isin=list(VERDICTS))
    reason: Series[str]
    metric: Series[str] = pa.Field(nullable=True)
    effect: Series[float] = pa.Field(nullable=True)
    effect_label: Series[str] = pa.Field(nullable=True)
    """What ``effect`` measures: a reproduction's treatment − baseline (metric), a property's largest error, ..."""
    ci_low: Series[float] = pa.Field(nullable=True)
    ci_high: Series[float] = pa.Field(nullable=True)
    theta: Series[float] = pa.Field(nullable=True)
    margin: Series[float] = pa.Field(nullable=True)
    n_seeds: Series[float] = pa.Field(nullable=True)
    p_verify: Series[float] = pa.Field(nullable=True)
    p_falsify: Series[float] = pa.Field(nullable=True)
    p_verify_adjusted: Series[float] = pa.Field(nullable=True)
    p_falsify_adjusted: Series[float] = pa.Field(nullable=True)
    mde: Series[float] = pa.Field(nullable=True)
    seeds_needed: Series[float] = pa.Field(nullable=True)
    rule_changed: Series[bool]
    fragile: Series[bool]
    seed_document: Series[str] = pa.Field(nullable=True)
    seed_relevance: Series[str] = pa.Field(nullable=True)
    claim_file: Series[str] = pa.Field(nullable=True)
    """The claim file the verdict was decided from, as the workflow named it."""
    claim_sha256: Series[str] = pa.Field(nullable=True)
    """Its content hash then: ``repro status`` flags a verdict whose claim file has changed since (stale)."""


# ------------------------------------------------------------------ mallows_bandit


class BanditPolicy(Strict):
    """Learned policy per (β, context, action), with the task's ground truth for scoring."""

    beta: Series[float] = pa.Field(gt=0.0)
    context: Series[int] = pa.Field(ge=0)
    action: Series[int] = pa.Field(ge=0)
    policy_prob: Series[float] = pa.Field(ge=0.0, le=1.0)
    reference_prob: Series[float] = pa.Field(gt=0.0, le=1.0)
    true_utility: Series[float]
    dispersion: Series[float] = pa.Field(gt=0.0, lt=1.0)
    neg_log_dispersion: Series[float] = pa.Field(gt=0.0)
    """c(x), the per-context multiplier of β in the loss the policy was trained with (MallowsPO-θ's dispersion
    estimate, after normalisation; 1 for DPO)."""

    @pa.dataframe_check
    def probabilities_sum_to_one(cls, df: pd.DataFrame) -> bool:
        sums = df.groupby(["beta", "context"])[["policy_prob", "reference_prob"]].sum()
        return bool(((sums - 1.0).abs() < 1e-4).all().all())


class BanditHeldoutPairs(Strict):
    """Held-out preference pairs (fresh annotators) and each β-policy's log-probability margin on them."""

    beta: Series[float] = pa.Field(gt=0.0)
    context: Series[int] = pa.Field(ge=0)
    action_a: Series[int] = pa.Field(ge=0)
    action_b: Series[int] = pa.Field(ge=0)
    a_preferred: Series[bool]
    logprob_margin: Series[float]
    """log π(a|x) − log π(b|x)."""


class BanditCurve(Curve):
    loss: Series[float]
    train_pair_accuracy: Series[float] = pa.Field(ge=0.0, le=1.0)
    kl_to_reference: Series[float] = pa.Field(ge=0.0)
    """Mean over contexts of KL(π‖π_ref) during training (a diagnostic curve; the final value is recomputed
    by repro.metrics from the predictions)."""


# ------------------------------------------------------------------ alpacaeval_lc (specified, not implemented)


class AlpacaEvalJudgements(Strict):
    """One row per AlpacaEval instruction: the judge's preference for the model over the reference output."""

    instruction: Series[int] = pa.Field(ge=0)
    model_length: Series[int] = pa.Field(ge=0)
    reference_length: Series[int] = pa.Field(ge=0)
    preference: Series[float] = pa.Field(ge=0.0, le=1.0)


# ------------------------------------------------------------------ planted (calibration family)


class PlantedItems(Strict):
    item: Series[int] = pa.Field(ge=0)
    label: Series[int] = pa.Field(isin=[0, 1])
    prob: Series[float] = pa.Field(ge=0.0, le=1.0)


class PlantedCurve(Curve):
    loss: Series[float]


# ------------------------------------------------------------------ dro_clip


class RetrievalRanks(Strict):
    """One row per retrieval query: the rank of its match in the gallery, on clean data (``perturbation``
    "clean", severity 0) or with one modality perturbed at severity 1–5."""

    perturbation: Series[str]
    modality: Series[str] = pa.Field(isin=["none", "image", "text"])
    """Which side was perturbed: the images (queries for image→text, gallery for text→image) or the captions."""
    category: Series[str]
    """Qiu et al.'s category (noise, blur, weather, digital, stylize; char, word) or "clean"."""
    severity: Series[int] = pa.Field(ge=0, le=5)
    direction: Series[str] = pa.Field(isin=["image_to_text", "text_to_image"])
    query: Series[int] = pa.Field(ge=0)
    group: Series[int] = pa.Field(ge=0)
    """The query pair's group (scene colour), for worst-group recall."""
    rank: Series[int] = pa.Field(ge=1)
    """1 + the number of other gallery items scoring at least as high as the match (ties count against it)."""

    @pa.dataframe_check
    def clean_is_severity_zero(cls, df: pd.DataFrame) -> pd.Series:
        return (df["perturbation"] == "clean") == (df["severity"] == 0)

    @pa.dataframe_check
    def ranks_within_gallery(cls, df: pd.DataFrame) -> bool:
        sizes = df.groupby(["perturbation", "severity", "direction"])["query"].transform("count")
        return bool((df["rank"] <= sizes).all())


class DroClipCurve(Curve):
    loss: Series[float]
    """The optimised objective (ERM: mean contrastive loss; group DRO: Σ_g q_g ℓ_g)."""
    mean_pair_loss: Series[float]
    worst_group_loss: Series[float]
    max_group_weight: Series[float] = pa.Field(ge=0.0, le=1.0)
    """Largest group weight: q_g for group DRO, the group's share of the batch for ERM."""
    q_max: Series[float] = pa.Field(gt=0.0, le=1.0)
    """max_g q_g, the largest weight of group DRO's adversary (Sagawa et al.'s Algorithm 1). ERM never updates q,
    so it stays at its uniform start 1/G."""
    groups: Series[int] = pa.Field(ge=1)
    """G, the number of groups q ranges over."""
    logit_scale: Series[float] = pa.Field(gt=0.0)


# ------------------------------------------------------------------ review profiles (repro.metrics.PROFILES)


class ProfileRows(Strict):
    """A run's review curves: y at x on each panel (e.g. R@1 at each severity of each perturbation)."""

    panel: Series[str]
    x: Series[float]
    y: Series[float]

    @pa.check("y")
    def finite(cls, s: pd.Series) -> pd.Series:
        return s.abs() < float("inf")


# ------------------------------------------------------------------ gdro_rlvr (GDRO, arXiv 2601.19280)

GDRO_MAX_BINS = 10
"""Curves carry per-bin columns for up to 10 difficulty bins (the paper's B = 10; the code's 3/6-bin cases fit)."""


class GdroSamples(Strict):
    """Held-out evaluation: one row per (prompt, sample); repro.metrics computes mean@k, pass@k and per-tier
    pass@k from it."""

    prompt_id: Series[int] = pa.Field(ge=0)
    uid: Series[str]
    tier: Series[int] = pa.Field(ge=0)
    sample: Series[int] = pa.Field(ge=0)
    correct: Series[bool]
    completion_length: Series[int] = pa.Field(ge=0)
    """Completion tokens up to and including EOS (all generated tokens if EOS never came)."""
    completion: Series[str]


class GdroTrainPrompts(Strict):
    """Training log: one row per (RL step, prompt) — the prompt's difficulty bin, the rollouts it received
    and the advantage multiplier applied to them (property checks read the realised budget from here)."""

    step: Series[int] = pa.Field(ge=0)
    uid: Series[str]
    tier: Series[int] = pa.Field(ge=0)
    bin: Series[int] = pa.Field(ge=0, lt=GDRO_MAX_BINS)
    """The bin the method acted on (allocation bin for Rollout-GDRO, g_t(x) otherwise)."""
    rollouts: Series[int] = pa.Field(ge=1)
    weight: Series[float] = pa.Field(ge=0.0)
    """Multiplier on the prompt's advantages (1 unless Prompt-GDRO)."""
    reward_mean: Series[float] = pa.Field(ge=-1.0, le=1.0)


class GdroCurve(Curve):
    """Per step: SFT loss for the warm start; reward, loss, KL, adversary state, rollout allocation and WSE for RL.
    Columns that do not apply to a run (RL columns of the warm start, bins that are empty) are null."""

    sft_loss: Series[float] = pa.Field(nullable=True)
    reward: Series[float] = pa.Field(nullable=True, ge=-1.0, le=1.0)
    loss: Series[float] = pa.Field(nullable=True)
    kl: Series[float] = pa.Field(nullable=True)
    adversary_signal: Series[float] = pa.Field(nullable=True)
    """Mean |ℓ(x_i)| of the step's prompt losses (Eq. 7): the scale of what the adversaries see."""
    mean_rollouts: Series[float] = pa.Field(nullable=True)
    min_rollouts: Series[float] = pa.Field(nullable=True)
    max_rollouts: Series[float] = pa.Field(nullable=True)
    mu: Series[float] = pa.Field(nullable=True)
    """Rollout-GDRO's shadow price (Eq. 21)."""
    wse: Series[float] = pa.Field(nullable=True)
    """Σ_b q̂(b) σ̂_b/√n_b (Eq. 33) under the realised allocation."""
    wse_uniform: Series[float] = pa.Field(nullable=True)
    """The same with n_b ≡ n̄ (the compute-matched uniform allocation)."""
    share_bin0: Series[float] = pa.Field(nullable=True)
    share_bin1: Series[float] = pa.Field(nullable=True)
    share_bin2: Series[float] = pa.Field(nullable=True)
    share_bin3: Series[float] = pa.Field(nullable=True)
    share_bin4: Series[float] = pa.Field(nullable=True)
    share_bin5: Series[float] = pa.Field(nullable=True)
    share_bin6: Series[float] = pa.Field(nullable=True)
    share_bin7: Series[float] = pa.Field(nullable=True)
    share_bin8: Series[float] = pa.Field(nullable=True)
    share_bin9: Series[float] = pa.Field(nullable=True)
    weight_bin0: Series[float] = pa.Field(nullable=True)
    weight_bin1: Series[float] = pa.Field(nullable=True)
    weight_bin2: Series[float] = pa.Field(nullable=True)
    weight_bin3: Series[float] = pa.Field(nullable=True)
    weight_bin4: Series[float] = pa.Field(nullable=True)
    weight_bin5: Series[float] = pa.Field(nullable=True)
    weight_bin6: Series[float] = pa.Field(nullable=True)
    weight_bin7: Series[float] = pa.Field(nullable=True)
    weight_bin8: Series[float] = pa.Field(nullable=True)
    weight_bin9: Series[float] = pa.Field(nullable=True)
    q_bin0: Series[float] = pa.Field(nullable=True)
    q_bin1: Series[float] = pa.Field(nullable=True)
    q_bin2: Series[float] = pa.Field(nullable=True)
    q_bin3: Series[float] = pa.Field(nullable=True)
    q_bin4: Series[float] = pa.Field(nullable=True)
    q_bin5: Series[float] = pa.Field(nullable=True)
    q_bin6: Series[float] = pa.Field(nullable=True)
    q_bin7: Series[float] = pa.Field(nullable=True)
    q_bin8: Series[float] = pa.Field(nullable=True)
    q_bin9: Series[float] = pa.Field(nullable=True)
    rollouts_bin0: Series[float] = pa.Field(nullable=True)
    rollouts_bin1: Series[float] = pa.Field(nullable=True)
    rollouts_bin2: Series[float] = pa.Field(nullable=True)
    rollouts_bin3: Series[float] = pa.Field(nullable=True)
    rollouts_bin4: Series[float] = pa.Field(nullable=True)
    rollouts_bin5: Series[float] = pa.Field(nullable=True)
    rollouts_bin6: Series[float] = pa.Field(nullable=True)
    rollouts_bin7: Series[float] = pa.Field(nullable=True)
    rollouts_bin8: Series[float] = pa.Field(nullable=True)
    rollouts_bin9: Series[float] = pa.Field(nullable=True)


# ------------------------------------------------------------------ care_rlvr / care_warm_start / care_vlm (CARE)


class CareAnswers(Strict):
    """One sampled answer per (benchmark, item, sample) of a synthetic visual-reasoning test set, scored by the
    task's verifier. ``prediction_token`` is the answer span's single token id (−1 when the span is missing
    or not one token)."""

    benchmark: Series[str] = pa.Field(isin=["count", "filter", "compare", "arith", "twostep", "distractor"])
    item: Series[int] = pa.Field(ge=0)
    sample: Series[int] = pa.Field(ge=0)
    target: Series[str]
    response: Series[str]
    prediction_token: Series[int] = pa.Field(ge=-1)
    correct: Series[bool]


class CareWarmStartCurve(Curve):
    loss: Series[float] = pa.Field(ge=0.0)
    """Cross-entropy of the demonstrations' response tokens (nats per token)."""


class CareCurve(Curve):
    """One row per RL step. Masses are Σ|A_i| over the step's responses (response-level advantages after
    all scaling); "failed" rollouts are those the verifier scored 0 as sampled."""

    loss: Series[float]
    reward_mean: Series[float] = pa.Field(ge=0.0, le=1.0)
    """Mean verifier reward of the step's rollouts as sampled (before any RGR repair)."""
    kl: Series[float] = pa.Field(ge=0.0)
    groups: Series[int] = pa.Field(ge=0)
    all_negative_groups: Series[int] = pa.Field(ge=0)
    all_negative_signalled: Series[int] = pa.Field(ge=0)
    """All-negative groups with a nonzero advantage (never under GRPO; all of them under CARE's rescue)."""
    all_positive_groups: Series[int] = pa.Field(ge=0)
    zero_signal_groups: Series[int] = pa.Field(ge=0)
    rescued_groups: Series[int] = pa.Field(ge=0)
    """All-negative groups given CARE's rescue subgroup (pseudo-anchor and diverse negatives)."""
    anchored_groups: Series[int] = pa.Field(ge=0)
    """Groups with a positive whose advantages come from CARE's anchored subgroup (anchor and ≥ 1 hard negative);
    never under GRPO or the untrained control."""
    advantage_mass: Series[float] = pa.Field(ge=0.0)
    advantage_mass_failed: Series[float] = pa.Field(ge=0.0)
    """Σ|A| on failed rollouts kept in the batch (hard negatives, rescue pseudo-anchors)."""
    advantage_mass_repaired: Series[float] = pa.Field(ge=0.0)
    """Σ|A| on RGR repairs that replaced a failure."""
    rgr_attempts: Series[int] = pa.Field(ge=0)
    rgr_repairs: Series[int] = pa.Field(ge=0)
    policy_decodes: Series[int] = pa.Field(ge=0)
    """Rollouts sampled for the step (prompts × G)."""
    extra_decodes: Series[int] = pa.Field(ge=0)
    """Additional decodes for the step (RGR re-decodes)."""
    step_seconds: Series[float] = pa.Field(ge=0.0)
    rgr_seconds: Series[float] = pa.Field(ge=0.0)
    """Wall time of the step spent building, decoding and scoring RGR repairs."""

    @pa.dataframe_check
    def subgroups_within_groups(cls, df: pd.DataFrame) -> pd.Series:
        return df["anchored_groups"] + df["rescued_groups"] <= df["groups"]


class VlmBenchmarkAnswers(Strict):
    """Scored answers of a vision-language model on named benchmarks (full-scale CARE; specified only)."""

    benchmark: Series[str]
    item: Series[int] = pa.Field(ge=0)
    sample: Series[int] = pa.Field(ge=0)
    correct: Series[bool]
