"""DPO / MallowsPO-θ losses: parity with TRL's DPO sigmoid loss, the constant-dispersion identity,
the entropy dispersion estimate, and the Mallows sampler against its closed-form marginals."""

import itertools
import math

import numpy as np
import pytest
import torch

from repro.methods.preference import (
    dpo_loss,
    entropy_dispersion,
    finite_optimum_exists,
    mallows_theta_loss,
    normalized_entropy,
    preference_loss,
)
from repro.tasks.mallows import make_preference_bandit, pairwise_marginal, sample_rankings


@pytest.fixture(scope="module")
def trl_dpo():
    """TRL's DPOTrainer on a tiny GPT-2 built from a config, and one collated batch."""
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from trl import DPOConfig, DPOTrainer

    vocab = {f"t{i}": i for i in range(30)} | {"<eos>": 30, "<pad>": 31}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    config = GPT2Config(vocab_size=32, n_positions=32, n_embd=16, n_layer=1, n_head=2, bos_token_id=30, eos_token_id=30)
    torch.manual_seed(0)
    model, ref = GPT2LMHeadModel(config), GPT2LMHeadModel(config)
    data = Dataset.from_dict(
        {
            "prompt": ["t1 t2", "t3 t4 t5", "t6"],
            "chosen": [" t6 t7", " t8", " t13 t14 t15"],
            "rejected": [" t9", " t10 t11 t12", " t16"],
        }
    )
    args = DPOConfig(
        output_dir="/tmp/repro-trl-test",
        beta=0.3,
        loss_type=["sigmoid"],
        per_device_train_batch_size=3,
        report_to=[],
        max_length=32,
        use_cpu=True,
    )
    trainer = DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=data, processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    return trainer, batch


def _sequence_logps(model, batch):
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    per_token = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
    return (per_token * batch["completion_mask"][:, 1:]).sum(1)


def test_dpo_loss_matches_trl_sigmoid_loss(trl_dpo):
    trainer, batch = trl_dpo
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, batch).item()
    logratios = _sequence_logps(trainer.model, batch) - _sequence_logps(trainer.ref_model, batch)
    chosen, rejected = logratios.chunk(2)  # TRL's batch is [chosen..., rejected...]
    ours = dpo_loss(chosen, rejected, 0.3).mean().item()
    assert ours == pytest.approx(trl_loss, abs=1e-6)
    # ... and MallowsPO-θ with constant dispersion c = 1 (ϕ = 1/e) is that same loss
    assert mallows_theta_loss(chosen, rejected, 0.3, torch.ones(3)).mean().item() == pytest.approx(trl_loss, abs=1e-6)
    # ... which changes when the dispersion varies per prompt
    varied = mallows_theta_loss(chosen, rejected, 0.3, torch.tensor([0.2, 1.0, 3.0])).mean().item()
    assert abs(varied - trl_loss) > 1e-3


def test_constant_dispersion_is_dpo_with_rescaled_beta():
    g = torch.Generator().manual_seed(1)
    chosen, rejected = (
        torch.randn(100, generator=g, dtype=torch.float64),
        torch.randn(100, generator=g, dtype=torch.float64),
    )
    for phi in (0.05, 0.5, 0.95):
        c = -math.log(phi)
        lhs = mallows_theta_loss(chosen, rejected, 0.7, torch.full((100,), c, dtype=torch.float64))
        torch.testing.assert_close(lhs, dpo_loss(chosen, rejected, 0.7 * c), rtol=0, atol=1e-12)


def test_dpo_loss_hand_values():
    # −log σ(β·(1 − (−1))) with β = 0.5: −log σ(1)
    assert dpo_loss(torch.tensor([1.0]), torch.tensor([-1.0]), 0.5).item() == pytest.approx(math.log(1 + math.exp(-1)))
    assert dpo_loss(torch.tensor([0.0]), torch.tensor([0.0]), 3.0).item() == pytest.approx(math.log(2))


def test_preference_loss_variants():
    x = torch.tensor([0.3])
    assert preference_loss("dpo", x, -x, 1.0).item() == dpo_loss(x, -x, 1.0).item()
    with pytest.raises(ValueError):
        preference_loss("mallows_theta", x, -x, 1.0)
    with pytest.raises(ValueError):
        preference_loss("ipo", x, -x, 1.0)


def test_entropy_dispersion_orders_prompts_by_reference_entropy():
    probs = torch.tensor(
        [[0.97, 0.01, 0.01, 0.01], [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]], dtype=torch.float64
    )
    h = normalized_entropy(probs)
    assert h[2].item() == pytest.approx(1.0)
    c = entropy_dispersion(probs, phi_star=0.29)
    assert c[0] > c[1] > c[2] > 0  # concentrated reference = low dispersion = large c
    assert c[1].item() == pytest.approx(-0.29 * math.log(h[1].item()))


@pytest.mark.parametrize("phi", [0.2, 0.6, 0.95])
def test_mallows_sampler_matches_exact_distribution(phi):
    # Exact Kendall–Mallows probabilities by enumeration for K = 4, against 40k samples.
    central = np.array([2, 0, 3, 1])
    perms = list(itertools.permutations(central.tolist()))
    rank = {item: i for i, item in enumerate(central)}

    def inversions(p):
        return sum(1 for i, j in itertools.combinations(range(4), 2) if rank[p[i]] > rank[p[j]])

    weights = np.array([phi ** inversions(p) for p in perms])
    exact = weights / weights.sum()
    samples = sample_rankings(central, phi, 40000, np.random.default_rng(0))
    counts = {p: 0 for p in perms}
    for row in map(tuple, samples.tolist()):
        counts[row] += 1
    empirical = np.array([counts[p] for p in perms]) / len(samples)
    assert np.abs(empirical - exact).max() < 0.012


def test_pairwise_marginal_closed_form():
    assert pairwise_marginal(1, 0.5) == pytest.approx(1 / 1.5)  # 1/(1 + ϕ) for adjacent items
    assert pairwise_marginal(3, 0.999999) == pytest.approx(0.5, abs=1e-4)
    assert pairwise_marginal(2, 1.0) == 0.5


def test_preference_bandit_shapes_and_labels():
    task = make_preference_bandit(5, 6, 0.1, 0.2, 4, 10, 20, np.random.default_rng(3))
    assert task.utility.shape == (5, 6) and task.train.shape == (5 * 15 * 4, 3) and task.heldout.shape == (100, 4)
    pairs = {(x, min(a, b), max(a, b)) for x, a, b in task.train.tolist()}
    assert len(pairs) == 5 * 15  # every action pair of every context is labelled
    winners = task.utility[task.train[:, 0], task.train[:, 1]]
    losers = task.utility[task.train[:, 0], task.train[:, 2]]
    assert (winners > losers).mean() > 0.8  # low dispersion: annotators mostly agree with the central ranking


def test_finite_optimum_exists_iff_win_graph_strongly_connected():
    cycle = np.zeros((1, 3, 3))
    cycle[0, 0, 1] = cycle[0, 1, 2] = cycle[0, 2, 0] = 1  # 0 > 1 > 2 > 0: every set of actions loses somewhere
    separable = np.zeros((1, 3, 3))
    separable[0, 0, 1] = separable[0, 0, 2] = 5  # action 0 never loses: its log-ratio grows without bound
    separable[0, 1, 2] = separable[0, 2, 1] = 3
    assert finite_optimum_exists(np.concatenate([cycle, separable])).tolist() == [True, False]
    chain = np.zeros((1, 5, 5))
    for a in range(4):
        chain[0, a, a + 1] = 1
    chain[0, 4, 0] = 1  # a 5-cycle needs paths of length 4
    assert finite_optimum_exists(chain).tolist() == [True]
