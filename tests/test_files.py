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


def test_a_file_manifest_records_each_file_as_it_is_without_parsing_it(tmp_path):
    import hashlib
    import json

    from repro.manifest import write_file_manifest

    good, damaged = tmp_path / "metrics.json", tmp_path / "metrics.parquet"
    good.write_text('{"status": "ok"}')
    damaged.write_bytes(b"PAR1\x00trunc")  # not a parquet file: recorded, never read as one
    out = tmp_path / "evidence/seeds1.json"
    write_file_manifest(out, [str(damaged), str(good)])
    entries = json.loads(out.read_text())["scores"]
    assert [e["file"] for e in entries] == [str(damaged), str(good)]
    for entry, path in zip(entries, (damaged, good), strict=True):
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    before = out.read_bytes()
    damaged.write_bytes(b"PAR1")  # a changed score changes the manifest (and so re-decides its readers)
    write_file_manifest(out, [str(damaged), str(good)])
    assert out.read_bytes() != before
    with pytest.raises(FileNotFoundError):  # a missing score fails the job, leaving no manifest half-written
        write_file_manifest(tmp_path / "other.json", [str(tmp_path / "gone.parquet")])
    assert not (tmp_path / "other.json").exists()


def test_the_arm_scores_verb_writes_the_manifest_or_fails_naming_the_missing_score(tmp_path, capsys):
    import json

    from repro.cli import dispatch

    score = tmp_path / "metrics.json"
    score.write_text('{"status": "ok"}')
    out = tmp_path / "evidence/seeds1.json"
    assert dispatch(["arm-scores", "--out", str(out), str(score)]) == 0
    assert [e["file"] for e in json.loads(out.read_text())["scores"]] == [str(score)]
    assert "1 score files" in capsys.readouterr().err
    gone = tmp_path / "gone.parquet"
    assert dispatch(["arm-scores", "--out", str(tmp_path / "other.json"), str(score), str(gone)]) == 1
    assert str(gone) in capsys.readouterr().err
    assert not (tmp_path / "other.json").exists()
