"""Atomic file writes and content hashes.

Every output is written to a temporary file in the same folder and renamed into place, so a killed
job never leaves a file that looks finished (docs/design.md, "Files"). The temporary file is created with mode
0o666 less the process umask, as ``open`` would create it: results are as readable as any other file the user
writes (``tempfile.mkstemp`` would make them 0o600).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _create_temporary(path: Path) -> Path:
    """A new empty file beside ``path``, created exclusively with mode 0o666 & ~umask (the kernel applies it)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    # No index, fixed compression: identical frames give identical bytes (determinism checks hash them).
    _atomic(path, lambda tmp: df.to_parquet(tmp, index=False, compression="zstd"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextmanager
def working_directory(folder: Path) -> Iterator[Path]:
    """Run the body inside ``folder`` (made if missing), then return to where it was. Runs resolve their
    prerequisites relative to the working directory (``results/runs/...``): pilots and the GPU check run theirs
    inside a folder of their own, so that nothing lands in the checkout's ``results/``."""
    before = Path.cwd()
    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)
