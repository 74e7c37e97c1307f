"""The scoring harness: a run's metrics from its files, and nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from repro.metrics import MetricsError


def distinct_output_profiles(
    df: pd.DataFrame, input_columns: tuple[str, ...], output_columns: tuple[str, ...]
) -> tuple[int, int]:
    """(number of distinct inputs, number of distinct output profiles across inputs).

    An input's output profile is the sequence of its rows' output values (in table order, rounded to 12 decimals);
    a model whose outputs ignore the input produces one profile for every input. A shorter profile is padded with
    NaN, as pandas' pivot pads it: profiles of different lengths differ unless the longer one's extra values are all
    NaN. -0.0 equals 0.0 and NaN equals NaN (as in pandas' ``drop_duplicates``). Input columns hold no nulls (the
    family's schema says so): a null there raises.
    """
    ids = df.groupby(list(input_columns), sort=False).ngroup().to_numpy()
    if not len(ids):
        return 0, 0
    values = df[list(output_columns)].to_numpy(dtype=float).round(12) + 0.0  # + 0.0 turns -0.0 into 0.0
    order = np.argsort(ids, kind="stable")  # each input's rows, in table order
    counts = np.bincount(ids)
    starts = np.cumsum(counts) - counts
    profiles = np.full((len(counts), counts.max(), values.shape[1]), np.nan)  # padded: shorter profiles end in NaN
    profiles[ids[order], np.arange(len(ids)) - starts[ids[order]]] = values[order]
    profiles = np.where(np.isnan(profiles), np.nan, profiles).reshape(len(counts), -1)  # one NaN bit pattern
    rows = np.ascontiguousarray(profiles).view(np.dtype((np.void, profiles.itemsize * profiles.shape[1]))).ravel()
    return len(counts), len(np.unique(rows))


def compute_run_metrics(run_json: Path) -> tuple[pd.DataFrame, dict]:
    """Score one run from its files. Returns (RunMetrics table, diagnostics).

    Re-validates every table against the family's schema and checks each file's sha256 against
    the hash the harness recorded, so metrics are only ever computed from what the run wrote.
    """
    from repro import registry
    from repro.files import read_json, sha256_file, sha256_json
    from repro.metrics.tables import ProfileRows, RunMetrics
    from repro.tables import validate

    run_json = Path(run_json)
    record = read_json(run_json)
    if record["status"] != "completed":
        raise MetricsError(
            f"run status is {record['status']!r}; see its log (error: {str(record.get('error'))[-300:]})"
        )
    family = registry.get_schemas(record["experiment"])
    scorer = registry.get_metrics(record["experiment"])
    artifacts = record["artifacts"]
    tables: dict[str, pd.DataFrame] = {}
    hashes = {}
    diagnostics: dict[str, float] = {}
    for name, spec in family.PREDICTIONS.items():
        entry = artifacts["tables"].get(name)
        if entry is None:
            raise MetricsError(f"prediction table {name!r} is missing from run.json")
        path = run_json.parent / entry["file"]
        if not path.is_file():
            raise MetricsError(f"prediction table file {path} is missing")
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise MetricsError(f"{path} changed after the run wrote it (sha256 mismatch: truncated or edited)")
        tables[name] = validate(spec.schema, pd.read_parquet(path), name)
        hashes[name] = digest
        n_inputs, n_profiles = distinct_output_profiles(tables[name], spec.input_columns, spec.output_columns)
        diagnostics[f"{name}.inputs"] = n_inputs
        diagnostics[f"{name}.distinct_output_profiles"] = n_profiles
    curve_path = run_json.parent / artifacts["curve"]["file"]
    if sha256_file(curve_path) != artifacts["curve"]["sha256"]:
        raise MetricsError(f"{curve_path} changed after the run wrote it (sha256 mismatch: truncated or edited)")
    curve = validate(family.CURVE, pd.read_parquet(curve_path), "curve")
    source = sha256_json(hashes)
    rows = []
    for name, metric in scorer.METRICS.items():
        value = metric.fn(tables, curve)
        if not np.isfinite(value):
            raise MetricsError(f"metric {name} is not finite ({value})")
        rows.append({"metric": name, "value": float(value), "source_sha256": source})
    table = validate(RunMetrics, pd.DataFrame(rows, columns=["metric", "value", "source_sha256"]), "metrics")
    profiles = {}
    for name, profile in scorer.PROFILES.items():
        frame = validate(ProfileRows, profile.fn(tables, curve), f"profile {name}")
        profiles[name] = {column: frame[column].tolist() for column in ("panel", "x", "y")}
    return table, {
        "source_sha256": source,
        "prediction_sha256": hashes,
        "input_dependence": diagnostics,
        "profiles": profiles,
    }
