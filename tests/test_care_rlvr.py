"""The care_rlvr family through the harness on a tiny setting: a shared warm start (one run for every seed and
arm), real training (none for the control), and metrics computed from what the runs wrote. Valid tables and
determinism: tests/test_families.py."""

import pytest

from repro.metrics.scoring import compute_run_metrics
from repro.plan import make_run
from repro.runner import run_arm

TINY = {
    "steps": 3,
    "prompts_per_step": 4,
    "updates_per_step": 2,
    "test_items_per_benchmark": 3,
    "eval_samples": 2,
    "warm_start": {
        "sft_steps": 4,
        "sft_batch": 8,
        "hidden": 16,
        "heads": 2,
        "layers": 1,
        "check_items_per_benchmark": 2,
    },
}
ARMS = {"grpo": {"method": "grpo"}, "care": {"method": "care", "rgr": True}, "none": {"method": "none"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs of each arm at seeds 0 and 1 (prerequisites first), in a scratch working directory."""
    workdir = tmp_path_factory.mktemp("care")
    mp = pytest.MonkeyPatch()
    mp.chdir(workdir)
    out = {}
    for name, arm in ARMS.items():
        for seed in (0, 1):
            spec = make_run("care_rlvr", "ci", seed, arm, TINY)
            for needed in spec.closure():
                if not needed.run_json.exists():
                    record = run_arm(needed, needed.run_json)
                    assert record["status"] == "completed", record["error"]
            out[(name, seed)] = spec
    yield out
    mp.undo()


def test_one_warm_start_serves_every_arm_and_seed(runs):
    warm = {spec.requires["warm_start"].dir for spec in runs.values()}
    assert len(warm) == 1 and "care_warm_start" in str(next(iter(warm)))
    assert next(iter(warm)).name == "seed0"


def test_training_changes_weights_and_the_control_does_not(runs):
    from repro.files import read_json

    for (name, _), spec in runs.items():
        weights = read_json(spec.run_json)["artifacts"]["weights"]
        changed = weights["init"]["sha256"] != weights["final"]["sha256"]
        assert changed == (name != "none"), name


def test_metrics_from_predictions_and_curve(runs):
    for (name, _), spec in runs.items():
        table, diagnostics = compute_run_metrics(spec.run_json)
        values = dict(zip(table["metric"], table["value"], strict=True))
        assert 0.0 <= values["macro_accuracy"] <= 100.0
        assert diagnostics["input_dependence"]["answers.inputs"] == 18
        if name == "grpo":
            assert values["failure_signal_share"] == pytest.approx(0.5) or values["failure_signal_share"] == 0.0
            assert values["rgr_extra_decode_fraction"] == 0.0
        if name == "none":
            assert values["zero_signal_group_fraction"] == 1.0 and values["failure_signal_share"] == 0.0
        if name == "care":
            assert 0.0 <= values["rgr_extra_decode_fraction"] <= 1.0 / 8  # at most one re-decode per group of 8


def test_rgr_needs_care():
    from repro.families.care_rlvr.experiment import Params

    with pytest.raises(ValueError, match="rgr"):
        Params(method="grpo", rgr=True)
    with pytest.raises(ValueError, match="rgr_context"):
        Params(method="care", rgr_context="prompt")
    with pytest.raises(ValueError, match="updates_per_step"):
        Params(prompts_per_step=2, updates_per_step=4)


def test_the_rescued_pseudo_anchor_gets_the_full_anchor_advantage_on_its_answer_token():
    """The official rescue (kept, papers.md §3.3 (7)): a *failed* pseudo-anchor gets +√K′·√(K/K′) like a verified
    anchor, and region weighting (positives by reward > 0) puts all of it on its answer token; the pre-declared
    arms ``rescue: false`` (no signal) and ``token_weighting: uniform`` (A_i on every token) measure both choices."""
    import math

    import torch

    from repro.families.care_rlvr.care_step import token_advantages
    from repro.families.care_rlvr.experiment import Params
    from repro.methods import care

    emb = torch.nn.functional.normalize(torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    zeros = torch.zeros(8)
    logp = torch.arange(8.0)  # rollout 7 is the most likely failure: the pseudo-anchor
    lens = [2] * 8
    plan = care.plan_group(zeros, lens, [1] * 8, emb, logp, k=4, m=6)
    adv = care.group_advantages(plan, zeros, k=4)
    assert plan.rescued and plan.anchor == 7 and adv[7].item() == pytest.approx(math.sqrt(4), rel=1e-4)
    off = care.group_advantages(care.plan_group(zeros, lens, [1] * 8, emb, logp, rescue=False), zeros)
    assert off.abs().sum().item() == 0.0
    # tokens: <think> a b </think> <answer> x </answer> <eos>
    mask = torch.ones(8, 8)
    think = torch.zeros(8, 8, dtype=torch.bool)
    think[:, 1:3] = True
    answer = torch.zeros(8, 8, dtype=torch.bool)
    answer[:, 5] = True
    region = token_advantages(Params(method="care"), adv, mask, think, answer, zeros > 0)
    assert region[7, 5].item() == pytest.approx(2.0, rel=1e-4)
    assert region[7].abs().sum().item() == pytest.approx(2.0, rel=1e-4)  # nothing on its think
    uniform = token_advantages(Params(method="care", token_weighting="uniform"), adv, mask, think, answer, zeros > 0)
    assert uniform[7].tolist() == pytest.approx([2.0] * 8, rel=1e-4)


@pytest.mark.parametrize("context", ["repair", "prompt"])
def test_rgr_trains_each_redecode_in_its_failures_slot(context, monkeypatch):
    """``rgr_context: repair`` trains the verified repairs in the context they were decoded in and leaves a failed
    repair's failure in place at s_refl; ``prompt`` (the official code's rollout) trains every re-decode, verified
    or not, as the continuation after the failure's original prompt, a failed one at −s_refl·|A_raw|."""
    import math

    import numpy as np
    import torch

    from repro.families.care_rlvr import care_step as cs
    from repro.families.care_rlvr import experiment as ex
    from repro.tasks import visual_reasoning as vr

    params = ex.Params(method="care", rgr=True, rgr_context=context, prompts_per_step=4)
    config = vr.TaskConfig()
    torch.manual_seed(0)
    policy = vr.build_policy(config, 16, 1, 2)
    generator = torch.Generator().manual_seed(0)
    main, responses, targets, _ = ex._roll_out(params, policy, config, np.random.default_rng(0), generator)
    rewards = torch.zeros(len(responses), dtype=torch.float64)
    rewards[::8] = 1.0  # one positive per group of 8: every group is anchored with K' = 4 hard negatives
    verdicts = iter([1.0, 0.0, 1.0, 0.0])  # the re-decodes of groups 0 and 2 are verified, 1 and 3 are not
    monkeypatch.setattr(vr, "score", lambda response, target: next(verdicts))

    advantages, parts, book = cs.care_step(params, policy, main, responses, targets, rewards, generator)

    assert (book["rgr_attempts"], book["rgr_repairs"], book["extra_decodes"]) == (4, 2, 4)
    sampled, redecoded = parts
    trained = 2 if context == "repair" else 4
    assert len(sampled.completion_ids) == 32 - trained and len(redecoded.completion_ids) == trained
    per_row = redecoded.advantages.double().sum(1)
    two_positives = (1 - 0.4) / math.sqrt(0.4 * 0.6)  # anchor and repair among five: A_raw of a positive
    failed = -0.25 * (1 / math.sqrt(4))  # −s_refl·|A_raw| of a negative beside one positive, K' = 4
    if context == "repair":
        assert per_row.tolist() == pytest.approx([two_positives] * 2, rel=1e-5)
        # the prompt holds the failed response with the cue: wider than the original prompt
        assert redecoded.prompt_ids.shape[1] > main.prompt_ids.shape[1]
    else:
        assert per_row.tolist() == pytest.approx([two_positives, failed, two_positives, failed], rel=1e-5)
        # the original prompt (every row of a group shares it), not the cue-edited context
        first_row = redecoded.group * params.group_size
        assert torch.equal(redecoded.prompt_ids, main.prompt_ids[first_row])
        assert torch.equal(redecoded.images, main.images[first_row])
    assert book["repaired_mass"] == pytest.approx(2 * two_positives, rel=1e-5)
    # the curve's slots: a failed re-decode's failure keeps −s_refl·|A_raw| (in the batch, or in its re-decode)
    assert int(torch.isclose(advantages, torch.tensor(failed, dtype=torch.float64)).sum()) == 2
    assert redecoded.group.tolist() == ([0, 2] if context == "repair" else [0, 1, 2, 3])
