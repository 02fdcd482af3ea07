"""word2vec trained by gensim on the training captions only: no download needed."""

from __future__ import annotations

import zlib

import numpy as np

from tie.text.word_vectors import WordVectors

VECTOR_SIZE = 100
WINDOW = 5
MIN_COUNT = 2
EPOCHS = 30
SEED = 0


def _stable_hash(text: str) -> int:
    # gensim seeds each word's initial vector with `hashfxn`; Python's own `hash`
    # changes between interpreter runs (PYTHONHASHSEED), which would make the
    # vectors, and every number downstream, differ from run to run.
    return zlib.crc32(text.encode("utf-8"))


def word2vec_local(train_sentences: list[list[str]], vocabulary: set[str]) -> WordVectors:
    """Skip-gram word2vec on `train_sentences`; deterministic (fixed seed, one worker)."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=[s for s in train_sentences if s],
        vector_size=VECTOR_SIZE,
        window=WINDOW,
        min_count=MIN_COUNT,
        sg=1,
        epochs=EPOCHS,
        seed=SEED,
        workers=1,
        hashfxn=_stable_hash,
    )
    words = sorted(w for w in vocabulary if w in model.wv.key_to_index)
    vectors = np.asarray([model.wv[w] for w in words], dtype=np.float32)
    return WordVectors(words, vectors.reshape(len(words), VECTOR_SIZE))
