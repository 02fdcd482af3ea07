"""A seeded sample of a pretrained word-vector table's vocabulary, drawn in one stream.

Klein et al. fit their mixtures (and the ICA before them) on a sample of the whole
word2vec vocabulary, not on the words of a dataset's captions (`fisher.fit_on:
pretrained_sample`). A word is in the sample when its key, a hash of the word keyed by the
seed, is among the `size` smallest keys of the table: a uniform sample without
replacement, the same for a seed whatever order or format the table is read in, decided
in one pass while holding `size` vectors (a max-heap of the kept keys; a word that is
pushed out later is dropped). Only the vectors of words that enter are decoded.
"""

from __future__ import annotations

import hashlib
import heapq

import numpy as np

from tie.text.word_vectors import WordVectors


class SeededSample:
    """The words of a stream with the `size` smallest seeded keys, and their vectors.

    A word seen again keeps its first vector (as `tie.text.vector_files` reads tables).

    Examples
    --------
    >>> import numpy as np
    >>> from tie.text.vocabulary_sample import SeededSample
    >>> sample = SeededSample(size=2, seed=0)
    >>> for i, word in enumerate([b"cat", b"dog", b"emu", b"fox"]):
    ...     if sample.admits(word):
    ...         sample.add(word, np.full(3, i, dtype=np.float32))
    >>> len(sample.word_vectors().words)
    2
    """

    def __init__(self, *, size: int, seed: int):
        self.size = size
        self.seed = seed
        self._salt = seed.to_bytes(16, "little")
        self._heap: list[tuple[int, bytes]] = []  # (-key, word): the largest key on top
        self._vectors: dict[bytes, np.ndarray] = {}

    def key(self, word: bytes) -> int:
        """The word's key under this seed: 64 bits of its BLAKE2b hash, keyed by the seed."""
        digest = hashlib.blake2b(word, digest_size=8, key=self._salt).digest()
        return int.from_bytes(digest, "little")

    def admits(self, word: bytes) -> bool:
        """Whether `word` enters the sample now (then `add` its vector)."""
        if word in self._vectors:
            return False
        return len(self._heap) < self.size or self.key(word) < -self._heap[0][0]

    def add(self, word: bytes, vector: np.ndarray) -> None:
        """Keep `word` (admitted), pushing out the word of the largest key when full."""
        self._vectors[word] = vector
        heapq.heappush(self._heap, (-self.key(word), word))
        if len(self._heap) > self.size:
            _, dropped = heapq.heappop(self._heap)
            del self._vectors[dropped]

    def word_vectors(self) -> WordVectors:
        """The sampled words in sorted order (independent of the reading order).

        A word whose bytes are not UTF-8 (word2vec's GoogleNews file has a few) is named
        with replacement characters: the sample is used for its vectors.
        """
        words = sorted(self._vectors)
        dim = len(next(iter(self._vectors.values()))) if words else 0
        vectors = np.array([self._vectors[w] for w in words], dtype=np.float32)
        names = [w.decode("utf-8", "replace") for w in words]
        return WordVectors(names, vectors.reshape(len(words), dim))
