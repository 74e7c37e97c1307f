"""The gdro_rlvr family through the harness on a tiny setting: the warm start is one shared run, every arm trains and
writes valid tables, metrics come from the predictions, and the compute-neutrality property checks read the real
training logs (and fail on GRPO controls). Determinism and seed dependence: tests/test_families.py."""

import numpy as np
import pandas as pd
import pytest

from repro.families.gdro_rlvr import experiment as gdro_rlvr
from repro.families.gdro_rlvr.properties import measure_prompt_gdro_budget, measure_rollout_gdro_budget
from repro.metrics.scoring import compute_run_metrics
from repro.plan import make_run
from repro.runner import run_arm

from .conftest import record_progress_bars

TINY = {
    "model": "qwen3-1.7b",
    "pool_size": 64,
    "eval_per_tier": 2,
    "sft_steps": 30,
    "sft_batch": 16,
    "rl_steps": 4,
    "prompts_per_step": 8,
}
METHODS = ("none", "grpo", "prompt_gdro", "rollout_gdro")
PROGRESS_BARS: list[str] = []
"""What each progress bar the runs of the ``runs`` fixture showed in their logs is of, in order."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """run.json records by (method, seed); every RL arm of a seed shares one warm-start run."""
    root = tmp_path_factory.mktemp("gdro")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # run records name their prerequisites by paths relative to the workflow's folder
        bars = record_progress_bars(mp)
        for seed in (0, 1):
            for method in METHODS:
                spec = make_run("gdro_rlvr", "ci", seed, {**TINY, "method": method})
                for needed in spec.closure():
                    if not needed.run_json.exists():
                        record = run_arm(needed, needed.run_json)
                        assert record["status"] == "completed", record["error"]
                out[(method, seed)] = (spec, root / spec.run_json)
    PROGRESS_BARS.extend(bars)
    return root, out


def test_evaluation_shows_progress_in_the_runs_log(runs):
    """Every run has a bar for its training and one over its evaluation's sampling chunks, in the run's log."""
    assert PROGRESS_BARS.count("evaluate: sampling") == 2 * len(METHODS)
    assert len([bar for bar in PROGRESS_BARS if bar.startswith("warm start")]) == 2


def test_warm_start_is_one_shared_run(runs):
    _, out = runs
    for seed in (0, 1):
        warm = out[("none", seed)][0]
        for method in METHODS[1:]:
            spec = out[(method, seed)][0]
            assert spec.requires["warm_start"].arm_key == warm.arm_key  # the no-RL control *is* the warm start
    assert gdro_rlvr.requires(gdro_rlvr.Params(method="none")) == {}


def test_rl_arms_change_weights_and_tables_validate(runs):
    from repro.files import read_json

    _, out = runs
    for (method, _seed), (_, path) in out.items():
        record = read_json(path)
        weights = record["artifacts"]["weights"]
        assert weights["final"]["l2_delta_from_init"] > 0, method
        table, diagnostics = compute_run_metrics(path)
        values = dict(zip(table["metric"], table["value"], strict=True))
        assert 0.0 <= values["worst_tier_pass_at_8"] <= values["pass_at_8"] <= 1.0
        assert values["mean_at_8"] <= values["pass_at_8"]
        assert diagnostics["input_dependence"]["samples.inputs"] == 12  # 6 tiers × 2 held-out prompts
        curve = pd.read_parquet(path.parent / "curve.parquet")
        if method == "none":
            assert curve["sft_loss"].notna().all() and curve["reward"].isna().all()
        else:
            assert len(curve) == TINY["rl_steps"] and curve["reward"].notna().all()
            assert (curve["mean_rollouts"] == 4.0).all()


def test_budget_properties_on_real_runs(runs):
    _, out = runs
    dirs = {k: v[1].parent for k, v in out.items()}
    prompt = measure_prompt_gdro_budget(None, 10_000, None, [dirs[("prompt_gdro", 0)], dirs[("grpo", 0)]])
    main, controls = prompt[~prompt["control"]], prompt[prompt["control"]]
    assert (main["abs_err"][:-1] == 0).all()  # n̄ rollouts per prompt; weights constant within a bin
    assert (controls["abs_err"] > 0).all()  # a one-rollout bump, a reweighted prompt and GRPO all fail
    rollout = measure_rollout_gdro_budget(None, 10_000, None, [dirs[("rollout_gdro", 0)], dirs[("grpo", 1)]])
    main = rollout[~rollout["control"]]
    steps = TINY["rl_steps"]
    assert np.allclose(main["lhs"][:steps], 4.0) and (main["abs_err"][: 2 * steps] == 0).all()
    assert (rollout[rollout["control"]]["abs_err"] > 0).all()


def test_incoherent_params_are_rejected():
    with pytest.raises(ValueError):
        gdro_rlvr.Params(method="grpo", mean_rollouts=20)  # outside the arms 2 … 12
    with pytest.raises(ValueError):
        gdro_rlvr.Params(model_source="hub")  # hub checkpoints go with dapo_math
    with pytest.raises(ValueError):
        gdro_rlvr.Params(method="grpo", rl_steps=None)
    # a no-RL run ignores RL settings: its key does not depend on them
    assert gdro_rlvr.Params(method="none", rl_lr=0.5) == gdro_rlvr.Params(method="none")


def test_full_scale_is_specified_for_the_hub():
    params = gdro_rlvr.Params.model_validate({**gdro_rlvr.SCALES["full"], "method": "prompt_gdro"})
    assert params.model_source == "hub" and params.task == "dapo_math" and params.sft_steps == 0
    assert (params.prompts_per_step, params.rl_steps, params.rl_lr, params.mean_rollouts) == (256, 1000, 1e-6, 4)
    assert gdro_rlvr.requires(params) == {}  # zero-SFT: RL starts from the hub base model
    assert gdro_rlvr.HUB_QWEN3[params.model] == "Qwen/Qwen3-4B-Base"


def test_full_scale_code_path_runs_offline(tmp_path, monkeypatch):
    """The hub path (tokenizer, left-padded text prompts, decode-and-verify rewards, fp32 policy computing in bf16,
    zero-SFT) run end to
    end with local stand-ins for the Qwen3 checkpoint and the DAPO / MATH-500 / AIME loaders: no network."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen3Config

    from repro.tasks import dapo_math

    words = ["<pad>", "<eos>", "Answer:", "what", "is", "plus", "?", *map(str, range(10))]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    config = Qwen3Config(
        vocab_size=len(words),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        eos_token_id=1,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    monkeypatch.setitem(gdro_rlvr.HUB_QWEN3, "qwen3-4b", str(tmp_path / "model"))
    problems = [(f"what is {a} plus {b} ?", str(a + b)) for a in range(3) for b in range(3)]
    monkeypatch.setattr(dapo_math, "load_dapo_math", lambda: problems)
    monkeypatch.setattr(dapo_math, "load_eval_tiers", lambda: [(p, s, i % 6) for i, (p, s) in enumerate(problems * 2)])

    small = {"rl_steps": 2, "prompts_per_step": 2, "max_new_tokens": 3, "generation_batch": 8, "micro_batch": 4}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        for method in ("none", "rollout_gdro"):
            spec = make_run("gdro_rlvr", "full", 0, {"method": method, **small})
            assert spec.params["model_source"] == "hub" and not spec.requires
            record = run_arm(spec, spec.run_json)
            assert record["status"] == "completed", record["error"]
            table, _ = compute_run_metrics(spec.run_json)
            assert set(table["metric"]) >= {"pass_at_8", "worst_tier_pass_at_8", "pass_at_8_tier5"}
            weights = record["artifacts"]["weights"]
            assert (weights["final"]["l2_delta_from_init"] > 0) == (method != "none")


def test_full_scale_updates_fp32_master_weights_at_the_papers_lr(tmp_path):
    """At full scale's lr 1e-6 one AdamW step, forward in bf16, moves nearly every weight of the policy as the
    full path loads it (float32), while on the same weights held in bf16 (the checkpoint's dtype) it rounds away
    on nearly all of them."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    config = Qwen3Config(
        vocab_size=16,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).to(torch.bfloat16).save_pretrained(tmp_path)  # stored as on the hub
    params = gdro_rlvr.Params.model_validate({**gdro_rlvr.SCALES["full"], "method": "grpo"})
    assert params.rl_lr == 1e-6 and params.compute_dtype == "bfloat16"
    ids = torch.randperm(32, generator=torch.Generator().manual_seed(0)).remainder(16).view(2, 16)  # every token

    def share_moved_by_one_step(model) -> float:
        before = [p.detach().clone() for p in model.parameters()]
        optimizer = torch.optim.AdamW(model.parameters(), lr=params.rl_lr, weight_decay=params.weight_decay)
        with gdro_rlvr.forward_precision(model, params):
            out = model(input_ids=ids, labels=ids)
        assert out.logits.dtype == torch.bfloat16  # the forward pass ran in bf16
        out.loss.backward()
        optimizer.step()
        moved = sum(int((p.detach() != b).sum()) for p, b in zip(model.parameters(), before, strict=True))
        return moved / sum(b.numel() for b in before)

    master = gdro_rlvr.load_pretrained_policy(str(tmp_path))
    assert {p.dtype for p in master.parameters()} == {torch.float32}
    assert share_moved_by_one_step(master) > 0.95
    in_bf16 = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16)  # the load this replaced
    assert share_moved_by_one_step(in_bf16) < 0.05
