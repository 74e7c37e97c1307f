"""Name -> implementation maps: experiment families and property checks.

One explicit, greppable dict each, imported lazily so that ``import repro`` stays cheap.

An experiment family module (``repro/experiments/<name>.py``) provides:

- ``Params``: a pydantic model (``extra="forbid"``), one docstring per field (unit, source);
- ``SCALES``: ``{"ci": {...}, "reduced": {...}, "full": {...}}`` default overrides per scale;
- ``PREDICTIONS`` and ``CURVE``: pandera ``DataFrameModel`` classes for what the run writes;
- ``METRICS``: names in :data:`repro.metrics.METRICS` that apply to its predictions and curves;
- ``MECHANISM_DIAGNOSTICS``: those of its ``METRICS`` that show whether a method's mechanism engaged (``()`` when
  the family has none); a claim on the family names one in its ``mechanism`` block;
- ``INPUT_COLUMN`` / ``PREDICTION_COLUMNS``: which predictions columns hold the item input key and the
  model's outputs (used by the input-dependence integrity check);
- ``run(params, seed, rec)``: trains and evaluates, writing only predictions, curves and weight
  snapshots through the :class:`repro.runner.Recorder`. It never computes a headline metric.

- ``NOT_IMPLEMENTED``: ``None``, or the reason the family is specified but cannot run in repro (it
  then has no ``run``, and claims may only use it at scales marked ``not_run``).

A property check (``repro/properties/<topic>.py``) is a :class:`repro.properties.PropertyCheck`.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

EXPERIMENTS: dict[str, str] = {
    "mallows_bandit": "repro.experiments.mallows_bandit",
    "alpacaeval_lc": "repro.experiments.alpacaeval_lc",
    "planted": "repro.experiments.planted",
    "dro_clip": "repro.experiments.dro_clip",
    "gdro_rlvr": "repro.experiments.gdro_rlvr",
    "care_warm_start": "repro.experiments.care_warm_start",
    "care_rlvr": "repro.experiments.care_rlvr",
    "care_vlm": "repro.experiments.care_vlm",
}

PROPERTIES: dict[str, str] = {
    "mallowspo_constant_dispersion_is_dpo": "repro.properties.mallows:CONSTANT_DISPERSION_IS_DPO",
    "planted_identity": "repro.properties.planted:PLANTED_IDENTITY",
    "gdro_entropic_surrogate": "repro.properties.gdro:ENTROPIC_SURROGATE",
    "gdro_sqrt_allocation": "repro.properties.gdro:SQRT_LAW",
    "prompt_gdro_fixed_budget": "repro.properties.gdro:PROMPT_GDRO_BUDGET",
    "rollout_gdro_mean_budget": "repro.properties.gdro:ROLLOUT_GDRO_BUDGET",
    "care_one_positive_identity": "repro.properties.care:ONE_POSITIVE_IDENTITY",
    "care_rescue_delta_invariance": "repro.properties.care:RESCUE_DELTA_INVARIANCE",
    "care_rescue_signal": "repro.properties.care:RESCUE_SIGNAL",
    "care_rgr_training_decodes": "repro.properties.care:RGR_TRAINING_DECODES",
}


class RegistryError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} Known: {', '.join(sorted(known))}"


def get_experiment(name: str) -> ModuleType:
    if name not in EXPERIMENTS:
        raise RegistryError(f"unknown experiment {name!r}{_suggest(name, list(EXPERIMENTS))}")
    return importlib.import_module(EXPERIMENTS[name])


def get_property(name: str):
    if name not in PROPERTIES:
        raise RegistryError(f"unknown property check {name!r}{_suggest(name, list(PROPERTIES))}")
    module_name, attr = PROPERTIES[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


def is_runnable(module: ModuleType) -> bool:
    return module.NOT_IMPLEMENTED is None
