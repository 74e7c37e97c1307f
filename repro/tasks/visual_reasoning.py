"""Six synthetic verifiable visual-reasoning "benchmarks" over small rendered images (CARE, arXiv 2512.19554).

CARE is evaluated on six verifiable visual-reasoning benchmarks (MathVista, MathVerse, MATH-Vision, MMMU,
MMMU-Pro standard and vision) and reports their macro-averaged accuracy. Here each benchmark is a question
type over the same kind of image, so that macro accuracy means the same thing: the unweighted mean over six
verifiable tasks of different difficulty.

Images: a ``grid`` × ``grid`` board of ``cell`` × ``cell``-pixel cells, each empty or holding one object of a
colour (red, green, blue) and a shape (filled square or hollow ring), rendered as RGB floats in [0, 1] plus
Gaussian pixel noise. Questions (prompt words), the worked think span, and the verifiable answer:

=============  ==========================  ==========================  ======================================
benchmark      question                    think                       answer
=============  ==========================  ==========================  ======================================
count          count C                     C n                         n (objects of colour C, any shape)
filter         count C1 or C2              C1 n1 C2 n2                 n1 + n2 (colour filtering)
compare        more C1 or C2               C1 n1 C2 n2                 the colour with more objects (no ties)
arith          count C plus k              C n                         n + k (arithmetic over a count)
twostep        count all but C             total N C n                 N − n (two counts, then a difference)
distractor     count C square              C square n                  squares of colour C (rings distract)
=============  ==========================  ==========================  ======================================

Responses use the think/answer format of the paper's verifier: ``<think> … </think> <answer> a </answer>``.
The verifier (:func:`score`) reads the answer span and rewards 1 iff it is exactly the target token.

RGR's repair cue (official ``hooks/rgr.py``: ``"<repair> - Mistake: - Fix: - Corrected final answer: </repair>"``)
is a fixed token sequence here: ``<repair> mistake fix corrected </repair>``. Warm-start *repair
demonstrations* show a think span with one wrong count, the cue, and then the correct answer; without them
a tiny policy has no reason to read the cue (a stated deviation of the reproduction, papers.md §3.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BENCHMARKS: tuple[str, ...] = ("count", "filter", "compare", "arith", "twostep", "distractor")
COLOURS: tuple[str, ...] = ("red", "green", "blue")
SHAPES: tuple[str, ...] = ("square", "ring")
RGB = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}
MAX_NUMBER = 20
ARITH_ADDENDS = (1, 2, 3)

SPECIAL = ("<pad>", "<eos>", "<img>", "<think>", "</think>", "<answer>", "</answer>")
REPAIR_CUE_WORDS = ("<repair>", "mistake", "fix", "corrected", "</repair>")
WORDS = ("count", "or", "more", "plus", "all", "but", "total", *COLOURS, *SHAPES)
VOCAB: tuple[str, ...] = (*SPECIAL, *REPAIR_CUE_WORDS, *WORDS, *(str(i) for i in range(MAX_NUMBER + 1)))
TOKEN = {word: i for i, word in enumerate(VOCAB)}
PAD, EOS, IMG = TOKEN["<pad>"], TOKEN["<eos>"], TOKEN["<img>"]
THINK, THINK_END, ANSWER, ANSWER_END = TOKEN["<think>"], TOKEN["</think>"], TOKEN["<answer>"], TOKEN["</answer>"]
REPAIR_CUE: tuple[int, ...] = tuple(TOKEN[w] for w in REPAIR_CUE_WORDS)
MAX_QUESTION = 4
MAX_THINK = 4
MAX_RESPONSE = 1 + MAX_THINK + 1 + 1 + 1 + 1 + 1
"""<think>, up to four think tokens, </think>, <answer>, the answer, </answer>, <eos>."""


def number(n: int) -> int:
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"{n} is outside the vocabulary's numbers 0..{MAX_NUMBER}")
    return TOKEN[str(n)]


@dataclass(frozen=True)
class Board:
    """Objects on a grid: colour index and shape index per cell, −1 where empty. Both (grid, grid) int."""

    colour: np.ndarray
    shape: np.ndarray

    def count(self, colour: str, shape: str | None = None) -> int:
        hit = self.colour == COLOURS.index(colour)
        if shape is not None:
            hit &= self.shape == SHAPES.index(shape)
        return int(hit.sum())

    @property
    def total(self) -> int:
        return int((self.colour >= 0).sum())


@dataclass(frozen=True)
class Item:
    """One question about one image. Token lists hold vocabulary ids."""

    benchmark: str
    image: np.ndarray
    """(grid·cell, grid·cell, 3) float32 pixels."""
    question: tuple[int, ...]
    think: tuple[int, ...]
    answer: int


def render(board: Board, cell: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Pixels of a board: squares fill their cell, rings its border; plus N(0, noise²) per pixel, clipped."""
    grid = board.colour.shape[0]
    image = np.zeros((grid * cell, grid * cell, 3), dtype=np.float32)
    ring = np.ones((cell, cell), dtype=bool)
    ring[1:-1, 1:-1] = False
    for r, c in zip(*np.nonzero(board.colour >= 0), strict=True):
        mask = ring if board.shape[r, c] == SHAPES.index("ring") else np.ones((cell, cell), dtype=bool)
        patch = image[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
        patch[mask] = RGB[COLOURS[board.colour[r, c]]]
    image += rng.normal(0.0, noise, image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0)


def random_board(grid: int, min_objects: int, max_objects: int, rng: np.random.Generator) -> Board:
    n = int(rng.integers(min_objects, max_objects + 1))
    cells = rng.choice(grid * grid, size=n, replace=False)
    colour = np.full(grid * grid, -1)
    shape = np.full(grid * grid, -1)
    colour[cells] = rng.integers(0, len(COLOURS), n)
    shape[cells] = rng.integers(0, len(SHAPES), n)
    return Board(colour.reshape(grid, grid), shape.reshape(grid, grid))


def _question(benchmark: str, board: Board, rng: np.random.Generator):
    """(question words, think tokens, answer token) or None when this board cannot pose the question."""
    c1, c2 = (str(c) for c in rng.choice(COLOURS, size=2, replace=False))
    n1, n2 = board.count(c1), board.count(c2)
    if benchmark == "count":
        return ("count", c1), (TOKEN[c1], number(n1)), number(n1)
    elif benchmark == "filter":
        return ("count", c1, "or", c2), (TOKEN[c1], number(n1), TOKEN[c2], number(n2)), number(n1 + n2)
    elif benchmark == "compare":
        if n1 == n2:
            return None
        return ("more", c1, "or", c2), (TOKEN[c1], number(n1), TOKEN[c2], number(n2)), TOKEN[c1 if n1 > n2 else c2]
    elif benchmark == "arith":
        k = int(rng.choice(ARITH_ADDENDS))
        return ("count", c1, "plus", str(k)), (TOKEN[c1], number(n1)), number(n1 + k)
    elif benchmark == "twostep":
        total = board.total
        return ("count", "all", "but", c1), (TOKEN["total"], number(total), TOKEN[c1], number(n1)), number(total - n1)
    elif benchmark == "distractor":
        squares = board.count(c1, "square")
        return ("count", c1, "square"), (TOKEN[c1], TOKEN["square"], number(squares)), number(squares)
    else:
        raise ValueError(f"unknown benchmark {benchmark!r}")


def make_item(
    benchmark: str,
    rng: np.random.Generator,
    grid: int = 4,
    cell: int = 4,
    min_objects: int = 3,
    max_objects: int = 8,
    noise: float = 0.15,
) -> Item:
    """Draw one item of ``benchmark`` (boards that cannot pose the question are redrawn)."""
    while True:
        board = random_board(grid, min_objects, max_objects, rng)
        posed = _question(benchmark, board, rng)
        if posed is not None:
            break
    words, think, answer = posed
    return Item(benchmark, render(board, cell, noise, rng), tuple(TOKEN[w] for w in words), think, answer)


def response_tokens(think: tuple[int, ...], answer: int, repair: bool = False) -> list[int]:
    """The response ``<think> think [cue] </think> <answer> a </answer> <eos>``."""
    cue = list(REPAIR_CUE) if repair else []
    return [THINK, *think, *cue, THINK_END, ANSWER, answer, ANSWER_END, EOS]


def corrupt_think(think: tuple[int, ...], rng: np.random.Generator) -> tuple[int, ...]:
    """The think span with one of its counts moved by ±1 (a plausible perception slip, for repair demos)."""
    counts = [i for i, t in enumerate(think) if VOCAB[t].isdigit()]
    i = int(rng.choice(counts))
    n = int(VOCAB[think[i]])
    step = 1 if n == 0 else int(rng.choice((-1, 1)))
    out = list(think)
    out[i] = number(min(n + step, MAX_NUMBER))
    return tuple(out)


def corrupt_answer(item: Item, rng: np.random.Generator) -> int:
    """A near-miss final answer: a number off by ±1 (never below 0), or the other colour of a comparison."""
    if item.benchmark == "compare":
        return item.question[1] if item.answer == item.question[3] else item.question[3]
    n = int(VOCAB[item.answer])
    step = 1 if n == 0 else int(rng.choice((-1, 1)))
    return number(min(n + step, MAX_NUMBER))


def answer_span(response: list[int]) -> list[int] | None:
    """Tokens between the first ``<answer>`` and the next ``</answer>`` (or the end), as the official
    ``response_tags.find_tag_span`` reads them; None without ``<answer>``. ``response`` stops before <eos>/pad."""
    if ANSWER not in response:
        return None
    start = response.index(ANSWER) + 1
    end = response.index(ANSWER_END, start) if ANSWER_END in response[start:] else len(response)
    return response[start:end]


def score(response: list[int], target: int) -> float:
    """Verifiable reward: 1.0 iff the answer span is exactly the target token, else 0.0."""
    span = answer_span(response)
    return 1.0 if span == [target] else 0.0


def strip_response(ids, mask) -> list[int]:
    """A sampled completion as a token list, without padding and without the final <eos>."""
    out = [int(t) for t, m in zip(ids, mask, strict=True) if m]
    return out[:-1] if out and out[-1] == EOS else out


def region_masks(response: list[int]) -> tuple[list[bool], list[bool]]:
    """(think mask, answer mask) over ``response``: the tokens strictly inside ``<think> … </think>`` and
    ``<answer> … </answer>`` (an unclosed span runs to the end), as official ``extract_region_masks``."""

    def span(open_tag: int, close_tag: int) -> list[bool]:
        mask = [False] * len(response)
        if open_tag not in response:
            return mask
        start = response.index(open_tag) + 1
        end = response.index(close_tag, start) if close_tag in response[start:] else len(response)
        for i in range(start, end):
            mask[i] = True
        return mask

    return span(THINK, THINK_END), span(ANSWER, ANSWER_END)


# ------------------------------------------------------------------ tensors and evaluation (torch imported lazily)


@dataclass(frozen=True)
class TaskConfig:
    """How boards are drawn and rendered (shared by the warm start, RL prompts and the test sets)."""

    grid: int = 4
    cell: int = 4
    min_objects: int = 3
    max_objects: int = 8
    noise: float = 0.15

    @property
    def prompt_length(self) -> int:
        return self.grid * self.grid + MAX_QUESTION

    def item(self, benchmark: str, rng: np.random.Generator) -> Item:
        return make_item(
            benchmark,
            rng,
            grid=self.grid,
            cell=self.cell,
            min_objects=self.min_objects,
            max_objects=self.max_objects,
            noise=self.noise,
        )

    def mixed_items(self, n: int, rng: np.random.Generator) -> list[Item]:
        """n items, each of a benchmark drawn uniformly (training batches)."""
        return [self.item(BENCHMARKS[int(rng.integers(len(BENCHMARKS)))], rng) for _ in range(n)]

    def test_set(self, per_benchmark: int, rng: np.random.Generator) -> list[Item]:
        """``per_benchmark`` items of each benchmark, benchmark by benchmark."""
        return [self.item(b, rng) for b in BENCHMARKS for _ in range(per_benchmark)]


def prompt_tensors(items: list[Item], config: TaskConfig):
    """(images (B, H, W, 3) float32, prompt ids (B, P), prompt mask (B, P)): ``grid²`` image placeholders then
    the question, left-padded to ``config.prompt_length``."""
    import torch

    length = config.prompt_length
    ids = torch.full((len(items), length), PAD, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, item in enumerate(items):
        tokens = [IMG] * (config.grid * config.grid) + list(item.question)
        ids[row, length - len(tokens) :] = torch.tensor(tokens)
        mask[row, length - len(tokens) :] = 1
    images = torch.as_tensor(np.stack([item.image for item in items]))
    return images, ids, mask


def pad_sequences(sequences: list[list[int]], left: bool = False):
    """(ids (B, T), mask (B, T)) for token lists of different lengths, padded with <pad> (right by default)."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), PAD, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        cols = slice(width - len(seq), width) if left else slice(0, len(seq))
        ids[row, cols] = torch.tensor(seq, dtype=torch.long)
        mask[row, cols] = 1
    return ids, mask


def text(tokens: list[int]) -> str:
    return " ".join(VOCAB[t] for t in tokens)


def decode(model, images, prompt_ids, prompt_mask, generator, temperature: float = 1.0, top_p: float = 1.0):
    """Sample responses of the task's maximal length from the vision-language ``model`` (no gradient): a
    :class:`repro.methods.sampling.Rollouts`."""
    import functools

    import torch

    from repro.methods.sampling import sample

    with torch.no_grad():
        return sample(
            functools.partial(model, images),
            prompt_ids,
            prompt_mask,
            max_new_tokens=MAX_RESPONSE,
            eos_id=EOS,
            pad_id=PAD,
            generator=generator,
            temperature=temperature,
            top_p=top_p,
        )


def evaluate_policy(
    model, items: list[Item], config: TaskConfig, samples: int, temperature: float, generator, batch=256
):
    """Sample ``samples`` responses per item (the harness of the synthetic benchmarks) and score them.

    ``model(images, input_ids=..., ...)`` is a vision-language causal LM (:class:`repro.models.tiny_vlm.TinyVLM`).
    Returns rows for :class:`repro.families.care_warm_start.schemas.CareAnswers`, item numbers counted within each
    benchmark.
    """
    import torch

    rows = []
    within = {}
    numbered = []
    for item in items:
        numbered.append(within.get(item.benchmark, 0))
        within[item.benchmark] = numbered[-1] + 1
    jobs = [(i, s) for s in range(samples) for i in range(len(items))]
    with torch.no_grad():
        for start in range(0, len(jobs), batch):
            chunk = jobs[start : start + batch]
            images, ids, mask = prompt_tensors([items[i] for i, _ in chunk], config)
            out = decode(model, images, ids, mask, generator, temperature=temperature)
            for row, (i, s) in enumerate(chunk):
                response = strip_response(out.completion_ids[row].tolist(), out.completion_mask[row].tolist())
                span = answer_span(response)
                rows.append(
                    {
                        "benchmark": items[i].benchmark,
                        "item": numbered[i],
                        "sample": s,
                        "target": VOCAB[items[i].answer],
                        "response": text(response),
                        "prediction_token": span[0] if span is not None and len(span) == 1 else -1,
                        "correct": score(response, items[i].answer) == 1.0,
                    }
                )
    return rows


def answer_from_think(item: Item, think: tuple[int, ...]) -> int:
    """The answer a worked think span implies for the item's question (what a consistent trace answers)."""
    words = [VOCAB[t] for t in think]
    counts = [int(w) for w in words if w.isdigit()]
    if item.benchmark in ("count", "distractor"):
        return number(counts[0])
    elif item.benchmark == "filter":
        return number(min(counts[0] + counts[1], MAX_NUMBER))
    elif item.benchmark == "compare":
        return TOKEN[words[0] if counts[0] >= counts[1] else words[2]]
    elif item.benchmark == "arith":
        return number(min(counts[0] + int(VOCAB[item.question[-1]]), MAX_NUMBER))
    elif item.benchmark == "twostep":
        return number(max(counts[0] - counts[1], 0))
    else:
        raise ValueError(f"unknown benchmark {item.benchmark!r}")


def demonstration(
    item: Item, rng: np.random.Generator, repair: bool, trace_noise: float = 0.0
) -> tuple[list[int], list[bool]]:
    """A warm-start demonstration: (response tokens, which of them carry the loss).

    A plain demonstration is a worked response, all of it supervised; with probability ``trace_noise`` it is a
    *near-miss trace* (cold-start SFT on noisy traces, papers.md §3.5): half of them a perception slip (one count
    of the think span off by one, and the answer that count implies), half a reasoning slip (the right counts,
    a final answer off by one or the wrong colour). A *repair* demonstration has such a wrong count, the repair cue, and
    then the correct answer; only what follows the cue is supervised, so the policy learns to answer from the
    image after the cue, never to produce the cue itself.
    """
    if not repair:
        think, answer = item.think, item.answer
        if rng.random() < trace_noise:
            if rng.random() < 0.5:  # a perception slip: a wrong count, and the answer it implies
                think = corrupt_think(item.think, rng)
                answer = answer_from_think(item, think)
            else:  # a reasoning slip: the right counts, a wrong final step
                answer = corrupt_answer(item, rng)
        tokens = response_tokens(think, answer)
        return tokens, [True] * len(tokens)
    think = corrupt_think(item.think, rng)
    tokens = response_tokens(think, item.answer, repair=True)
    first_supervised = 1 + len(think) + len(REPAIR_CUE)
    return tokens, [i >= first_supervised for i in range(len(tokens))]


def build_policy(config: TaskConfig, hidden: int, layers: int, heads: int):
    """The tiny vision-language policy for this task's vocabulary and image size."""
    from repro.models.tiny_vlm import TinyVLM

    longest = config.prompt_length + 2 * MAX_RESPONSE + len(REPAIR_CUE)  # an RGR prompt plus its re-decode
    return TinyVLM(
        vocab_size=len(VOCAB),
        image_token_id=IMG,
        pad_token_id=PAD,
        eos_token_id=EOS,
        grid=config.grid,
        cell=config.cell,
        hidden=hidden,
        layers=layers,
        heads=heads,
        max_positions=longest,
        suppressed_token_ids=(PAD, IMG),
    )
