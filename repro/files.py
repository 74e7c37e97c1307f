"""Atomic file writes and content hashes.

Every output is written to a temporary file in the same folder and renamed into place, so a killed
job never leaves a file that looks finished (docs/design.md, "Files"). The temporary file is created with mode
0o666 less the process umask, as ``open`` would create it: results are as readable as any other file the user
writes (``tempfile.mkstemp`` would make them 0o600). A write that fails (a full disk, a file-size limit, no
permission) removes its temporary file and raises :class:`WriteError`, which names the file and the reason.
"""

from __future__ import annotations

import errno
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


class WriteError(OSError):
    """An output that could not be written: ``filename`` is the file, ``strerror`` why (e.g. "No space left on
    device", "File too large"). An ``OSError`` with the original one's errno, chained to it."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
"""Errnos of a write that ran out of room: a full disk, a file-size limit (``ulimit -f``), a quota."""


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from or during, is a write that ran out of room
    (:data:`OUT_OF_SPACE`)."""
    return any(isinstance(e, OSError) and e.errno in OUT_OF_SPACE for e in _chain(exc))


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, innermost last."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _create_temporary(path: Path) -> Path:
    """A new empty file beside ``path``, created exclusively with mode 0o666 & ~umask (the kernel applies it)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp


def write_with(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` atomically with ``write(temporary_path)`` (for writers of their own: ``savefig(tmp,
    format=...)``, ``torch.save`` to the opened file): the file appears whole or not at all, no temporary file stays
    behind. An ``OSError`` of the folder, the temporary file or the write becomes a :class:`WriteError` naming
    ``path``, as does an exception a writer raised while handling one (torch.save's RuntimeError "unexpected pos"
    over EFBIG).

    The temporary file's name is random: a writer must not record it in the file (``torch.save`` to a path names the
    zip's records after it; give it an open file instead)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temporary(path)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        cause = next((e for e in _chain(exc) if isinstance(e, OSError)), None) if isinstance(exc, Exception) else None
        if cause is not None and not isinstance(exc, WriteError):
            raise _write_error(path, cause) from exc
        raise


def _write_error(path: Path, exc: OSError) -> WriteError:
    # The errno's own words where there is one: pyarrow's OSError says "Error writing bytes to file. Detail: ...".
    reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
    return WriteError(exc.errno or 0, reason, str(path))


def write_text(path: Path, text: str) -> None:
    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    write_with(path, lambda tmp: tmp.write_bytes(data))


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
    write_with(path, lambda tmp: df.to_parquet(tmp, index=False, compression="zstd"))


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
