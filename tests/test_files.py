"""Atomic writes: a finished file appears whole, and with the mode the user's umask gives any new file."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from repro.files import write_bytes, write_json, write_parquet, write_text


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it after."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_atomic_writes_keep_the_umask_mode(tmp_path, umask, mask):
    umask(mask)
    writers = {
        "card.md": lambda p: write_text(p, "# card\n"),
        "plot.bin": lambda p: write_bytes(p, b"\x89PNG"),
        "verdict.json": lambda p: write_json(p, {"verdict": "verified"}),
        "metrics.parquet": lambda p: write_parquet(p, pd.DataFrame({"x": [1.0]})),
    }
    for name, write in writers.items():
        write(tmp_path / name)
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o666 & ~mask, f"{name}: {oct(mode)} under umask {oct(mask)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(writers)  # no temporary file left behind


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    unwritable = pd.DataFrame({"x": [1, "a"]})  # mixed types: pyarrow fails after the temporary file exists
    with pytest.raises(Exception, match="x"):
        write_parquet(tmp_path / "metrics.parquet", unwritable)
    assert list(tmp_path.iterdir()) == []
