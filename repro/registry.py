"""Name -> implementation maps: experiment families and property checks, and the family contract.

One explicit, greppable dict each, imported lazily so that ``import repro`` stays cheap. Adding a family is one
package under ``repro/families/`` and one line in :data:`FAMILIES` (docs/experiment-families.md).

A family package holds ``experiment.py`` (:class:`Experiment`), ``schemas.py`` (:class:`Schemas`), ``metrics.py``
(:class:`Metrics`), ``properties.py`` where it has property checks, and a README. Each module is checked against
its protocol once, when it is first loaded; a missing or mistyped member is a :class:`RegistryError` naming the
module and the member. The split is what keys follow: a run's code key covers the experiment (and the schemas and
shared methods/tasks it imports), a metrics job's key the scoring harness and the family's metrics and schemas.

A property check (``repro/families/<name>/properties.py``) is a :class:`repro.properties.PropertyCheck`.
"""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Protocol

FAMILIES: dict[str, str] = {
    "mallows_bandit": "repro.families.mallows_bandit",
    "alpacaeval_lc": "repro.families.alpacaeval_lc",
    "planted": "repro.families.planted",
    "dro_clip": "repro.families.dro_clip",
    "gdro_rlvr": "repro.families.gdro_rlvr",
    "care_warm_start": "repro.families.care_warm_start",
    "care_rlvr": "repro.families.care_rlvr",
    "care_vlm": "repro.families.care_vlm",
    "xling_mlm": "repro.families.xling_mlm",
    "robust_xling": "repro.families.robust_xling",
}

PROPERTIES: dict[str, str] = {
    "mallowspo_constant_dispersion_is_dpo": "repro.families.mallows_bandit.properties:CONSTANT_DISPERSION_IS_DPO",
    "planted_identity": "repro.families.planted.properties:PLANTED_IDENTITY",
    "gdro_entropic_surrogate": "repro.families.gdro_rlvr.properties:ENTROPIC_SURROGATE",
    "gdro_sqrt_allocation": "repro.families.gdro_rlvr.properties:SQRT_LAW",
    "prompt_gdro_fixed_budget": "repro.families.gdro_rlvr.properties:PROMPT_GDRO_BUDGET",
    "rollout_gdro_mean_budget": "repro.families.gdro_rlvr.properties:ROLLOUT_GDRO_BUDGET",
    "care_one_positive_identity": "repro.families.care_rlvr.properties:ONE_POSITIVE_IDENTITY",
    "care_rescue_delta_invariance": "repro.families.care_rlvr.properties:RESCUE_DELTA_INVARIANCE",
    "care_rescue_signal": "repro.families.care_rlvr.properties:RESCUE_SIGNAL",
    "care_rgr_training_decodes": "repro.families.care_rlvr.properties:RGR_TRAINING_DECODES",
}


class Experiment(Protocol):
    """``repro/families/<name>/experiment.py``: what a run of the family computes."""

    NOT_IMPLEMENTED: str | None
    """``None``, or why the family is specified but cannot run in repro (it then needs no ``run``, and claims may
    only use it at scales marked ``not_run``)."""
    Params: type
    """A pydantic model (``extra="forbid"``), one docstring per field (unit, source)."""
    SCALES: Mapping[str, Mapping[str, Any]]
    """``{"ci": {...}, "reduced": {...}, "full": {...}}``: default overrides per scale."""

    def run(self, params: Any, seed: int, rec: Any) -> None:
        """Train and evaluate, writing only predictions, curves, weight snapshots and a checkpoint through the
        :class:`repro.runner.Recorder`; never a headline metric. Required unless ``NOT_IMPLEMENTED``."""

    def requires(self, params: Any) -> dict:
        """Optional: prerequisite runs, ``{name: (experiment, params[, pinned seed])}`` (default: none)."""


class Schemas(Protocol):
    """``repro/families/<name>/schemas.py``: the pandera tables a run writes."""

    PREDICTIONS: Mapping[str, Any]
    """``{table: repro.tables.PredictionTable(schema, input columns, output columns)}``."""
    CURVE: type
    """A :class:`repro.tables.Curve` subclass."""


class Metrics(Protocol):
    """``repro/families/<name>/metrics.py``: the only list of the family's metric names."""

    METRICS: Mapping[str, Any]
    """``{name: repro.metrics.Metric}``, in the order metrics tables list them; ``mechanism=True`` marks the
    mechanism diagnostics a claim's ``mechanism`` block may name."""
    PROFILES: Mapping[str, Any]
    """Optional: ``{name: repro.metrics.Profile}`` review curves (default: none)."""


OPTIONAL: dict[type, dict[str, Any]] = {
    Experiment: {"requires": lambda params: {}},
    Metrics: {"PROFILES": {}},
}


class RegistryError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class FamilyModule:
    """A family module, checked against its protocol, with the protocol's defaults for absent optional members."""

    def __init__(self, module: ModuleType, protocol: type):
        self.module = module
        self.__name__ = module.__name__
        self._defaults = OPTIONAL.get(protocol, {})

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self.module, name)
        except AttributeError:
            if name in self._defaults:
                return self._defaults[name]
            raise


def members(protocol: type) -> list[str]:
    """The members a protocol declares: its annotated attributes, then its methods."""
    names = list(protocol.__annotations__)
    names += [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]
    return names


def check(module: ModuleType, protocol: type) -> FamilyModule:
    """``module`` against ``protocol``: every required member present (``run`` only if implemented)."""
    optional = set(OPTIONAL.get(protocol, {}))
    if protocol is Experiment and getattr(module, "NOT_IMPLEMENTED", None) is not None:
        optional.add("run")
    missing = [name for name in members(protocol) if name not in optional and not hasattr(module, name)]
    if missing:
        raise RegistryError(f"{module.__name__} lacks {', '.join(missing)} (see repro.registry.{protocol.__name__})")
    if protocol is Experiment and set(module.SCALES) != {"ci", "reduced", "full"}:
        scales = sorted(module.SCALES)
        raise RegistryError(f"{module.__name__}.SCALES must have exactly ci, reduced and full, not {scales}")
    if protocol is Metrics:  # duck-typed: importing repro.metrics here would put it in every run's code key
        bad = [name for name, m in module.METRICS.items() if not all(hasattr(m, a) for a in ("fn", "resolution"))]
        if bad:
            raise RegistryError(f"{module.__name__}.METRICS: {', '.join(bad)} are not repro.metrics.Metric")
    return FamilyModule(module, protocol)


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} Known: {', '.join(sorted(known))}"


def module_name(name: str, part: str) -> str:
    """The dotted name of family ``name``'s ``part`` module ("experiment", "schemas", "metrics", "properties")."""
    if name not in FAMILIES:
        raise RegistryError(f"unknown experiment {name!r}{_suggest(name, list(FAMILIES))}")
    return f"{FAMILIES[name]}.{part}"


@functools.cache
def _load(name: str, part: str, protocol: type) -> FamilyModule:
    return check(importlib.import_module(module_name(name, part)), protocol)


def get_experiment(name: str) -> Experiment:
    return _load(name, "experiment", Experiment)  # type: ignore[return-value]


def get_schemas(name: str) -> Schemas:
    return _load(name, "schemas", Schemas)  # type: ignore[return-value]


def get_metrics(name: str) -> Metrics:
    return _load(name, "metrics", Metrics)  # type: ignore[return-value]


def mechanism_diagnostics(name: str) -> tuple[str, ...]:
    """The family's metrics marked ``mechanism=True``, in their order."""
    return tuple(metric for metric, spec in get_metrics(name).METRICS.items() if spec.mechanism)


def get_property(name: str) -> Callable:
    if name not in PROPERTIES:
        raise RegistryError(f"unknown property check {name!r}{_suggest(name, list(PROPERTIES))}")
    module, attr = PROPERTIES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def is_runnable(family: Experiment) -> bool:
    return family.NOT_IMPLEMENTED is None
