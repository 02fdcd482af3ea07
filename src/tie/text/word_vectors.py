"""Word vectors restricted to a vocabulary, and captions as the mean of their words."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class WordVectors:
    words: list[str]
    vectors: np.ndarray  # (len(words), dim), float32

    def __post_init__(self):
        self.index = {word: row for row, word in enumerate(self.words)}

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]


def mean_vectors(token_lists: list[list[str]], word_vectors: WordVectors) -> np.ndarray:
    """One row per caption: the mean of its in-vocabulary word vectors.

    A caption with no known word keeps a zero vector (it is not dropped: dropping
    such captions from a test set would inflate the scores).
    """
    out = np.zeros((len(token_lists), word_vectors.dim), dtype=np.float32)
    for row, tokens in enumerate(token_lists):
        rows = [word_vectors.index[t] for t in tokens if t in word_vectors.index]
        if rows:
            out[row] = word_vectors.vectors[rows].mean(axis=0)
    return out


def coverage(token_lists: list[list[str]], word_vectors: WordVectors) -> dict[str, float | int]:
    """Share of tokens and of captions the vocabulary covers, and the empty captions."""
    n_tokens = sum(len(tokens) for tokens in token_lists)
    known = [sum(t in word_vectors.index for t in tokens) for tokens in token_lists]
    fully_known = sum(k == len(t) for k, t in zip(known, token_lists, strict=True))
    return {
        "captions": len(token_lists),
        "empty_captions": sum(k == 0 for k in known),
        "token_coverage": sum(known) / n_tokens if n_tokens else 0.0,
        "caption_coverage": fully_known / len(token_lists) if token_lists else 0.0,
    }
