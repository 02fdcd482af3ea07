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
    idf: Idf | None = None,
    word_scaling: str = "none",
) -> np.ndarray:
    """One row per caption: the mean of its in-vocabulary word vectors.

    `idf` (fitted on the train captions) makes it a mean weighted by each token's IDF.
    `word_scaling: inverse_squared_norm` first replaces each word vector w by w / ‖w‖²,
    as the seed project did: frequent words, whose vectors tend to be longer, weigh less.
    A caption with no known word keeps a zero vector (it is not dropped: dropping
    such captions from a test set would inflate the scores).
    """
    if word_scaling not in WORD_SCALINGS:
        raise ValueError(f"unknown word scaling {word_scaling!r}; valid: {WORD_SCALINGS}")
    vectors = word_vectors.vectors
    if word_scaling == "inverse_squared_norm":
        squared = np.einsum("ij,ij->i", vectors, vectors)
        vectors = vectors / np.where(squared > 0, squared, 1)[:, None]
    out = np.zeros((len(token_lists), word_vectors.dim), dtype=np.float32)
    for caption, tokens in enumerate(token_lists):
        known = [(t, r) for t in tokens if (r := word_vectors.row(t)) is not None]
        if not known:
            continue
        rows = [r for _, r in known]
        if idf is None:
            out[caption] = vectors[rows].mean(axis=0)
        else:
            weights = np.array([idf(t) for t, _ in known])
            out[caption] = weights @ vectors[rows] / weights.sum()
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
