"""Hostile claim files: rejected with file, line and field before anything runs, or, where the text is merely odd,
carried as text and never executed. Nothing is written outside the workflow's own folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from repro.claims import ClaimError, load_claims
from repro.yamlio import MAX_BYTES

from ..conftest import snakemake
from ..test_claims import PAPER, VALID, _write

HOSTILE = [
    # case, claim file text (bytes or str), what the error names
    ("huge-file", VALID + "notes: >-\n" + ("  " + "a" * 100 + "\n") * 500_000, "claim files are limited to 1 MiB"),
    ("deep-nesting", VALID + "notes: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    (
        "alias-bomb",
        VALID + 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
        "anchors and aliases are not allowed",
    ),
    ("id-traversal", VALID.replace("id: good-claim", "id: ../../etc/passwd"), "id"),
    ("arm-traversal", VALID.replace("trained: {steps: 50}", "../x: {steps: 50}"), "arms"),
    (
        "python-object",
        VALID.replace(
            "statement: Training beats not training.", "statement: !!python/object/apply:os.system ['touch PWNED']"
        ),
        "YAML tag",
    ),
    ("not-utf8", VALID.encode() + b"notes: \xff\xfe\n", "not UTF-8"),
    ("nul-bytes", VALID + "notes: a\x00b\n", "good-claim.yaml"),
]


@pytest.mark.parametrize(("case", "text", "named"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_claim_files_are_rejected_naming_file_and_reason(tmp_path, monkeypatch, case, text, named):
    monkeypatch.chdir(tmp_path)
    claims = _write(tmp_path, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": text})
    with pytest.raises(ClaimError) as info:
        load_claims(claims)
    message = str(info.value)
    assert "good-claim.yaml" in message and named in message, message[:2000]
    assert not (tmp_path / "PWNED").exists()
    assert MAX_BYTES == 1 << 20


SHELL = "$(touch PWNED_DOLLAR) `touch PWNED_TICK`; touch PWNED_SEMI && touch PWNED_AND | tee PWNED_PIPE > PWNED_GT"


@pytest.mark.workflow
def test_shell_metacharacters_in_every_text_field_stay_text(tmp_path):
    """A claim whose every free-text field is a shell injection runs to a verdict, and no command in it runs."""
    text = (
        VALID.replace('locator: "Table 1"', f'locator: "{SHELL}"')
        .replace("statement: Training beats not training.", f'statement: "{SHELL}"')
        .replace('quote: "Training beats not training."', f'quote: "{SHELL}"')
        .replace("hypothesis: Training on more items helps.", f'hypothesis: "{SHELL}"')
        .replace("source: the trained arm's loss fell by a tenth", f'source: "{SHELL}"')
        .replace("seeds: 3", "seeds: 2")
    ) + f'notes: "{SHELL}"\n'
    claims = _write(
        tmp_path, {"0000.00002/paper.yaml": PAPER.replace("A paper", SHELL), "0000.00002/good-claim.yaml": text}
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    snakemake(workdir, claims=claims)
    card = (workdir / "results/verdicts/ci/good-claim.md").read_text()
    assert "touch PWNED_DOLLAR" in card  # carried as text onto the card
    planted = [p for p in Path(tmp_path).rglob("PWNED*")]
    planted += [Path(p) for p in os.listdir(os.getcwd()) if p.startswith("PWNED")]
    assert not planted, planted
    outside = {p.name for p in workdir.iterdir()} - {"results", "logs", ".snakemake", "mlflow.db", "mlruns"}
    assert not outside, outside
