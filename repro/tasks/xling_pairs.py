"""A synthetic multilingual world for zero-shot cross-lingual transfer (PAWS-X-like paraphrase identification).

Reduced-scale design of Huang et al. (EMNLP 2021, arXiv 2104.08645; reference/papers.md §4.4). Every language
realises one shared set of concepts:

- **Surface forms.** Each concept has ``forms`` synonymous surface tokens in every language (the neighbour table:
  a token's neighbours are the other forms of its concept in its language, as counter-fitted synonym neighbours
  are for English in the official code's ``counterfitted_neighbors.json``). Languages own disjoint token ids,
  except that a target language at distance d shares its forms with English for a share
  ``cognates·(1 − d)`` of the concepts (cognates: the anchors mBERT's alignment rests on).
- **Word order.** A language at distance d writes a sentence's words in a fixed order of its own: the identity
  permuted by ``round(d·reorder)`` random adjacent transpositions.
- **Unlabelled text.** Sentences are walks of a first-order Markov chain over concepts (each concept has
  ``successors`` possible successors), the same chain in every language, so a word's contexts identify its
  concept; a target-language sentence is code-switched word by word into English forms with probability
  ``code_switch·(1 − d)``. Masked-LM pre-training on this text (``repro.families.xling_mlm``) is the only source
  of cross-lingual alignment: no parallel sentences.
- **Pairs (PAWS-like).** A pair's two sentences realise one sequence of ``length`` distinct concepts drawn
  uniformly (no chain, so no single sentence is implausible). Label 1 (paraphrase): the same sequence, each
  word's form drawn independently on each side. Label 0: PAWS's word scrambling, two words swapped (same bag of
  words, different meaning). Training pairs are English only; evaluation pairs come in every language, both
  sentences in one language (**standard**) or in two different languages (**generalized**).

The language distance d therefore lowers, together, the anchors (cognates, code-switching) and the agreement of
word order with English; ``tests/test_robust_xling.py`` checks that zero-shot accuracy falls with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIALS = 4
SOURCE = "en"


@dataclass(frozen=True)
class World:
    """The languages' vocabularies, word orders and the concept chain, built by :func:`build_world`."""

    languages: tuple[str, ...]
    """``en`` (the source) first, then the target languages."""
    distances: tuple[float, ...]
    """Language distance to English, one per language (``en``: 0)."""
    forms: np.ndarray
    """(languages, concepts, forms) token id of each surface form."""
    orders: np.ndarray
    """(languages, length) the position in the concept sequence written at each surface position."""
    successors: np.ndarray
    """(concepts, successors) the Markov chain's possible next concepts (uniform among them)."""
    code_switch: np.ndarray
    """(languages,) probability that a word of an unlabelled sentence is written in English instead."""
    vocab_size: int

    @property
    def concepts(self) -> int:
        return self.forms.shape[1]

    @property
    def length(self) -> int:
        return self.orders.shape[1]

    def index(self, language: str) -> int:
        return self.languages.index(language)

    def concept_of(self) -> np.ndarray:
        """(vocab_size,) the concept of each token id (−1 for special tokens)."""
        out = np.full(self.vocab_size, -1, dtype=np.int64)
        for lang in range(len(self.languages)):
            for concept in range(self.concepts):
                out[self.forms[lang, concept]] = concept
        return out

    def neighbours(self) -> np.ndarray:
        """(vocab_size, forms − 1) each token's neighbours (the other forms of its concept in its language);
        −1 rows for special tokens. A cognate's neighbours are its concept's other English forms."""
        k = self.forms.shape[2]
        out = np.full((self.vocab_size, k - 1), -1, dtype=np.int64)
        for lang in range(len(self.languages)):
            for concept in range(self.concepts):
                forms = self.forms[lang, concept]
                for f, token in enumerate(forms):
                    out[token] = np.delete(forms, f)
        return out


def build_world(
    targets: tuple[float, ...],
    concepts: int,
    forms: int,
    length: int,
    successors: int,
    cognates: float,
    reorder: int,
    code_switch: float,
    seed: int,
) -> World:
    """The world with English and one target language per distance in ``targets`` (named ``t1``, ``t2``, …)."""
    if not all(0.0 <= d <= 1.0 for d in targets):
        raise ValueError(f"language distances must lie in [0, 1], not {targets}")
    if successors > concepts - 1 or length > concepts:
        raise ValueError("need successors < concepts and length <= concepts")
    rng = np.random.default_rng([seed, 17])
    distances = (0.0, *targets)
    languages = (SOURCE, *(f"t{i + 1}" for i in range(len(targets))))
    table = np.zeros((len(languages), concepts, forms), dtype=np.int64)
    next_id = SPECIALS
    for lang, distance in enumerate(distances):
        shared = np.zeros(concepts, dtype=bool)
        if lang:
            n_shared = round(cognates * (1.0 - distance) * concepts)
            shared[rng.permutation(concepts)[:n_shared]] = True
        for concept in range(concepts):
            if shared[concept]:
                table[lang, concept] = table[0, concept]
            else:
                table[lang, concept] = np.arange(next_id, next_id + forms)
                next_id += forms
    orders = np.zeros((len(languages), length), dtype=np.int64)
    for lang, distance in enumerate(distances):
        order = np.arange(length)
        for _ in range(round(distance * reorder)):
            i = int(rng.integers(length - 1))
            order[i], order[i + 1] = order[i + 1], order[i]
        orders[lang] = order
    others = [np.delete(np.arange(concepts), c) for c in range(concepts)]
    chain = np.stack([rng.choice(other, successors, replace=False) for other in others])
    switch = np.array([0.0 if lang == 0 else code_switch * (1.0 - d) for lang, d in enumerate(distances)])
    return World(languages, distances, table, orders, chain, switch, next_id)


def realise(world: World, concepts: np.ndarray, language: int, rng: np.random.Generator) -> np.ndarray:
    """(n, length) token ids: concept sequences (n, length) written in ``language``'s word order, each word in a
    uniformly drawn form."""
    ordered = concepts[:, world.orders[language]]
    form = rng.integers(world.forms.shape[2], size=ordered.shape)
    return world.forms[language][ordered, form]


def unlabelled(world: World, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unlabelled sentences (Markov walks of ``length`` words), each in a uniformly drawn language, written in
    its word order and code-switched into English per word with its probability. Returns (tokens (n, length),
    language index (n,))."""
    tokens, language, _ = _walks(world, n, rng)
    return tokens, language


def _walks(world: World, n: int, rng: np.random.Generator, language: np.ndarray | None = None):
    walk = np.zeros((n, world.length), dtype=np.int64)
    walk[:, 0] = rng.integers(world.concepts, size=n)
    for i in range(1, world.length):
        walk[:, i] = world.successors[walk[:, i - 1], rng.integers(world.successors.shape[1], size=n)]
    if language is None:
        language = rng.integers(len(world.languages), size=n)
    return _write(world, walk, language, rng), language, walk


def _write(world: World, walk: np.ndarray, language: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Walks (concept order) written in each row's language: its word order, drawn forms, code-switching."""
    walk = np.take_along_axis(walk, world.orders[language], axis=1)
    form = rng.integers(world.forms.shape[2], size=walk.shape)
    switched = rng.random(walk.shape) < world.code_switch[language][:, None]
    written = np.where(switched, 0, language[:, None])
    return world.forms[written, walk, form]


def unlabelled_pairs(
    world: World, n: int, rng: np.random.Generator, restated: float = 0.5, swapped: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs of consecutive unlabelled sentences (BERT pre-training's sentence pairs): the second restates the
    first (the same walk, each word's form and code-switching drawn afresh, and with probability ``swapped`` two
    adjacent words exchanged, a looser restatement) with probability ``restated``, else it is an unrelated sentence
    of the same language. Returns (first (n, length), second (n, length))."""
    first, language, walk = _walks(world, n, rng)
    fresh = _walks(world, n, rng, language)[2]
    restatement = walk.copy()
    rows = np.flatnonzero(rng.random(n) < swapped)
    at = rng.integers(world.length - 1, size=rows.size)
    restatement[rows, at], restatement[rows, at + 1] = walk[rows, at + 1], walk[rows, at]
    keep = rng.random(n) < restated
    second = _write(world, np.where(keep[:, None], restatement, fresh), language, rng)
    return first, second


@dataclass(frozen=True)
class Pairs:
    """Sentence pairs: ``first``/``second`` (n, length) token ids, ``label`` (n,) 1 = paraphrase, and each side's
    language index and concept sequence (in the concept order, before word order is applied)."""

    first: np.ndarray
    second: np.ndarray
    label: np.ndarray
    lang_first: np.ndarray
    lang_second: np.ndarray
    concepts_first: np.ndarray
    concepts_second: np.ndarray


def pairs(world: World, n: int, lang_first: np.ndarray, lang_second: np.ndarray, rng: np.random.Generator) -> Pairs:
    """``n`` balanced PAWS-like pairs (alternating labels), the first sentence in ``lang_first[i]``, the second in
    ``lang_second[i]``."""
    lang_first = np.broadcast_to(np.asarray(lang_first), (n,)).copy()
    lang_second = np.broadcast_to(np.asarray(lang_second), (n,)).copy()
    drawn = np.argsort(rng.random((n, world.concepts)), axis=1)[:, : world.length + 1]
    seq = drawn[:, : world.length]
    label = (np.arange(n) % 2 == 0).astype(np.int64)
    other = seq.copy()
    rows = np.flatnonzero(label == 0)
    other[rows, rng.integers(world.length, size=rows.size)] = drawn[rows, world.length]
    first = np.zeros((n, world.length), dtype=np.int64)
    second = np.zeros((n, world.length), dtype=np.int64)
    for lang in range(len(world.languages)):
        a, b = lang_first == lang, lang_second == lang
        if a.any():
            first[a] = realise(world, seq[a], lang, rng)
        if b.any():
            second[b] = realise(world, other[b], lang, rng)
    return Pairs(first, second, label, lang_first, lang_second, seq, other)


def encode_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BERT's pair input ``[CLS] first [SEP] second [SEP]`` and its token type ids."""
    n, length = first.shape
    cls, sep = np.full((n, 1), CLS), np.full((n, 1), SEP)
    ids = np.concatenate([cls, first, sep, second, sep], axis=1)
    types = np.concatenate([np.zeros((n, length + 2), dtype=np.int64), np.ones((n, length + 1), dtype=np.int64)], 1)
    return ids, types


def encode_single(sentences: np.ndarray) -> np.ndarray:
    """``[CLS] sentence [SEP]``."""
    n = sentences.shape[0]
    return np.concatenate([np.full((n, 1), CLS), sentences, np.full((n, 1), SEP)], axis=1)


def substitute(tokens: np.ndarray, neighbours: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """The official code's data augmentation (``perturb.py``): every word that has neighbours is replaced by a
    uniform draw from {word} ∪ neighbours, independently. Returns (new tokens, words replaced by a different
    token, words that had neighbours). With k neighbours per word the expected replaced share is k/(k + 1)."""
    nb = neighbours[tokens]
    eligible = (nb >= 0).all(axis=-1)
    choice = rng.integers(nb.shape[-1] + 1, size=tokens.shape)
    candidates = np.concatenate([tokens[..., None], nb], axis=-1)
    drawn = np.take_along_axis(candidates, choice[..., None], axis=-1)[..., 0]
    out = np.where(eligible, drawn, tokens)
    return out, int((out != tokens).sum()), int(eligible.sum())
