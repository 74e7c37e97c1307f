"""The harness around one experiment run: determinism, recording, provenance, failure capture.

The harness, not the experiment, owns everything an integrity check later relies on: it times
the run, hashes the parameters of the model (or optimiser) the experiment trains at its two
snapshots and measures how far they moved, validates and hashes every table as it is written,
records the numeric environment, and writes ``run.json`` last and atomically. A Python exception
inside the experiment becomes ``status: failed`` with its traceback (the claim's verdict is then
``error`` while other claims proceed); a killed process leaves no ``run.json``, so Snakemake
treats the job as incomplete. So does a run that runs out of room (a full disk, a file-size limit): that is the
machine's failure, not the experiment's, and a ``failed`` record would stand after the disk is freed. It raises
instead (a :class:`repro.files.WriteError` naming the file when the harness could not write it) and removes what
it wrote: no table, checkpoint or record of it remains.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import random
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repro import registry
from repro.codekeys import run_key
from repro.files import WriteError, out_of_space, read_json, sha256_file, write_json, write_parquet, write_with
from repro.runspec import RunSpec, arm_key
from repro.tables import validate

RUN_SCHEMA_VERSION = 2
"""2: weight snapshots record their ``source``, ``n_tensors`` and ``same_as_init``; the numeric environment."""


class Recorder:
    """What an experiment may write — curve rows, prediction tables, two weight snapshots and a
    checkpoint — and what it may read: the checkpoints of its prerequisite runs."""

    def __init__(self, out_dir: Path, family, requires: dict[str, RunSpec] | None = None):
        """``family``: the family's schemas module (:class:`repro.registry.Schemas`): the tables it may write."""
        self.out_dir = Path(out_dir)
        self.family = family
        self.requires = requires or {}
        self._curve: list[dict[str, float]] = []
        self._tables: dict[str, dict[str, Any]] = {}
        self._weights: dict[str, dict[str, Any]] = {}
        self._checkpoint: dict[str, Any] | None = None
        self._init: tuple | None = None
        """(object, parameter tensors, flattened float64 values) of the 'init' snapshot."""
        self.write_error: WriteError | None = None
        """The first artifact the harness could not write: the run fails with it even if the experiment caught it."""

    def progress(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "train"):
        """A progress bar on stderr (the rule's log)."""
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, file=sys.stderr, mininterval=2.0, ascii=True, ncols=80)

    @property
    def steps_logged(self) -> int:
        return len(self._curve)

    def log_curve(self, step: int, **values: float) -> None:
        self._curve.append({"step": int(step), **{k: float(v) for k, v in values.items()}})

    def snapshot_weights(self, tag: str, trained) -> None:
        """Hash the parameters the run trains, at ``tag`` ("init" before training, "final" after).

        ``trained``: the ``torch.nn.Module`` being trained (its parameters with ``requires_grad``, in
        ``named_parameters`` order) or the optimiser that trains it (a ``torch.optim.Optimizer``: every parameter
        of every param group), preferably the optimiser: it holds
        exactly what the updates touch. 'final' must get the very object 'init' got, holding the same parameter
        tensors. Loose tensors (a tensor or an iterable of them) are hashed but recorded as ``source: "tensors"``,
        which the weights check rejects: a tensor handed over by the experiment proves nothing about what was
        trained (it may be a decoy that the experiment changes itself).
        """
        import torch

        if tag not in ("init", "final"):
            raise ValueError(f"snapshot tag must be 'init' or 'final', not {tag!r}")
        source, tensors = _trained_tensors(trained)
        flat = (
            torch.cat([t.detach().reshape(-1).to(torch.float64).cpu() for t in tensors])
            if tensors
            else torch.zeros(0, dtype=torch.float64)  # a fully frozen module (a negative control) trains nothing
        )
        digest = hashlib.sha256(flat.numpy().tobytes()).hexdigest()
        entry: dict[str, Any] = {
            "sha256": digest,
            "n_params": int(flat.numel()),
            "n_tensors": len(tensors),
            "source": source,
            "l2_norm": float(flat.norm()),
        }
        if tag == "init":
            self._init = (trained, tensors, flat)
        elif self._init is None:
            raise RuntimeError("snapshot_weights('final') before snapshot_weights('init')")
        else:
            init_object, init_tensors, init_flat = self._init
            entry["same_as_init"] = (
                trained is init_object
                and len(tensors) == len(init_tensors)
                and all(a is b for a, b in zip(tensors, init_tensors, strict=True))
            )
            # None: the snapshots differ in size, so they are not of one set of parameters (same_as_init is false).
            entry["l2_delta_from_init"] = float((flat - init_flat).norm()) if flat.shape == init_flat.shape else None
        self._weights[tag] = entry

    def write_predictions(self, table: str, df: pd.DataFrame) -> None:
        if table not in self.family.PREDICTIONS:
            raise KeyError(f"{table!r} is not a prediction table of this family ({', '.join(self.family.PREDICTIONS)})")
        validated = validate(self.family.PREDICTIONS[table].schema, df, table)
        path = self.out_dir / f"predictions-{table}.parquet"
        self._write(lambda: write_parquet(path, validated))
        self._tables[table] = {"file": path.name, "sha256": sha256_file(path), "rows": len(validated)}

    def save_checkpoint(self, state_dict: dict) -> None:
        """Save a ``state_dict`` for dependent runs (``checkpoint.pt``, hashed into run.json)."""
        import torch

        path = self.out_dir / "checkpoint.pt"
        state = {k: v.detach().cpu() for k, v in state_dict.items()}

        def save(tmp: Path) -> None:
            # To an open file: its writes raise OSError (a full disk), and the zip's records are named "archive/", not
            # after the temporary file, whose name is random (a path would make the bytes differ from run to run).
            with open(tmp, "wb") as handle:
                torch.save(state, handle)

        self._write(lambda: write_with(path, save))
        self._checkpoint = {"file": path.name, "sha256": sha256_file(path)}

    def load_checkpoint(self, requirement: str) -> dict:
        """The ``state_dict`` saved by prerequisite run ``requirement``, after checking its status and hash."""
        import torch

        spec = self.requires[requirement]
        record = read_json(spec.run_json)
        if record["status"] != "completed":
            raise RuntimeError(f"prerequisite {requirement} ({spec.dir}) did not complete")
        entry = record["artifacts"]["checkpoint"]
        if entry is None:
            raise RuntimeError(f"prerequisite {requirement} ({spec.dir}) saved no checkpoint")
        path = spec.dir / entry["file"]
        if sha256_file(path) != entry["sha256"]:
            raise RuntimeError(f"{path} changed after its run wrote it (sha256 mismatch)")
        return torch.load(path, map_location="cpu", weights_only=True)

    def _write(self, write: Callable[[], None]) -> None:
        try:
            write()
        except WriteError as exc:
            self.write_error = self.write_error or exc
            raise

    def finish(self) -> dict[str, Any]:
        missing = sorted(set(self.family.PREDICTIONS) - set(self._tables))
        if missing:
            raise RuntimeError(f"the run wrote no prediction table(s): {', '.join(missing)}")
        if set(self._weights) != {"init", "final"}:
            raise RuntimeError("the run must snapshot weights at 'init' and 'final'")
        if not self._curve:
            raise RuntimeError("the run logged no training curve")
        curve = validate(self.family.CURVE, pd.DataFrame(self._curve), "curve")
        path = self.out_dir / "curve.parquet"
        self._write(lambda: write_parquet(path, curve))
        return {
            "tables": self._tables,
            "curve": {"file": path.name, "sha256": sha256_file(path), "rows": len(curve)},
            "weights": self._weights,
            "checkpoint": self._checkpoint,
        }


def _trained_tensors(trained) -> tuple[str, list]:
    """(source, parameter tensors) of what ``Recorder.snapshot_weights`` is given; see its docstring."""
    import torch

    if isinstance(trained, torch.nn.Module):
        return "module", [p for _, p in trained.named_parameters() if p.requires_grad]
    if isinstance(trained, torch.optim.Optimizer):
        return "optimizer", [p for group in trained.param_groups for p in group["params"]]
    if isinstance(trained, torch.Tensor):
        return "tensors", [trained]
    return "tensors", list(trained)


def git_state(cwd: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def environment(threads: int) -> dict[str, Any]:
    """The software and the numeric environment of a run. Floating-point results depend on the CPU's vector
    kernels (ATen dispatches on the CPU capability, which ``ATEN_CPU_CAPABILITY`` can lower), the BLAS/LAPACK
    libraries (MKL picks its code path by CPU, unless ``MKL_CBWR`` fixes it) and the thread count (reduction order),
    so each is recorded as in effect, not as requested."""
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "threads": threads,
        "intra_op_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY"),
        "mkl_cbwr_env": os.environ.get("MKL_CBWR"),
        **torch_blas(),
        "numpy_blas": numpy_blas(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cuda": torch.cuda.is_available(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        # Where a cluster's scheduler ran it: the job it was in (absent for runs on the machine running Snakemake).
        **({"slurm_job_id": os.environ["SLURM_JOB_ID"]} if os.environ.get("SLURM_JOB_ID") else {}),
    }


def cpu_model() -> str:
    """The CPU's model name: /proc/cpuinfo's first "model name" (Linux x86), else ``platform.processor()``
    (which may be only the architecture, or empty)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor()


def torch_blas() -> dict[str, str | None]:
    """``torch_blas`` and ``torch_lapack``: the BLAS_INFO and LAPACK_INFO torch was built with (e.g. "mkl"),
    from ``torch.__config__.show()``; None where the build settings do not name one."""
    import torch

    shown = torch.__config__.show()
    out = {}
    for key, field in (("BLAS_INFO", "torch_blas"), ("LAPACK_INFO", "torch_lapack")):
        match = re.search(rf"\b{key}=([^,\s]+)", shown)
        out[field] = match.group(1) if match else None
    return out


def numpy_blas() -> str:
    """The BLAS numpy was built against, "name version" (e.g. "scipy-openblas 0.3.31.188.0")."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return f"{blas['name']} {blas['version']}"


def seed_everything(seed: int, threads: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    # The eager-mode switch behind torch.use_deterministic_algorithms(True). The public function also imports
    # torch._inductor (about 2 s per process) only to flag compiled kernels, which repro never builds. A family
    # that builds a torch optimiser imports it anyway (with torch._dynamo); runs that build none (planted) do not.
    torch._C._set_deterministic_algorithms(True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def _utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def run_arm(spec: RunSpec, run_json: Path, threads: int = 1) -> dict[str, Any]:
    """Run one (experiment, scale, arm params, seed) and write ``run.json`` last. Returns the record."""
    run_json = Path(run_json)
    out_dir = run_json.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_artifacts(out_dir)  # stale ones, of a killed run

    family = registry.get_experiment(spec.experiment)
    if not registry.is_runnable(family):
        raise RuntimeError(f"experiment {spec.experiment} cannot run: {family.NOT_IMPLEMENTED}")
    params = family.Params.model_validate(spec.params)
    resolved = params.model_dump(mode="json")
    if arm_key(spec.experiment, spec.scale, resolved) != spec.arm_key:
        raise ValueError("the arm key does not match the resolved parameters (stale or hand-edited spec)")

    record: dict[str, Any] = {
        "schema_version": RUN_SCHEMA_VERSION,
        "experiment": spec.experiment,
        "scale": spec.scale,
        "arm_key": spec.arm_key,
        "seed": spec.seed,
        "params": resolved,
        "code_version": run_key(spec.experiment),
        "git": git_state(Path.cwd()),
        "requires": {
            name: {"dir": str(req.dir), "run_json_sha256": sha256_file(req.run_json)}
            for name, req in sorted(spec.requires.items())
        },
        "host": platform.node(),
        "started_at": _utc(),
    }
    seed_everything(spec.seed, threads)
    record["environment"] = environment(threads)
    recorder = Recorder(out_dir, registry.get_schemas(spec.experiment), spec.requires)
    start = time.perf_counter()
    try:
        try:
            family.run(params, spec.seed, recorder)
            artifacts = recorder.finish()
        except Exception as exc:
            if recorder.write_error is not None or _machine_failure(exc):
                raise
            record.update(status="failed", error=traceback.format_exc(limit=20), artifacts=None)
            print(record["error"], file=sys.stderr)
        else:
            record.update(status="completed", error=None, artifacts=artifacts)
        if recorder.write_error is not None:  # the experiment caught it and went on
            raise recorder.write_error
        record["wall_s"] = time.perf_counter() - start
        record["finished_at"] = _utc()
        record["curve_steps"] = recorder.steps_logged
        write_json(run_json, record)
    except Exception as exc:
        if recorder.write_error is None and not _machine_failure(exc):
            raise
        _remove_artifacts(out_dir)  # whole tables of a run without a record would only mislead
        if recorder.write_error is not None and exc is not recorder.write_error:
            raise recorder.write_error from exc  # what the harness could not write, not what followed
        raise
    return record


def _machine_failure(exc: BaseException) -> bool:
    """An output the run could not write (:class:`repro.files.WriteError`) or a write that ran out of room anywhere
    (a full disk, a file-size limit): the machine's failure, not the experiment's."""
    return isinstance(exc, WriteError) or out_of_space(exc)


def _remove_artifacts(out_dir: Path) -> None:
    """The tables and checkpoint a run writes before its ``run.json``."""
    for path in [*out_dir.glob("predictions-*.parquet"), out_dir / "curve.parquet", out_dir / "checkpoint.pt"]:
        path.unlink(missing_ok=True)
