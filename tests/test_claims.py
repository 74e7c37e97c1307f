"""Claim validation: every shipped claim is valid; malformed claims fail `repro claims check` and
`snakemake -n` with a message naming file and field, and nothing is written."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from repro.claims import ClaimError, ReproductionClaim, load_claims, scale_spec
from repro.cli import main as repro_main
from repro.cli.common import load_one
from repro.pilot import holm_family_size
from repro.plan import _frozen, build_plan, holm_families, make_run

from .conftest import ROOT, snakemake

PAPER = """arxiv_id: "0000.00002"
versions: [v1]
title: A paper
authors: [Someone]
"""

VALID = """id: good-claim
paper: {arxiv: 0000.00002v1, locator: "Table 1"}
statement: Training beats not training.
quote: "Training beats not training."
kind: reproduction
experiment: planted
metric: accuracy
arms:
  trained: {steps: 50}
  weak: {steps: 50, train_items: 4}
  shuffled: {steps: 50, shuffle_labels: true}
treatment: trained
baseline: weak
negative_controls: [shuffled]
mechanism:
  diagnostic: training_loss_drop
  relation: at_least
  threshold: 0.1
  source: the trained arm's loss fell by a tenth
scales:
  ci:
    hypothesis: Training on more items helps.
    seeds: 3
    expectation: {effect: difference, relation: greater, margin: 0.02}
  reduced: {hypothesis: not run, not_run: ci only}
  full: {hypothesis: not run, not_run: ci only}
"""


def test_shipped_claims_are_valid():
    claims = load_claims(ROOT / "claims")
    assert len(claims) >= 4
    kinds = {c.claim.kind for c in claims}
    assert {"reproduction", "property", "derivation"} <= kinds


def test_fixture_claims_are_valid():
    folder = ROOT / "tests" / "fixtures" / "claims"
    files = [p for p in folder.rglob("*.yaml") if p.name != "paper.yaml"]
    assert len(load_claims(folder)) == len(files) == 22


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    claims = tmp_path / "claims"
    for rel, text in files.items():
        path = claims / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
    return claims


def _valid_with(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


# (case id, files to write, file named in the error, field named in the error)
CASES = [
    (
        "wrong-type",
        {"0000.00002/good-claim.yaml": _valid_with("seeds: 3", "seeds: three")},
        "good-claim.yaml",
        "scales.ci.seeds",
    ),
    ("unknown-key", {"0000.00002/good-claim.yaml": VALID + "colour: blue\n"}, "good-claim.yaml", "colour"),
    (
        "unknown-nested-key",
        {"0000.00002/good-claim.yaml": _valid_with("margin: 0.02", "margn: 0.02")},
        "good-claim.yaml",
        "scales.ci.expectation.margn",
    ),
    (
        "unknown-experiment",
        {"0000.00002/good-claim.yaml": _valid_with("experiment: planted", "experiment: plantd")},
        "good-claim.yaml",
        "experiment",
    ),
    (
        "unknown-metric",
        {"0000.00002/good-claim.yaml": _valid_with("metric: accuracy", "metric: f1")},
        "good-claim.yaml",
        "metric",
    ),
    (
        "unknown-control-metric",
        {"0000.00002/good-claim.yaml": _valid_with("metric: accuracy", "metric: accuracy\ncontrol_metric: f1")},
        "good-claim.yaml",
        "control_metric: 'f1' is not a metric of planted",
    ),
    (
        "missing-quote",
        {"0000.00002/good-claim.yaml": _valid_with('quote: "Training beats not training."\n', "")},
        "good-claim.yaml",
        "quote",
    ),
    (
        "yaml-python-tag",
        {"0000.00002/good-claim.yaml": _valid_with("seeds: 3", "seeds: !!python/object:os.system 3")},
        "good-claim.yaml",
        "scales.ci.seeds: YAML tag",
    ),
    (
        "yaml-binary-tag",
        {"0000.00002/good-claim.yaml": _valid_with('locator: "Table 1"', "locator: !!binary aGk=")},
        "good-claim.yaml",
        "paper.locator: YAML tag",
    ),
    (
        "yaml-str-tag",
        {"0000.00002/good-claim.yaml": _valid_with("statement: Training", "statement: !!str Training")},
        "good-claim.yaml",
        "statement: YAML tag",
    ),
    (
        "path-traversal",
        {"0000.00002/good-claim.yaml": VALID + "seed: {document: ../../etc/passwd, relevance: none}\n"},
        "good-claim.yaml",
        "seed.document",
    ),
    (
        "absolute-path",
        {"0000.00002/good-claim.yaml": VALID + "seed: {document: /etc/passwd, relevance: none}\n"},
        "good-claim.yaml",
        "seed.document",
    ),
    (
        "missing-seed-file",
        {"0000.00002/good-claim.yaml": VALID + "seed: {document: seeds/nope.txt, relevance: none}\n"},
        "good-claim.yaml",
        "seed.document",
    ),
    (
        "duplicate-id",
        {
            "0000.00003/paper.yaml": PAPER.replace("0000.00002", "0000.00003"),
            "0000.00003/good-claim.yaml": VALID.replace("0000.00002v1", "0000.00003v1"),
        },
        "good-claim.yaml",
        "id",
    ),
    ("empty-file", {"0000.00002/good-claim.yaml": ""}, "good-claim.yaml", "empty"),
    (
        "malformed-yaml",
        {"0000.00002/good-claim.yaml": VALID.replace("  ci:\n", "  ci:\n bad: [\n")},
        "good-claim.yaml",
        "malformed",
    ),
    (
        "duplicate-key",
        {"0000.00002/good-claim.yaml": VALID + "metric: accuracy\n"},
        "good-claim.yaml",
        "metric: duplicate key",
    ),
    (
        "yaml-alias",
        {
            "0000.00002/good-claim.yaml": _valid_with("trained: {steps: 50}", "trained: &a {steps: 50}").replace(
                "weak: {steps: 50, train_items: 4}", "weak: *a"
            )
        },
        "good-claim.yaml",
        "anchor",
    ),
    (
        "bad-arm-param",
        {"0000.00002/good-claim.yaml": _valid_with("trained: {steps: 50}", "trained: {steps: -5}")},
        "good-claim.yaml",
        "arms.trained.steps",
    ),
    (
        "unknown-arm-param",
        {"0000.00002/good-claim.yaml": _valid_with("trained: {steps: 50}", "trained: {stepz: 50}")},
        "good-claim.yaml",
        "arms.trained.stepz",
    ),
    (
        "id-not-stem",
        {"0000.00002/good-claim.yaml": _valid_with("id: good-claim", "id: other-claim")},
        "good-claim.yaml",
        "id",
    ),
    (
        "unknown-version",
        {"0000.00002/good-claim.yaml": _valid_with("0000.00002v1", "0000.00002v7")},
        "good-claim.yaml",
        "paper.arxiv",
    ),
    (
        "negative-margin",
        {"0000.00002/good-claim.yaml": _valid_with("margin: 0.02", "margin: -0.02")},
        "good-claim.yaml",
        "scales.ci.expectation.margin",
    ),
    (
        "undefined-treatment",
        {"0000.00002/good-claim.yaml": _valid_with("treatment: trained", "treatment: tuned")},
        "good-claim.yaml",
        "tuned",
    ),
    (
        "missing-scale",
        {"0000.00002/good-claim.yaml": VALID.replace("  reduced: {hypothesis: not run, not_run: ci only}\n", "")},
        "good-claim.yaml",
        "scales.reduced",
    ),
    (
        "unknown-kind",
        {"0000.00002/good-claim.yaml": _valid_with("kind: reproduction", "kind: anecdote")},
        "good-claim.yaml",
        "kind",
    ),
    (
        "formula-code",
        {
            "0000.00002/good-claim.yaml": """id: good-claim
paper: {arxiv: 0000.00002v1, locator: "Table 1"}
statement: s
quote: q
kind: derivation
inputs: {a: {value: 1.0, precision: 0.1, source: t}}
formula: "__import__('os').system('true') + a"
reported: {value: 1.0, precision: 0.1, source: t}
"""
        },
        "good-claim.yaml",
        "formula",
    ),
    (
        "paper-id-mismatch",
        {"0000.00002/paper.yaml": PAPER.replace('"0000.00002"', '"0000.00009"')},
        "paper.yaml",
        "arxiv_id",
    ),
    ("folder-not-arxiv-id", {"my-paper/paper.yaml": PAPER}, "my-paper", "arXiv id"),
]


@pytest.mark.parametrize(("case", "files", "file_named", "field_named"), CASES, ids=[c[0] for c in CASES])
def test_malformed_claim_is_rejected_with_file_and_field(tmp_path, capsys, case, files, file_named, field_named):
    claims = _write(tmp_path, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": VALID, **files})
    with pytest.raises(ClaimError) as info:
        load_claims(claims)
    message = str(info.value)
    assert file_named in message and field_named in message, message

    assert repro_main(["claims", "check", "--claims", str(claims)]) == 1
    err = capsys.readouterr().err
    assert file_named in err and field_named in err


MALFORMED_FOR_SNAKEMAKE = [
    "wrong-type",
    "unknown-key",
    "unknown-experiment",
    "missing-quote",
    "yaml-python-tag",
    "path-traversal",
    "duplicate-id",
    "empty-file",
    "bad-arm-param",
    "unknown-metric",
    "duplicate-key",
    "formula-code",
]


@pytest.mark.workflow
@pytest.mark.parametrize("case", MALFORMED_FOR_SNAKEMAKE)
def test_snakemake_dry_run_fails_and_writes_nothing(tmp_path, case):
    _, files, file_named, field_named = next(c for c in CASES if c[0] == case)
    claims = _write(tmp_path, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": VALID, **files})
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = snakemake(workdir, "-n", claims=claims, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert file_named in output and field_named in output, output[-2000:]
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_valid_claim_dry_run_plans_the_runs(tmp_path):
    claims = _write(tmp_path, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": VALID})
    workdir = tmp_path / "work"
    workdir.mkdir()
    out = snakemake(workdir, "-n", claims=claims).stdout
    assert "run_arm" in out and "decide_verdict" in out
    assert not (workdir / "results").exists()


def test_drafts_are_validated_but_kept_out(tmp_path):
    draft = VALID + "draft: {drafted_by: repro claims draft}\n"
    claims = _write(tmp_path, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": draft})
    assert load_claims(claims) == []
    assert len(load_claims(claims, include_drafts=True)) == 1
    broken = draft.replace("seeds: 3", "seeds: x")
    (claims / "0000.00002/good-claim.yaml").write_text(broken)
    with pytest.raises(ClaimError):
        load_claims(claims)


def test_error_lines_point_into_the_file(tmp_path):
    claims = _write(
        tmp_path,
        {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": _valid_with("margin: 0.02", "margin: -0.02")},
    )
    with pytest.raises(ClaimError) as info:
        load_claims(claims)
    issue = info.value.issues[0]
    line = (claims / "0000.00002/good-claim.yaml").read_text().splitlines()[issue.line - 1]
    assert "margin" in line


def test_all_problems_are_reported_at_once(tmp_path):
    claims = _write(
        tmp_path,
        {
            "0000.00002/paper.yaml": PAPER,
            "0000.00002/good-claim.yaml": _valid_with("seeds: 3", "seeds: x"),
            "0000.00002/other-claim.yaml": VALID.replace("good-claim", "other-claim").replace(
                "metric: accuracy", "metric: f1"
            ),
        },
    )
    with pytest.raises(ClaimError) as info:
        load_claims(claims)
    assert len(info.value.issues) == 2


def test_unknown_keys_suggest_the_valid_names(tmp_path, capsys):
    """A misspelt arm parameter or top-level key gets "did you mean" and the valid names; an arm's wrong type is
    reported once, with the scales it was resolved at."""
    arms = _valid_with("trained: {steps: 50}", "trained: {steps: fifty, stepz: 50}")
    top = VALID.replace("good-claim", "other-claim") + "negative_control: [shuffled]\n"
    claims = _write(
        tmp_path,
        {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": arms, "0000.00002/other-claim.yaml": top},
    )
    assert repro_main(["claims", "check", "--claims", str(claims)]) == 1
    err = capsys.readouterr().err
    assert "negative_control: unknown key 'negative_control': did you mean 'negative_controls'?" in err
    assert "arms.trained.stepz: unknown key 'stepz': did you mean 'steps'? (valid here: " in err
    assert "lr, plant, shuffle_labels, signal, steps, train_items)" in err  # the planted family's Params
    wrong_type = [line for line in err.splitlines() if "arms.trained.steps:" in line]
    assert len(wrong_type) == 1 and wrong_type[0].endswith("[resolved at scales ci, reduced, full]"), err
    assert "3 problem(s)" in err


def test_arms_validated_once_are_told_apart_from_their_look_alikes(tmp_path, monkeypatch):
    """Claims that share an arm validate it once (claims_checks._params_issues keeps what validated), and a
    look-alike that differs in type (steps: 50.5 beside steps: 50) is still checked and refused."""
    from repro import claims_checks
    from repro.families.planted import experiment as planted

    monkeypatch.setattr(claims_checks, "_VALID_PARAMS", set())  # as in a fresh process
    params = planted.Params
    calls = []
    validate = params.model_validate
    monkeypatch.setattr(params, "model_validate", lambda data, **kw: calls.append(1) or validate(data, **kw))
    shared = {"0000.00002/paper.yaml": PAPER}
    for i in range(5):
        shared[f"0000.00002/claim-{i}.yaml"] = VALID.replace("good-claim", f"claim-{i}")
    load_claims(_write(tmp_path / "shared", shared))
    assert 0 < len(calls) <= 3 * 3  # at most three arms at three scales, however many claims share them

    odd = _valid_with("trained: {steps: 50}", "trained: {steps: 50.5}")
    with pytest.raises(ClaimError) as info:
        load_claims(_write(tmp_path / "odd", {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": odd}))
    assert any(issue.field == "arms.trained.steps" for issue in info.value.issues), info.value.issues


def test_snakemake_dry_run_names_the_claim_not_the_workflow(tmp_path):
    claim = _valid_with("trained: {steps: 50}", "trained: {stepz: 50}")
    claims = _write(tmp_path, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": claim})
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = snakemake(workdir, "-n", claims=claims, check=False)
    assert proc.returncode == 1
    assert "WorkflowError" not in proc.stderr and "common.smk" not in proc.stderr, proc.stderr
    first = next(line for line in proc.stderr.splitlines() if "problem(s)" in line)
    assert first == "1 problem(s) in claim files:"
    assert "good-claim.yaml:9: arms.trained.stepz: unknown key 'stepz': did you mean 'steps'?" in proc.stderr


def test_a_claim_file_outside_a_paper_folder_is_an_error(tmp_path, capsys):
    claims = _write(tmp_path, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": VALID})
    (claims / "stray-claim.yaml").write_text(VALID.replace("good-claim", "stray-claim"))
    assert repro_main(["claims", "check", "--claims", str(claims)]) == 1
    err = capsys.readouterr().err
    assert "claims/stray-claim.yaml: <file>: claim files are read only inside a paper folder" in err
    assert "move it to claims/<arxiv_id>/stray-claim.yaml" in err


@pytest.mark.parametrize("scale", ["ci", "reduced", "full"])
def test_plan_gives_each_claim_the_runs_make_run_gives(scale):
    """build_plan resolves each distinct arm once for all the claims and seeds that share it: the runs must be those
    of one make_run call per claim, arm and seed, and the plan's runs their closures."""
    plan = build_plan(ROOT / "claims", scale)
    expected_runs = {}
    for claim_plan in plan.claims.values():
        claim = claim_plan.loaded.claim
        for arm, runs in claim_plan.arms.items():
            if isinstance(claim, ReproductionClaim):
                experiment, params, overrides = claim.experiment, claim.arms[arm], scale_spec(claim, scale).params
            else:
                experiment, params, overrides = claim.runs.experiment, claim.runs.arms[arm], {}
            expected = [make_run(experiment, scale, seed, params, overrides) for seed in range(len(runs))]
            assert [run.to_json() for run in runs] == [run.to_json() for run in expected], (claim.id, arm)
            for run in expected:
                for needed in run.closure():
                    expected_runs[needed.dir] = needed
    assert list(plan.runs) == list(expected_runs)
    assert all(plan.runs[path].to_json() == run.to_json() for path, run in expected_runs.items())


def test_each_run_names_the_claims_and_arms_it_serves_once():
    """The console's `for:` line and logs/index-<scale>.tsv: a shared pre-training serves every seed of every arm of
    the robust_xling claims, and names each claim and arm once (it was named once per seed: 4 times at ci)."""
    plan = build_plan(ROOT / "claims", "ci")
    pretrain = next(path for path in plan.runs if path.parts[2] == "xling_mlm")
    names = plan.run_users[pretrain]
    assert len(names) == len(set(names))
    arms = {(claim_id, arm) for claim_id, c in plan.claims.items() for arm, runs in c.arms.items() if runs}
    expected = {f"{claim_id}:{arm} (prerequisite)" for claim_id, arm in arms if claim_id.startswith("robust-xling")}
    assert set(names) == expected and len(expected) > 4
    seed0 = next(path for path in plan.runs if path.parts[2] == "robust_xling" and path.name == "seed0")
    assert plan.run_users[seed0] and all("(prerequisite)" not in name for name in plan.run_users[seed0])


@pytest.mark.parametrize("scale", ["ci", "reduced"])
def test_the_pilot_sizes_the_holm_family_the_workflow_adjusts_over(scale):
    """One definition of a paper's Holm family (repro.plan.holm_families): the workflow adjusts each reproduction
    claim's verdict over it, and `repro pilot` reports the seeds that survive α/m for its size m. Claims not run at
    the scale (and the paper's derivations) are outside it."""
    plan = build_plan(ROOT / "claims", scale)
    families = holm_families(plan.claims.values())
    assert max(map(len, families.values())) > 1
    assert sum(map(len, families.values())) == sum(
        c.kind == "reproduction" and scale_spec(c.loaded.claim, scale).not_run is None for c in plan.claims.values()
    )
    assert any(
        c.kind == "reproduction" and not c.in_holm_family for c in build_plan(ROOT / "claims", "full").claims.values()
    )
    for claim_id, claim_plan in plan.claims.items():
        siblings = sorted(p for p in claim_plan.loaded.path.parent.glob("*.yaml") if p.name != "paper.yaml")
        size = holm_family_size(siblings, scale, load_one, claim_id)
        if claim_plan.in_holm_family:
            assert claim_id in families[claim_plan.paper_id] and size == len(families[claim_plan.paper_id])
        else:
            assert all(claim_id not in members for members in families.values()) and size == 0


def test_shared_arms_are_told_apart_by_what_validation_tells_apart():
    utc, plus_one = datetime.UTC, datetime.timezone(datetime.timedelta(hours=1))
    same_instant = [datetime.datetime(2024, 1, 1, 0, tzinfo=utc), datetime.datetime(2024, 1, 1, 1, tzinfo=plus_one)]
    distinct = [1, 1.0, True, 0.0, -0.0, "1", None, [1], (1,), {"a": 1, "b": 2}, {"b": 2, "a": 1}, [[1]], [(1,)]]
    distinct += [datetime.date(2024, 1, 1), *same_instant]
    assert len({_frozen(value) for value in distinct}) == len(distinct)
    assert _frozen({"a": [1, 2.5]}) == _frozen({"a": [1, 2.5]})
    with pytest.raises(TypeError):
        _frozen({1, 2})


def _with_pilot(seeds: int, sd: float, pilot: str = "[1000, 1001, 1002, 1003]") -> str:
    return _valid_with("    seeds: 3\n", f"    seeds: {seeds}\n    power: {{sd: {sd}, pilot_seeds: {pilot}}}\n")


def test_pilot_power_holds_the_seeds_to_the_margin(tmp_path, capsys):
    """A scale that records its pilot (power: sd, pilot_seeds) must declare seeds that detect its margin at 80 %
    power by the t-based MDE repro pilot and the verdict's power gate use. Margin 0.02, pilot sd 0.015: 5 seeds detect
    0.0206 (refused), 6 detect 0.0180 (accepted); the error names the file, the line of `seeds`, the MDE and the seeds
    that would do."""
    from repro import stats

    assert stats.minimum_detectable_effect(0.015, 5) > 0.02 >= stats.minimum_detectable_effect(0.015, 6)
    ok = _write(tmp_path / "ok", {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": _with_pilot(6, 0.015)})
    (claim,) = load_claims(ok)
    assert claim.claim.scales.ci.power.sd == 0.015

    short = _write(
        tmp_path / "short", {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": _with_pilot(5, 0.015)}
    )
    with pytest.raises(ClaimError) as info:
        load_claims(short)
    (issue,) = info.value.issues
    assert issue.field == "scales.ci.seeds" and issue.file.endswith("good-claim.yaml")
    assert "0.02061" in issue.reason and "declare 6 seeds" in issue.reason and "margin 0.02" in issue.reason
    line = (short / "0000.00002/good-claim.yaml").read_text().splitlines()[issue.line - 1]
    assert line.strip() == "seeds: 5"
    assert repro_main(["claims", "check", "--claims", str(short)]) == 1
    assert "declare 6 seeds" in capsys.readouterr().err


def test_pilot_seeds_must_not_be_decisive_seeds(tmp_path):
    claims = _write(
        tmp_path, {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": _with_pilot(6, 0.01, "[2, 1000]")}
    )
    with pytest.raises(ClaimError) as info:
        load_claims(claims)
    (issue,) = info.value.issues
    assert issue.field.startswith("scales.ci") and "[2]" in issue.reason and "decisive" in issue.reason


def test_a_pilot_is_not_part_of_the_decision_rule(tmp_path):
    """Recording the pilot changes no ledger fingerprint: the rule is the seeds and margin, not their reason."""
    from repro import ledger

    bare = _write(
        tmp_path / "bare",
        {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": _valid_with("seeds: 3", "seeds: 6")},
    )
    pilot = _write(
        tmp_path / "pilot", {"0000.00002/paper.yaml": PAPER, "0000.00002/good-claim.yaml": _with_pilot(6, 0.015)}
    )
    (a,), (b,) = load_claims(bare), load_claims(pilot)
    assert ledger.rule_of(a.claim, "ci") == ledger.rule_of(b.claim, "ci")


def test_shipped_pilots_hold_their_seeds():
    """Every shipped claim that records a pilot passes (load_claims checks it); the CARE claims' earlier seeds (5, and
    4 for the ablation) would be refused at their margins: the check catches the under-powered pairing they had."""
    from repro.claims_checks import power_issue

    claims = [c.claim for c in load_claims(ROOT / "claims") if c.claim.kind == "reproduction"]
    piloted = {c.id: c.scales.ci for c in claims if c.scales.ci.power is not None}
    assert len(piloted) >= 15
    for cid, spec in piloted.items():
        assert power_issue(spec) is None, cid
    care = [cid for cid in piloted if cid.startswith("care-") and cid != "care-failure-signal-share"]
    assert len(care) == 5  # the failure-signal share's margin 0.02 was sized for 3 seeds
    for cid in care:
        earlier = 4 if cid == "care-ablation-anchor-beats-grpo" else 5
        assert power_issue(piloted[cid].model_copy(update={"seeds": earlier})) is not None, cid


def test_the_checks_t_quantile_is_scipys():
    """The claim check's scipy-free Student t quantile (planning loads every claim and should not import
    scipy.stats for this check) equals scipy's, and its MDE equals repro.stats' (the verdict's power gate's)."""
    from scipy import stats as sps

    from repro import stats
    from repro.claims_checks import _mde, t_quantile

    for df in [*range(1, 60), 99, 100, 249, 498, 499]:
        for q in (0.5, 0.8, 0.9, 0.95, 0.975, 0.995, 0.9995):
            assert t_quantile(q, df) == pytest.approx(float(sps.t.ppf(q, df)), rel=1e-11, abs=1e-12), (q, df)
    for n in (2, 3, 5, 7, 30, 500):
        assert _mde(2.87, n, 0.05) == pytest.approx(stats.minimum_detectable_effect(2.87, n, 0.05), rel=1e-11)
    with pytest.raises(ValueError):
        t_quantile(0.3, 5)
