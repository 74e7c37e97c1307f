"""The six synthetic visual-reasoning benchmarks, their verifier and the tiny vision-language policy."""

import functools

import numpy as np
import pytest
import torch

from repro.tasks import visual_reasoning as vr

T = vr.TOKEN


def test_items_are_consistent_and_rendered():
    config = vr.TaskConfig()
    rng = np.random.default_rng(0)
    for benchmark in vr.BENCHMARKS:
        for _ in range(50):
            item = config.item(benchmark, rng)
            assert item.image.shape == (16, 16, 3) and item.image.dtype == np.float32
            assert item.image.min() >= 0.0 and item.image.max() <= 1.0
            assert vr.answer_from_think(item, item.think) == item.answer  # the worked trace implies the answer
            assert vr.corrupt_answer(item, rng) != item.answer
            assert vr.corrupt_think(item.think, rng) != item.think


def test_board_counts_and_render_by_hand():
    colour = np.full((2, 2), -1)
    shape = np.full((2, 2), -1)
    colour[0, 0], shape[0, 0] = 0, 0  # red square
    colour[1, 1], shape[1, 1] = 0, 1  # red ring
    colour[0, 1], shape[0, 1] = 2, 0  # blue square
    board = vr.Board(colour, shape)
    assert (board.count("red"), board.count("red", "square"), board.count("blue"), board.total) == (2, 1, 1, 3)
    image = vr.render(board, cell=4, noise=0.0, rng=np.random.default_rng(0))
    assert image[0:4, 0:4, 0].min() == 1.0  # a filled red square
    assert image[5:7, 5:7].max() == 0.0 and image[4, 4, 0] == 1.0  # a ring is hollow
    assert image[0:4, 4:8, 2].min() == 1.0 and image[2:4, 0:4, 2].max() == 0.0


def test_verifier_reads_the_answer_span():
    answer = [T["<think>"], T["red"], T["3"], T["</think>"], T["<answer>"], T["3"], T["</answer>"]]
    assert vr.score(answer, T["3"]) == 1.0
    assert vr.score(answer, T["4"]) == 0.0
    assert vr.score(answer[:-1], T["3"]) == 1.0  # an unclosed answer span runs to the end
    assert vr.score([*answer[:5], T["3"], T["4"], T["</answer>"]], T["3"]) == 0.0  # two tokens is not the answer
    assert vr.score(answer[:4], T["3"]) == 0.0  # no answer span
    think, ans = vr.region_masks(answer)
    assert think == [False, True, True, False, False, False, False]
    assert ans == [False, False, False, False, False, True, False]


def test_demonstrations_supervise_what_they_should():
    item = vr.TaskConfig().item("filter", np.random.default_rng(1))
    rng = np.random.default_rng(2)
    tokens, mask = vr.demonstration(item, rng, repair=False)
    assert tokens == vr.response_tokens(item.think, item.answer) and all(mask)
    tokens, mask = vr.demonstration(item, rng, repair=True)
    cue_end = tokens.index(T["</repair>"])
    assert tokens[-4:] == [T["<answer>"], item.answer, T["</answer>"], T["<eos>"]]
    assert not any(mask[: cue_end + 1]) and all(mask[cue_end + 1 :])  # the wrong count and the cue are not learned
    noisy = [vr.demonstration(item, np.random.default_rng(s), False, trace_noise=1.0)[0] for s in range(20)]
    assert all(n != vr.response_tokens(item.think, item.answer) for n in noisy)


def test_prompt_tensors_left_pad():
    config = vr.TaskConfig()
    items = [config.item("count", np.random.default_rng(0)), config.item("filter", np.random.default_rng(0))]
    images, ids, mask = vr.prompt_tensors(items, config)
    assert ids.shape == (2, 20) and images.shape == (2, 16, 16, 3)
    assert mask[0].tolist() == [0, 0] + [1] * 18 and mask[1].tolist() == [1] * 20
    assert (ids[:, -20 + 2 : -4] == vr.IMG).all()


def test_policy_reads_the_image_and_never_emits_placeholders():
    torch.manual_seed(0)
    config = vr.TaskConfig()
    policy = vr.build_policy(config, hidden=16, layers=1, heads=2)
    items = [config.item("count", np.random.default_rng(s)) for s in range(4)]
    images, ids, mask = vr.prompt_tensors(items, config)
    with torch.no_grad():
        logits = policy(images, ids, attention_mask=mask).logits[:, -1]
        other = policy(images.flip(0), ids, attention_mask=mask).logits[:, -1]
    assert not torch.allclose(logits, other)  # the image enters the prediction
    assert (logits[:, [vr.PAD, vr.IMG]] < -1e3).all()
    rows = vr.evaluate_policy(policy, items, config, samples=3, temperature=1.0, generator=torch.Generator())
    assert len(rows) == 12 and {r["item"] for r in rows} == {0, 1, 2, 3}
    assert all("<img>" not in r["response"] and "<pad>" not in r["response"] for r in rows)


def test_logprobs_and_hidden_agree_with_token_logprobs():
    from repro.methods.sampling import sample, token_logprobs, token_logprobs_and_hidden

    torch.manual_seed(0)
    config = vr.TaskConfig()
    policy = vr.build_policy(config, hidden=16, layers=1, heads=2)
    items = [config.item(b, np.random.default_rng(3)) for b in vr.BENCHMARKS]
    images, ids, mask = vr.prompt_tensors(items, config)
    model = functools.partial(policy, images)
    out = sample(model, ids, mask, vr.MAX_RESPONSE, vr.EOS, vr.PAD, torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = token_logprobs(model, ids, mask, out.completion_ids, out.completion_mask)
        logp, hidden = token_logprobs_and_hidden(model, ids, mask, out.completion_ids, out.completion_mask)
    torch.testing.assert_close(logp, plain)
    torch.testing.assert_close(logp, out.logprobs, atol=1e-5, rtol=0)
    assert hidden.shape == (*out.completion_ids.shape, 16)


@pytest.mark.parametrize("task", vr.BENCHMARKS)
def test_every_benchmark_question_fits_the_prompt(task):
    rng = np.random.default_rng(4)
    for _ in range(30):
        item = vr.TaskConfig().item(task, rng)
        assert len(item.question) <= vr.MAX_QUESTION and len(item.think) <= vr.MAX_THINK
