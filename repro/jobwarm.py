"""What the job server (:mod:`repro.jobserver`) loads before it forks: the heavy libraries (:data:`PRELOAD`), the
project's modules the served verbs use with the caches of their parsed source, Pillow's plugins and every table
contract's pandera schema. A fork inherits all of it, so a job pays only for its own work."""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import sys

from repro.jobserver import _project_modules

PRELOAD = (
    "numpy",
    "torch",
    "torch._dynamo",  # imported by constructing any torch.optim optimiser (about 2 s); transformers imports it too
    "pandas",
    "pyarrow.parquet",
    "pyarrow.dataset",  # pandas.read_parquet imports it on its first call
    "pandera.pandas",
    "pydantic",
    "yaml",
    "tqdm",
    "scipy.stats",
    "matplotlib.pyplot",
    "matplotlib.backends.backend_agg",  # loaded by the first figure a job draws (verdict plots)
    "PIL.PngImagePlugin",  # and by the first PNG it writes
    "transformers.modeling_utils",
    "transformers.models.qwen2.modeling_qwen2",
    "transformers.models.qwen3.modeling_qwen3",
    "open_clip",
)
WARM_ROOTS = ("repro.cli.runs", "repro.cli.verdicts", "repro.runner", "repro.verdict", "repro.report", "repro.ledger")
"""Modules whose closures (with every family's experiment, schemas and metrics) the server imports: the served
verbs' code. mlflow is not among them (:mod:`repro.tracking` imports it where it writes): it is loaded on demand."""
HEAVY = ("torch", "transformers", "open_clip")
"""The libraries only training runs and property checks use. The light server (:mod:`repro.jobserver`) has none."""
LIGHT_PRELOAD = tuple(name for name in PRELOAD if name.split(".")[0] not in HEAVY)
LIGHT_ROOTS = ("repro.cli.runs", "repro.cli.verdicts", "repro.cli.status", "repro.verdict", "repro.report")
"""The light server's project modules: the closures of the scoring, deciding and reporting verbs'
(:data:`repro.jobclient.LIGHT_VERBS`) code, with every family's schemas and metrics but not its experiment."""
ON_DEMAND = {"track": ("mlflow", "mlflow.store.tracking.sqlalchemy_store", "repro.tracking:remember_schema_head")}
"""Verb -> what the server imports (``module``) or imports and calls (``module:function``) before it forks that
verb's first job (:func:`repro.jobserver.load_on_demand`), and keeps for the next: libraries only some workflows use.
``track`` (one job per paper) spent about 3.5 s of each job's 9 s importing mlflow and its SQL store, and 0.9 s
finding the newest schema revision of MLflow's store; a workflow that writes no MLflow run never loads it."""


def _cli_parser() -> None:
    from repro.cli import parser

    parser()


def warm_project(light: bool = False) -> int:
    """Import the project modules the served verbs use (:data:`WARM_ROOTS`, every family's experiment, schemas and
    metrics, and what they import; ``light``: :data:`LIGHT_ROOTS`, schemas and metrics) and fill the caches of their
    parsed source that code keys and integrity checks read. Returns how many project modules are loaded. What fails
    here is left to the fork, which reports it."""
    from repro import codekeys, integrity, registry

    families = sorted(registry.FAMILIES)
    parts = ("schemas", "metrics") if light else ("experiment", "schemas", "metrics")
    roots = [
        *(LIGHT_ROOTS if light else WARM_ROOTS),
        *(registry.module_name(f, part) for f in families for part in parts),
    ]
    names: set[str] = set()
    for root in roots:
        with contextlib.suppress(Exception):
            names |= codekeys.closure_modules(root)
    for name in sorted(names):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    warmers = [integrity.judging_modules, codekeys.decision_key, codekeys.verdict_key, _cli_parser]
    warmers += [functools.partial(key, f) for f in families for key in (codekeys.run_key, codekeys.metrics_key)]
    warmers += [functools.partial(codekeys.property_key, check) for check in registry.PROPERTIES]
    warmers += [functools.partial(integrity.scan_sources, registry.module_name(f, "experiment")) for f in families]
    loaders = (
        (registry.get_schemas, registry.get_metrics)
        if light
        else (registry.get_experiment, registry.get_schemas, registry.get_metrics)
    )
    warmers += [functools.partial(load, f) for f in families for load in loaders]
    for warm in warmers:
        with contextlib.suppress(Exception):
            warm()
    return len(_project_modules())


def _image_plugins() -> None:
    """Load Pillow's standard image plugins, which its first saved image (each verdict's plot) loads otherwise."""
    from PIL import Image

    Image.preinit()


def _warm_tables() -> int:
    """Build every table contract's pandera schema (pandera builds one per model on its first use and caches it per
    model and thread: the forks run their jobs in the thread that warmed them) and validate once, which registers
    pandera's pandas backends and imports the modules validation loads lazily. Each fork otherwise did this for
    every table it read or wrote: about 75 ms of a 240 ms ``compute-metrics`` job. Returns how many schemas."""
    import pandas as pd
    import pandera.pandas as pa

    models = {
        value
        for name in _project_modules()
        for value in vars(sys.modules[name]).values()
        if isinstance(value, type) and issubclass(value, pa.DataFrameModel) and value.__module__ == name
    }
    schemas = []
    for model in sorted(models, key=lambda m: (m.__module__, m.__qualname__)):
        with contextlib.suppress(Exception):
            schemas.append(model.to_schema())
    if schemas:
        with contextlib.suppress(Exception):
            schemas[0].validate(pd.DataFrame({"_": [0]}), lazy=True)
    return len(schemas)


def freeze_heap() -> int:
    """Move every object this process holds out of the garbage collector's reach (``gc.freeze``); returns how many
    are frozen. A fork inherits the server's heap (some 600 000 objects after the warm-up) and its collector's
    counters: a full collection in a fork walked all of them, writing to every page it shared with the server (0.43 s
    a fork here), and whether a job met one depended on where the counters stood. After the server imported mlflow,
    24 compute-metrics jobs took 15.7 s instead of 4.7 (measured with benchmarks/served_jobs.py). The server's objects
    are loaded modules, which live as long as it does; a frozen object is never collected."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def warm_up(light: bool = False) -> tuple[int, int]:
    """Everything above, in the calling thread (the one the server forks from): the libraries, the project's modules
    and caches, Pillow's plugins, the table schemas; then the heap is frozen. ``light``: without :data:`HEAVY` and
    the families' experiments. Returns how many project modules are loaded and how many objects are frozen."""
    for name in LIGHT_PRELOAD if light else PRELOAD:
        importlib.import_module(name)
    loaded = warm_project(light)
    with contextlib.suppress(Exception):
        _image_plugins()
    _warm_tables()
    return loaded, freeze_heap()
