"""The reviewer's commands as a user runs them: `repro status` reads as a table, usage errors exit 2, outside a
checkout the commands say so and how to point at one, and the claims commands work while a claim is being edited."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from repro.cli import main
from repro.schemas import VerdictRow

from .conftest import ROOT
from .test_claims import PAPER, VALID, _write

HYPOTHESIS = (
    "Training on all items beats training on four items by more than the margin, on held-out items of the planted "
    "task, at every seed"
)


def _row(claim_id: str, verdict: str, kind: str, **values) -> dict:
    row = dict.fromkeys(VerdictRow.to_schema().columns)
    row.update(
        claim_id=claim_id,
        paper="0000.00001v1",
        kind=kind,
        scale="ci",
        hypothesis=HYPOTHESIS,
        verdict=verdict,
        reason=f"the reason {claim_id} is {verdict}",
        rule_changed=False,
        fragile=False,
    )
    row.update(values)
    return row


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A workflow directory with a verdict table of three claims, one of whose files changed after its verdict."""
    claims = tmp_path / "claims" / "0000.00001"
    claims.mkdir(parents=True)
    hashes = {}
    for name in ("real-effect", "wrong-sum", "identity"):
        (claims / f"{name}.yaml").write_text(f"id: {name}\n")
        hashes[name] = hashlib.sha256(f"id: {name}\n".encode()).hexdigest()
    rows = [
        _row(
            "real-effect",
            "verified",
            "reproduction",
            effect=0.1012,
            ci_low=0.0811,
            ci_high=0.1213,
            effect_label="treatment − baseline (accuracy)",
        ),
        _row("wrong-sum", "falsified", "derivation", effect=45.1, ci_low=45.05, ci_high=45.15, rule_changed=True),
        _row("identity", "verified", "property", effect=1e-12, effect_label="largest |lhs − rhs|", fragile=True),
    ]
    for row in rows:
        row["claim_file"] = f"claims/0000.00001/{row['claim_id']}.yaml"
        row["claim_sha256"] = hashes[row["claim_id"]]
    (claims / "wrong-sum.yaml").write_text("id: wrong-sum\n# edited after the verdict\n")
    (tmp_path / "results").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "results/verdicts-ci.tsv", sep="\t", index=False)
    (tmp_path / "Snakefile").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_status_is_a_table_a_reviewer_can_read(workdir, capsys):
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["claim", "verdict", "kind", "effect", "[interval]", "measures"]
    assert lines[1].split()[:3] == ["real-effect", "verified", "reproduction"]
    assert "0.1012 [0.0811, 0.1213]" in lines[1]
    assert lines[1].endswith("treatment − baseline (accuracy)")
    assert f"    hypothesis: {HYPOTHESIS}" in lines  # whole, not cut at 70 characters
    assert "    reason: the reason real-effect is verified" in lines
    assert "    card: results/verdicts/ci/real-effect.md" in lines
    assert next(line for line in lines if line.startswith("wrong-sum")).endswith("[rule_changed] [stale]")
    assert next(line for line in lines if line.startswith("identity")).endswith("largest |lhs − rhs|  [fragile]")
    assert "scale ci: falsified 1, verified 2" in lines
    assert "rule_changed: wrong-sum" in lines and "fragile: identity" in lines
    assert any(line.startswith("stale: wrong-sum (claim file changed since the verdict; rerun") for line in lines)


def test_status_in_a_terminal_is_a_rich_table(workdir, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["status", "--fail-on", "falsified"]) == 1
    out, err = capsys.readouterr()
    text = re.sub(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\", "", out)  # colours and hyperlinks
    assert text.startswith("┏") and "┃ claim " in text and "┃ hypothesis tested " in text and "┃ reason, card " in text
    assert "[rule_changed]" in text and "[stale]" in text and "results/verdicts/ci/real-effect.md" in text
    assert "1 claim(s) ended falsified: wrong-sum" in err


def test_status_fail_on_flags_and_unknown_names(workdir, capsys):
    assert main(["status", "--fail-on", "error,invalid"]) == 0
    assert main(["status", "--fail-on", "fragile"]) == 1
    capsys.readouterr()
    assert main(["status", "--fail-on", "bogus"]) == 2  # a misspelt CI gate is a usage error, not a pass
    err = capsys.readouterr().err
    assert "--fail-on: unknown name(s) bogus; use verdicts (" in err and "flags (rule_changed, fragile)" in err


def test_status_on_an_older_table_says_to_rerun(workdir, capsys):
    table = pd.read_csv("results/verdicts-ci.tsv", sep="\t").drop(columns=["effect_label"])
    table.to_csv("results/verdicts-ci.tsv", sep="\t", index=False)
    assert main(["status"]) == 2
    assert "lacks column(s) effect_label: it was written by an older repro" in capsys.readouterr().err


def test_outside_a_checkout_commands_say_so(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is not a repro checkout" in err and "--results <checkout>/results" in err
    for command in (["claims", "check"], ["claims", "list"], ["seeds"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path} is not a repro checkout" in err and "--claims <checkout>/claims" in err, command
    (tmp_path / "Snakefile").write_text("")  # inside a checkout that has not run yet
    assert main(["status"]) == 2
    assert "run `snakemake --cores all --config scale=ci` first" in capsys.readouterr().err


def test_seeds_without_a_research_question_says_so(tmp_path, capsys):
    args = ["seeds", "--claims", str(ROOT / "claims"), "--seeds", str(ROOT / "seeds"), "--results", str(tmp_path)]
    assert main([*args, "--papers", str(ROOT / "papers")]) == 0
    out = capsys.readouterr().out
    seed = out.split("## ")[-1]
    assert seed.startswith("seeds/003") or "003_" in seed.splitlines()[0]
    assert "- research question: none stated; the problems it addresses: Addresses inefficient learning" in seed
    assert "bear on its research question" not in seed
    assert "the seed states no research question, only the problems it addresses: 17 of the 17" in seed


def _help(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "repro", *args, "--help"], capture_output=True, text=True, check=True
    ).stdout


def _subparsers(parser):
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            for name, sub in action.choices.items():
                yield name, sub
                yield from _subparsers(sub)


def test_every_command_and_option_is_described():
    from repro.cli import build_parser

    commands = dict(_subparsers(build_parser()))
    assert {"claims", "check", "status", "seeds", "run-arm", "track"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description, name
        for action in parser._actions:
            assert action.help, (name, action.dest)


def test_help_shows_defaults_and_a_group_alone_shows_its_commands():
    status = _help("status")
    assert "--results RESULTS     results folder of a workflow run (default: results)" in status
    assert "(default: ci)" in status and "Print the verdict table of a scale" in status
    assert "--threads THREADS  torch threads of the run (default: 1)" in _help("run-arm")
    proc = subprocess.run([sys.executable, "-m", "repro", "claims"], capture_output=True, text=True)
    assert proc.returncode == 2 and "required" not in proc.stderr
    assert "check     validate every claim file" in proc.stderr and "draft " in proc.stderr


def test_status_into_a_closed_pipe_stops_quietly(workdir):
    """`repro status | head`: the reader leaves early; no traceback."""
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run([sys.executable, "-m", "repro", "status"], stdout=write, stderr=subprocess.PIPE, text=True)
    os.close(write)
    assert proc.returncode == 1 and proc.stderr == ""


# ------------------------------------------------------------------ claims commands


def test_cli_lists_and_shows(capsys):
    assert main(["claims", "list", "--claims", str(ROOT / "claims")]) == 0
    assert "mallowspo-bandit-enhances-dpo" in capsys.readouterr().out
    assert main(["claims", "show", "mallowspo-bandit-enhances-dpo", "--claims", str(ROOT / "claims")]) == 0
    assert "results/runs/mallows_bandit/ci" in capsys.readouterr().out


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "repro", "--help"], capture_output=True, text=True, check=True).stdout
    for verb in ("claims", "status", "run-arm", "decide", "track"):
        assert verb in out
    assert shutil.which("repro") is not None


def _one_broken(tmp_path) -> Path:
    """A claims folder with one valid claim and one being edited (a wrong type)."""
    broken = VALID.replace("good-claim", "edited-claim").replace("seeds: 3", "seeds: three")
    return _write(
        tmp_path,
        {
            "0000.00002/paper.yaml": PAPER,
            "0000.00002/good-claim.yaml": VALID,
            "0000.00002/edited-claim.yaml": broken,
        },
    )


def test_list_and_show_work_while_one_claim_is_being_edited(tmp_path, capsys):
    claims = _one_broken(tmp_path)
    assert main(["claims", "list", "--claims", str(claims)]) == 1
    out, err = capsys.readouterr()
    assert "good-claim" in out and "edited-claim" not in out
    assert "Traceback" not in err
    assert "1 problem(s) in claim files:" in err and "edited-claim.yaml:" in err and "scales.ci.seeds" in err

    assert main(["claims", "show", "good-claim", "--claims", str(claims)]) == 0
    out, err = capsys.readouterr()
    assert "results/runs/planted/ci" in out and "(logs: logs/run_arm/planted/ci/" in out
    assert "1 problem(s) in other claim files" in err

    assert main(["claims", "show", "edited-claim", "--claims", str(claims)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "edited-claim.yaml:" in err and "scales.ci.seeds" in err

    assert main(["claims", "show", "good-clam", "--claims", str(claims)]) == 1
    err = capsys.readouterr().err
    assert "no claim 'good-clam'" in err and "did you mean good-claim?" in err


def test_seeds_reports_while_one_claim_is_being_edited(tmp_path, capsys):
    claims = _one_broken(tmp_path)
    args = ["seeds", "--claims", str(claims), "--seeds", str(ROOT / "seeds"), "--results", str(tmp_path)]
    assert main([*args, "--papers", str(ROOT / "papers")]) == 1
    out, err = capsys.readouterr()
    assert out.count("\n## ") == 4 and "Traceback" not in err and "edited-claim.yaml:" in err


def _in_a_terminal(monkeypatch) -> None:
    """rich treats stdout and stderr as a terminal (as `repro` run by a person), wide enough for whole lines."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_list_and_check_in_a_terminal_are_rich_tables(tmp_path, capsys, monkeypatch):
    _in_a_terminal(monkeypatch)
    claims = _one_broken(tmp_path)
    assert main(["claims", "list", "--claims", str(claims)]) == 1
    raw, err = capsys.readouterr()
    out, err = _plain(raw), _plain(err)
    assert "\x1b[" in raw  # coloured
    assert out.startswith("┏") and "┃ claim " in out and "┃ ci " in out and "│ good-claim " in out
    assert "1 problem(s) in claim files" in err and "┃ problem " in err and "scales.ci.seeds" in err
    assert "(these claims are left out above)" in err

    assert main(["claims", "check", "--claims", str(claims)]) == 1
    err = _plain(capsys.readouterr().err)
    assert "1 problem(s) in claim files" in err and "┃ file " in err and "edited-claim.yaml" in err
    assert "1 problem(s) in claim files:" not in err  # the table, not the piped text


def test_numerics_runs_the_workflow_again_with_torch_and_mkl_on_their_portable_paths(tmp_path, monkeypatch, capsys):
    """`repro numerics` sets both the kernels torch dispatches to and the code path MKL's BLAS takes (which, left to
    itself, MKL picks by CPU), so the fragility check covers the difference between two machines' BLAS too."""
    calls = []

    def fake_run(cmd, env, check):
        calls.append((cmd, env))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("MKL_CBWR", raising=False)
    assert main(["numerics", "--scale", "ci", "--out", str(tmp_path)]) == 0
    assert main(["numerics", "--scale", "ci", "--out", str(tmp_path), "--mkl-cbwr", "", "--capability", "avx2"]) == 0

    (cmd, env), (_, left) = calls
    assert (env["ATEN_CPU_CAPABILITY"], env["MKL_CBWR"]) == ("default", "COMPATIBLE")
    assert cmd[cmd.index("-d") + 1] == str(tmp_path / "default") and "results/verdicts-ci.tsv" in cmd
    assert left["ATEN_CPU_CAPABILITY"] == "avx2" and "MKL_CBWR" not in left
    assert "ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE " in capsys.readouterr().err


def test_the_parser_is_built_once_and_parsing_leaves_it_as_it_was():
    """dispatch reuses one parser per process (a served job's fork, the server's): a parse must not change what the
    next one sees, e.g. an appending option's list."""
    from repro.cli import parser

    assert parser() is parser()
    first = parser().parse_args(["preregister", "--scale", "ci", "--scale", "full"])
    second = parser().parse_args(["preregister", "--scale", "ci"])
    third = parser().parse_args(["preregister"])
    assert (first.scale, second.scale, third.scale) == (["ci", "full"], ["ci"], None)
