"""Mallows ranking models: sampling and pairwise marginals (synthetic preference data).

Mallows model with Kendall distance d (Mallows 1957): P(σ | σ₀, ϕ) = ϕ^{d(σ, σ₀)} / Z(ϕ),
dispersion ϕ ∈ (0, 1]: ϕ → 0 concentrates on the central ranking σ₀, ϕ = 1 is uniform.
Sampling uses the repeated insertion model (Doignon et al. 2004): the i-th item of σ₀ is
inserted at position j ∈ {1, …, i} of the partial ranking with probability ϕ^{i−j}/(1 + ϕ + … + ϕ^{i−1}).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sample_rankings(central: np.ndarray, phi: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw n rankings from Mallows(central, ϕ) with Kendall distance.

    central: (K,) item ids, best first. Returns (n, K) item ids, best first.
    """
    ranking = np.full((n, 1), central[0], dtype=np.int64)
    for i in range(2, central.size + 1):
        # position j (0-based here) in a list of current length i − 1 has weight ϕ^{i−1−j}
        weights = phi ** (i - 1 - np.arange(i, dtype=float))
        j = rng.choice(i, size=n, p=weights / weights.sum())[:, None]
        cols = np.arange(i)[None, :]
        source = np.clip(np.where(cols < j, cols, cols - 1), 0, i - 2)  # items after the slot shift right
        ranking = np.where(cols == j, central[i - 1], np.take_along_axis(ranking, source, axis=1))
    return ranking


def pairwise_marginal(distance: int, phi: float) -> float:
    """P(the item ranked higher in σ₀ is preferred) for two items ``distance`` ≥ 1 apart in σ₀.

    Closed form for the Kendall–Mallows model (Fligner & Verducci 1986):
    (d + 1)/(1 − ϕ^{d+1}) − d/(1 − ϕ^d), with limit ½ as ϕ → 1.
    """
    if distance < 1:
        raise ValueError("distance must be >= 1")
    if phi >= 1.0:
        return 0.5
    d = float(distance)
    return (d + 1) / (1 - phi ** (d + 1)) - d / (1 - phi**d)


@dataclass(frozen=True)
class PreferenceBandit:
    """A contextual bandit whose preference data come from per-context Mallows annotators.

    utility: (C, K) true utility, 1 for the centrally best action down to 0 for the worst.
    dispersion: (C,) ϕ(x).
    demos: (C, D) top choices of D demonstrating annotators (what an SFT reference is fit on).
    train: (N, 3) int rows (context, winner, loser), one fresh annotator per row: every unordered action pair of
        every context is labelled by ``labels_per_pair`` annotators, N = C·K(K−1)/2·labels_per_pair.
    heldout: (M, 4) int rows (context, a, b, a_preferred), fresh annotators on uniformly drawn pairs.
    """

    utility: np.ndarray
    dispersion: np.ndarray
    demos: np.ndarray
    train: np.ndarray
    heldout: np.ndarray


def _labelled_pairs(central: np.ndarray, phi: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n pairs of distinct actions, each labelled by its own annotator's Mallows ranking.

    Returns (n, 3): a, b, 1 if a is ranked above b else 0.
    """
    k = central.size
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    rankings = sample_rankings(central, phi, n, rng)
    position = np.argsort(rankings, axis=1)  # position[r, item]
    rows = np.arange(n)
    return np.stack([a, b, (position[rows, a] < position[rows, b]).astype(np.int64)], axis=1)


def _all_pairs_labelled(central: np.ndarray, phi: float, labels_per_pair: int, rng: np.random.Generator) -> np.ndarray:
    """Every unordered action pair, each labelled by ``labels_per_pair`` annotators with their own Mallows ranking.

    Returns (K(K−1)/2 · labels_per_pair, 2): winner, loser.
    """
    a, b = np.triu_indices(central.size, k=1)
    a, b = np.repeat(a, labels_per_pair), np.repeat(b, labels_per_pair)
    position = np.argsort(sample_rankings(central, phi, a.size, rng), axis=1)  # position[r, item]
    rows = np.arange(a.size)
    a_wins = position[rows, a] < position[rows, b]
    return np.stack([np.where(a_wins, a, b), np.where(a_wins, b, a)], axis=1)


def make_preference_bandit(
    contexts: int,
    actions: int,
    phi_low: float,
    phi_high: float,
    labels_per_pair: int,
    demos: int,
    heldout_pairs: int,
    rng: np.random.Generator,
) -> PreferenceBandit:
    dispersion = rng.uniform(phi_low, phi_high, contexts)
    utility = np.empty((contexts, actions))
    demo_choices = np.empty((contexts, demos), dtype=np.int64)
    train, heldout = [], []
    for x in range(contexts):
        central = rng.permutation(actions)
        utility[x, central] = 1.0 - np.arange(actions) / (actions - 1)
        demo_choices[x] = sample_rankings(central, dispersion[x], demos, rng)[:, 0]
        labelled = _all_pairs_labelled(central, dispersion[x], labels_per_pair, rng)
        train.append(np.concatenate([np.full((len(labelled), 1), x), labelled], axis=1))
        held = _labelled_pairs(central, dispersion[x], heldout_pairs, rng)
        heldout.append(np.concatenate([np.full((heldout_pairs, 1), x), held], axis=1))
    return PreferenceBandit(utility, dispersion, demo_choices, np.concatenate(train), np.concatenate(heldout))
