"""Retrieval ranks under perturbations and the CLIP training curve."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Curve, PredictionTable, Strict


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
    q_argmax: Series[int] = pa.Field(ge=0)
    """The group holding q's largest weight (colour groups: 0 = most common … 5 = rarest; corruption groups: index
    into ``corruption_groups``, 0 = clean)."""
    groups: Series[int] = pa.Field(ge=1)
    """G, the number of groups q ranges over."""
    logit_scale: Series[float] = pa.Field(gt=0.0)


PREDICTIONS = {"ranks": PredictionTable(RetrievalRanks, ("perturbation", "severity", "direction", "query"), ("rank",))}
CURVE = DroClipCurve
