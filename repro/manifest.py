"""Manifests of files (rule arm_scores): what a claim's decision depends on, one file per arm instead of two per run."""

from __future__ import annotations

from pathlib import Path

from repro.files import sha256_file, write_json


def write_file_manifest(out: Path, files: list[str]) -> None:
    """Path, size and sha256 of each of ``files``, never parsed, as one JSON file. Rule arm_scores writes one per
    arm and seed count from its runs' score files: a claim's decision then has one input per arm, not two per run,
    and Snakemake still remakes the manifest, and re-decides every claim that reads the arm, when a score file is
    newer. A damaged score is recorded as it is and judged by the decision (an ``error`` naming it)."""
    entries = [{"file": name, "bytes": Path(name).stat().st_size, "sha256": sha256_file(Path(name))} for name in files]
    write_json(out, {"scores": entries})
