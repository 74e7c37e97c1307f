"""GRPO pieces: hand-checked advantages and clipping, and parity with TRL's GRPOTrainer loss and
advantage formula on identical inputs; rollout sampling consistency."""

import math

import pytest
import torch

from repro.methods.grpo import clip_advantages, clipped_surrogate, group_advantages, grpo_loss, kl_k3
from repro.methods.sampling import filter_logits, sample, token_logprobs


def test_group_advantages_by_hand():
    rewards = torch.tensor([[1.0, -1.0, -1.0, -1.0], [1.0, 1.0, 1.0, 1.0]])
    adv = group_advantages(rewards, eps=0.0 + 1e-12)
    # mean −0.5, population sd √0.75: (1.5, −0.5, −0.5, −0.5)/√0.75
    assert adv[0].tolist() == pytest.approx([1.5 / math.sqrt(0.75)] + [-0.5 / math.sqrt(0.75)] * 3)
    assert adv[1].tolist() == [0.0] * 4  # no signal in an all-correct group
    sample_sd = group_advantages(rewards, std="sample", eps=1e-12)
    assert sample_sd[0, 0].item() == pytest.approx(1.5 / math.sqrt(1.0))  # Bessel: sd = √(3/3) = 1


def test_advantages_match_trl_formula():
    from trl.trainer.utils import nanstd

    g = torch.Generator().manual_seed(0)
    rewards = torch.randint(0, 2, (6, 4), generator=g).float() * 2 - 1
    flat = rewards.reshape(-1)
    mean = flat.view(-1, 4).mean(1).repeat_interleave(4)
    std = nanstd(flat.view(-1, 4), dim=1).repeat_interleave(4)
    trl_adv = (flat - mean) / (std + 1e-4)
    torch.testing.assert_close(group_advantages(rewards, std="sample", eps=1e-4).reshape(-1), trl_adv)


def test_clipping_and_kl():
    assert clip_advantages(torch.tensor([-9.0, 0.5, 7.0])).tolist() == [-5.0, 0.5, 5.0]
    logp = torch.tensor([[-1.0, -2.0]])
    assert kl_k3(logp, logp).abs().max().item() == 0.0
    assert (kl_k3(logp, torch.tensor([[-0.5, -3.0]])) > 0).all()
    # ratio e^{0.5} ≈ 1.65 with A > 0 is clipped at 1 + ε_high = 1.28; with A < 0 the unclipped term is kept
    surrogate = clipped_surrogate(torch.tensor([[0.5]]), torch.tensor([[0.0]]), torch.tensor([1.0]))
    assert surrogate.item() == pytest.approx(1.28)
    surrogate = clipped_surrogate(torch.tensor([[0.5]]), torch.tensor([[0.0]]), torch.tensor([-1.0]))
    assert surrogate.item() == pytest.approx(-math.exp(0.5))
    surrogate = clipped_surrogate(torch.tensor([[-0.5]]), torch.tensor([[0.0]]), torch.tensor([-1.0]))
    assert surrogate.item() == pytest.approx(-0.8)  # clipped at 1 − ε_low


def test_per_response_loss_is_token_mean():
    logp = torch.zeros(2, 3)
    adv = torch.tensor([1.0, -2.0])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    loss, per_response = grpo_loss(logp, logp, None, adv, mask, beta_kl=0.0)
    assert per_response.tolist() == [-1.0, 2.0]
    assert loss.item() == pytest.approx(0.5)
    token_mean, _ = grpo_loss(logp, logp, None, adv, mask, beta_kl=0.0, aggregation="token_mean")
    assert token_mean.item() == pytest.approx((-1 - 1 + 2) / 3)


@pytest.fixture(scope="module")
def trl_grpo(tmp_path_factory):
    """TRL's GRPOTrainer around a tiny GPT-2 saved locally (beta > 0 makes TRL load a reference copy)."""
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from trl import GRPOConfig, GRPOTrainer

    path = tmp_path_factory.mktemp("tinygpt")
    vocab = {f"t{i}": i for i in range(30)} | {"<eos>": 30, "<pad>": 31}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    config = GPT2Config(
        vocab_size=32,
        n_positions=64,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=30,
        eos_token_id=30,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    args = GRPOConfig(
        output_dir=str(path / "out"),
        beta=0.04,
        epsilon=0.2,
        epsilon_high=0.28,
        num_generations=2,
        per_device_train_batch_size=2,
        max_completion_length=4,
        report_to=[],
        use_cpu=True,
        loss_type="grpo",
        use_bias_correction_kl=False,
    )
    trainer = GRPOTrainer(
        model=str(path),
        reward_funcs=[lambda completions, **kw: [1.0] * len(completions)],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": ["t1 t2", "t3 t4"]}),
        processing_class=tokenizer,
    )
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train(); we call the loss directly
    trainer.model.train()
    return trainer


def test_grpo_loss_matches_trl_on_identical_inputs(trl_grpo):
    g = torch.Generator().manual_seed(1)
    batch, prompt_len, steps = 4, 3, 5
    inputs = {
        "prompt_ids": torch.randint(0, 30, (batch, prompt_len), generator=g),
        "prompt_mask": torch.ones(batch, prompt_len, dtype=torch.long),
        "completion_ids": torch.randint(0, 30, (batch, steps), generator=g),
        "completion_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 0, 0, 0, 0]]),
        "advantages": torch.randn(batch, generator=g),
        "old_per_token_logps": -torch.rand(batch, steps, generator=g) * 3,
        "ref_per_token_logps": -torch.rand(batch, steps, generator=g) * 3,
        "num_items_in_batch": torch.tensor(13.0),
    }
    trl_loss = trl_grpo._compute_loss(trl_grpo.model, inputs)
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    attention = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    with torch.no_grad():
        trl_logps, _, _ = trl_grpo._get_per_token_logps_and_entropies(trl_grpo.model, ids, attention, steps)
    ours, _ = grpo_loss(
        trl_logps,
        inputs["old_per_token_logps"],
        inputs["ref_per_token_logps"],
        inputs["advantages"],
        inputs["completion_mask"],
        eps_low=0.2,
        eps_high=0.28,
        beta_kl=0.04,
    )
    assert ours.item() == pytest.approx(trl_loss.item(), abs=1e-6)
    # our teacher-forced log-probabilities agree with TRL's on the same model and tokens
    with torch.no_grad():
        ours_logps = token_logprobs(
            trl_grpo.model,
            inputs["prompt_ids"],
            inputs["prompt_mask"],
            inputs["completion_ids"],
            inputs["completion_mask"],
        )
    torch.testing.assert_close(ours_logps, trl_logps * inputs["completion_mask"], atol=1e-3, rtol=0)


@pytest.fixture(scope="module")
def tiny_lm():
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=20,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=1,
        eos_token_id=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    torch.manual_seed(0)
    return GPT2LMHeadModel(config).eval()


def test_sampling_logprobs_equal_teacher_forced_and_ignore_left_padding(tiny_lm):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 20, (8, 6), generator=g)
    mask = torch.ones(8, 6, dtype=torch.long)
    ids[:3, :2], mask[:3, :2] = 0, 0
    rollouts = sample(tiny_lm, ids, mask, 6, eos_id=2, pad_id=0, generator=g, temperature=0.7)
    with torch.no_grad():
        forced = token_logprobs(tiny_lm, ids, mask, rollouts.completion_ids, rollouts.completion_mask, temperature=0.7)
        unpadded = token_logprobs(
            tiny_lm,
            ids[:1, 2:],
            mask[:1, 2:],
            rollouts.completion_ids[:1],
            rollouts.completion_mask[:1],
            temperature=0.7,
        )
    torch.testing.assert_close(forced, rollouts.logprobs, atol=1e-5, rtol=0)
    torch.testing.assert_close(unpadded, forced[:1], atol=1e-5, rtol=0)


def test_sampling_is_deterministic_and_stops_at_eos(tiny_lm):
    ids, mask = (
        torch.randint(3, 20, (16, 4), generator=torch.Generator().manual_seed(3)),
        torch.ones(16, 4, dtype=torch.long),
    )
    a = sample(tiny_lm, ids, mask, 10, eos_id=2, pad_id=0, generator=torch.Generator().manual_seed(5))
    b = sample(tiny_lm, ids, mask, 10, eos_id=2, pad_id=0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.completion_ids, b.completion_ids)
    for row, row_mask in zip(a.completion_ids, a.completion_mask, strict=True):
        ends = (row == 2).nonzero()
        if len(ends):
            end = ends[0].item()
            assert row_mask[: end + 1].all() and not row_mask[end + 1 :].any() and (row[end + 1 :] == 0).all()


def test_filter_logits_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, top_p=0.8))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 + 0.3 reaches 0.8
    assert torch.isfinite(filter_logits(logits, top_k=3)).sum().item() == 3
    probs = torch.softmax(filter_logits(logits, temperature=0.5), -1)
    assert probs[0, 0].item() == pytest.approx(0.25 / (0.25 + 0.09 + 0.0225 + 0.0025))


# ------------------------------------------------------------------ GDRO additions (arXiv 2601.19280)


def test_ragged_group_advantages_equal_per_group_eq3_and_trl():
    """Rollout-GDRO's variable group sizes: the same Eq. 3 per group, and TRL's formula with std="sample"."""
    from trl.trainer.utils import nanstd

    from repro.methods.grpo import ragged_group_advantages

    g = torch.Generator().manual_seed(4)
    sizes = [2, 12, 4, 7, 3]
    group = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    rewards = torch.randint(0, 2, (int(sum(sizes)),), generator=g).double() * 2 - 1
    ours = ragged_group_advantages(rewards, group, len(sizes))
    ours_sample = ragged_group_advantages(rewards, group, len(sizes), std="sample", eps=1e-4)
    start = 0
    for size in sizes:
        chunk = rewards[start : start + size]
        torch.testing.assert_close(ours[start : start + size], group_advantages(chunk[None])[0])
        trl_adv = (chunk - chunk.mean()) / (nanstd(chunk[None], dim=1) + 1e-4)
        torch.testing.assert_close(ours_sample[start : start + size], trl_adv)
        start += size


def test_advantage_reweighting_scales_each_response_loss(trl_grpo):
    """Prompt-GDRO's Eq. 16 multiplies a prompt's advantages by w > 0; with β_KL = 0 that multiplies each of its
    responses' clipped-surrogate losses by w (min(ρwA, clip(ρ)wA) = w·min(ρA, clip(ρ)A)), and TRL's loss on the
    reweighted advantages equals ours."""
    g = torch.Generator().manual_seed(5)
    batch, steps = 4, 5
    logp = -torch.rand(batch, steps, generator=g) * 3
    old = logp + torch.randn(batch, steps, generator=g) * 0.3  # ratios away from 1: clipping is active
    adv = torch.randn(batch, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 0, 0, 0, 0]])
    weights = torch.tensor([1.0, 15.0, 0.3, 2.5])
    _, plain = grpo_loss(logp, old, None, adv, mask, beta_kl=0.0)
    _, weighted = grpo_loss(logp, old, None, adv * weights, mask, beta_kl=0.0)
    torch.testing.assert_close(weighted, plain * weights)

    inputs = {
        "prompt_ids": torch.randint(0, 30, (batch, 3), generator=g),
        "prompt_mask": torch.ones(batch, 3, dtype=torch.long),
        "completion_ids": torch.randint(0, 30, (batch, steps), generator=g),
        "completion_mask": mask,
        "advantages": adv * weights,
        "old_per_token_logps": old,
        "ref_per_token_logps": -torch.rand(batch, steps, generator=g) * 3,
        "num_items_in_batch": mask.sum(),
    }
    trl_loss = trl_grpo._compute_loss(trl_grpo.model, inputs)
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    attention = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    with torch.no_grad():
        trl_logps, _, _ = trl_grpo._get_per_token_logps_and_entropies(trl_grpo.model, ids, attention, steps)
    ours, _ = grpo_loss(trl_logps, old, inputs["ref_per_token_logps"], adv * weights, mask, beta_kl=0.04)
    assert ours.item() == pytest.approx(trl_loss.item(), abs=1e-6)
