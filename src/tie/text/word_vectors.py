"""Word vectors restricted to a vocabulary, and captions as the mean of their words.

A token is looked up as written, then lowercased: word2vec's GoogleNews vocabulary is
case-sensitive ("Paris", "dog"), so with `tokenizer.lowercase: false` a capitalised
caption word still finds its lowercase vector when it has no vector of its own.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tie.config.registry import WORD_SCALINGS
from tie.recorded import check_recorded, reading


@dataclass
class WordVectors:
    words: list[str]
    vectors: np.ndarray  # (len(words), dim), float32

    def __post_init__(self):
        self.index = {word: row for row, word in enumerate(self.words)}

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def row(self, token: str) -> int | None:
        """The row of `token`, as written or else lowercased; None when neither is known."""
        row = self.index.get(token)
        if row is None:
            row = self.index.get(token.lower())
        return row

    def save(self, path: Path) -> None:
        """An `.npz` with `words` and `vectors` (no pickled objects)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, words=np.array(self.words, dtype=str), vectors=self.vectors)

    @classmethod
    def load(cls, path: Path) -> WordVectors:
        check_recorded(path)
        with reading(path), np.load(path) as data:
            return cls(data["words"].tolist(), data["vectors"].astype(np.float32))


@dataclass
class Sif:
    """Smooth inverse frequency weights, a / (a + p(w)), p(w) a token's frequency among the
    tokens of n captions (Arora et al. 2017, "A simple but tough-to-beat baseline for
    sentence embeddings"; a = 1e-3, their recommended value). A word absent from those
    captions gets weight 1.
    """

    weights: dict[str, float]
    unseen: float = 1.0
    a: float = 1e-3

    @classmethod
    def fit(cls, token_lists: list[list[str]], a: float = 1e-3) -> Sif:
        counts = Counter(t for tokens in token_lists for t in tokens)
        total = sum(counts.values())
        weights = {t: a / (a + c / total) for t, c in counts.items()}
        return cls(weights, 1.0, a)

    def __call__(self, token: str) -> float:
        return self.weights.get(token, self.unseen)


@dataclass
class CommonComponents:
    """The first principal directions of a set of caption vectors, removed from every
    caption vector: v - U U^T v (Arora et al.'s common component removal, fitted on the
    train captions). A zero row stays zero.
    """

    directions: np.ndarray  # (k, dim), orthonormal rows

    @classmethod
    def fit(cls, vectors: np.ndarray, k: int) -> CommonComponents:
        # Uncentred, as Arora et al.: the top right singular vectors of the matrix of
        # caption vectors (computed in float64 from its Gram matrix: dim x dim, small).
        rows = np.asarray(vectors, dtype=np.float64)
        gram = rows.T @ rows
        eigenvalues, eigenvectors = np.linalg.eigh(gram)
        order = np.argsort(eigenvalues)[::-1][:k]
        return cls(np.ascontiguousarray(eigenvectors[:, order].T))

    def remove(self, vectors: np.ndarray) -> np.ndarray:
        u = self.directions
        out = vectors.astype(np.float64) - (vectors.astype(np.float64) @ u.T) @ u
        return out.astype(vectors.dtype)


@dataclass
class Idf:
    """Smoothed inverse document frequency, ln((1 + n) / (1 + df)) + 1, over n captions.

    A word absent from those captions gets the largest weight, ln(1 + n) + 1.
    """

    weights: dict[str, float]
    unseen: float

    @classmethod
    def fit(cls, token_lists: list[list[str]]) -> Idf:
        n = len(token_lists)
        df = Counter(t for tokens in token_lists for t in set(tokens))
        weights = {t: math.log((1 + n) / (1 + d)) + 1 for t, d in df.items()}
        return cls(weights, math.log(1 + n) + 1)

    def __call__(self, token: str) -> float:
        return self.weights.get(token, self.unseen)


def mean_vectors(
    token_lists: list[list[str]],
    word_vectors: WordVectors,
    weights: Idf | Sif | None = None,
    word_scaling: str = "none",
) -> np.ndarray:
    """One row per caption: the mean of its in-vocabulary word vectors.

    `weights` (IDF or SIF, fitted on the train captions) makes it a mean weighted by each
    token's weight. `word_scaling: inverse_squared_norm` first replaces each word vector w
    by w / ‖w‖², as the seed project did: frequent words, whose vectors tend to be longer,
    weigh less; `unit` by w / ‖w‖, as Klein et al. L2-normalise word2vec.
    A caption with no known word keeps a zero vector (it is not dropped: dropping
    such captions from a test set would inflate the scores).
    """
    if word_scaling not in WORD_SCALINGS:
        raise ValueError(f"unknown word scaling {word_scaling!r}; valid: {WORD_SCALINGS}")
    vectors = word_vectors.vectors
    if word_scaling in ("inverse_squared_norm", "unit"):
        squared = np.einsum("ij,ij->i", vectors, vectors)
        divisor = squared if word_scaling == "inverse_squared_norm" else np.sqrt(squared)
        vectors = vectors / np.where(divisor > 0, divisor, 1)[:, None]
    out = np.zeros((len(token_lists), word_vectors.dim), dtype=np.float32)
    for caption, tokens in enumerate(token_lists):
        known = [(t, r) for t in tokens if (r := word_vectors.row(t)) is not None]
        if not known:
            continue
        rows = [r for _, r in known]
        if weights is None:
            out[caption] = vectors[rows].mean(axis=0)
        else:
            token_weights = np.array([weights(t) for t, _ in known])
            out[caption] = token_weights @ vectors[rows] / token_weights.sum()
    return out


def coverage(token_lists: list[list[str]], word_vectors: WordVectors) -> dict[str, float | int]:
    """Share of tokens and of captions the vocabulary covers, and the empty captions."""
    n_tokens = sum(len(tokens) for tokens in token_lists)
    known = [sum(word_vectors.row(t) is not None for t in tokens) for tokens in token_lists]
    fully_known = sum(k == len(t) for k, t in zip(known, token_lists, strict=True))
    return {
        "captions": len(token_lists),
        "empty_captions": sum(k == 0 for k in known),
        "token_coverage": sum(known) / n_tokens if n_tokens else 0.0,
        "caption_coverage": fully_known / len(token_lists) if token_lists else 0.0,
    }
