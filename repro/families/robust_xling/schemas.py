"""Tables of robust cross-lingual fine-tuning: pair predictions, attacked predictions, alignment cosines."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from repro.tables import Curve, PredictionTable, Strict


class PairPredictions(Strict):
    """One row per test pair: both sentences in one language (``standard``, every language including English)
    or in two different languages (``generalized``, every ordered pair)."""

    setting: Series[str] = pa.Field(isin=["standard", "generalized"])
    lang_first: Series[str]
    lang_second: Series[str]
    item: Series[int] = pa.Field(ge=0)
    label: Series[int] = pa.Field(isin=[0, 1])
    """1: the second sentence paraphrases the first; 0: one word's concept differs."""
    prediction: Series[int] = pa.Field(isin=[0, 1])

    @pa.dataframe_check
    def setting_matches_languages(cls, df: pd.DataFrame) -> pd.Series:
        return (df["setting"] == "standard") == (df["lang_first"] == df["lang_second"])


class AttackedPredictions(Strict):
    """One row per attacked standard-setting pair: its prediction before and after the greedy worst-case synonym
    substitution attack, and the substitutions the attack made (≤ its budget; 0 when the clean prediction was
    already wrong)."""

    language: Series[str]
    item: Series[int] = pa.Field(ge=0)
    label: Series[int] = pa.Field(isin=[0, 1])
    clean_prediction: Series[int] = pa.Field(isin=[0, 1])
    prediction: Series[int] = pa.Field(isin=[0, 1])
    substitutions: Series[int] = pa.Field(ge=0)

    @pa.dataframe_check
    def attack_only_flips_correct_pairs(cls, df: pd.DataFrame) -> pd.Series:
        return (df["clean_prediction"] == df["label"]) | (df["substitutions"] == 0)


class AlignmentCosines(Strict):
    """Per target language and sentence: cosine of the pooled representation of an English sentence with its
    translation, with the translation of another sentence, and the translation's rank among all of them."""

    language: Series[str]
    item: Series[int] = pa.Field(ge=0)
    translation_cosine: Series[float] = pa.Field(ge=-1.0001, le=1.0001)
    random_cosine: Series[float] = pa.Field(ge=-1.0001, le=1.0001)
    translation_rank: Series[int] = pa.Field(ge=1)
    """Rank of the translation among the language's evaluated sentences by cosine with the English sentence (1 =
    nearest; ties count against it)."""


class RobustXlingCurve(Curve):
    loss: Series[float]
    """The optimised objective."""
    adv_ratio: Series[float] = pa.Field(ge=0.0, le=1.0001)
    """Adversarial training: mean ‖δ_t‖/(ε‖e_t‖) of the step's perturbation; 0 for other methods."""
    adv_loss_increase: Series[float]
    """Adversarial training: adversarial − clean task loss of the step; 0 for other methods."""
    noise_ratio: Series[float] = pa.Field(ge=0.0)
    """Randomized smoothing (noise): mean ‖noise_t‖/‖e_t‖ applied; 0 for other methods."""
    substitution_rate: Series[float] = pa.Field(ge=0.0, le=1.0)
    """Randomized smoothing (augmentation): share of the training copies' words replaced by a different neighbour;
    0 for other methods."""
    contrastive_loss: Series[float] = pa.Field(nullable=True)
    """Contrastive arm: the InfoNCE term of the step; NaN for other methods."""
    contrastive_chance: Series[float] = pa.Field(gt=0.0)
    """log(batch size): InfoNCE's value for features that carry no information."""
    lr: Series[float] = pa.Field(ge=0.0)


PREDICTIONS = {
    "pairs": PredictionTable(PairPredictions, ("setting", "lang_first", "lang_second", "item"), ("prediction",)),
    "attacked": PredictionTable(AttackedPredictions, ("language", "item"), ("prediction",)),
    "alignment": PredictionTable(AlignmentCosines, ("language", "item"), ("translation_cosine",)),
}
CURVE = RobustXlingCurve
