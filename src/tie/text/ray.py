"""Caption encoding on Ray: a `map_batches` over chunks of captions, one actor per encoder.

The sentence encoders (the CLIP / SigLIP text towers) and Fisher-vector pooling run here;
mean pooling stays on the driver (a sparse product, cheaper than shipping its input).
The driver cuts the captions into chunks, and writes each chunk's rows into the feature
file (memory-mapped) as it arrives: the file is in caption order and RAM holds a few
chunks, never every caption's row (a Fisher vector has 2 K D floats).

Same bytes as the local engine: the local encoders work through their captions in
batches from the first (a tower's `batch_size`, Fisher vectors' `CAPTION_BLOCK`), and a
chunk is a whole number of such batches from a batch boundary, so every batch an actor
runs is one the local engine runs, on the same captions.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from functools import partial

import numpy as np
import ray
from tqdm import tqdm

from tie.config.schema import Compute
from tie.engine.ray import actor_options
from tie.features.fisher_rows import CAPTION_BLOCK
from tie.text.fisher_vectors import FisherVectors, FisherWordCodes, caption_words

# A chunk's rows are about this many bytes (at least one batch): small next to Ray's object
# store, large enough that an actor's call does real work.
CHUNK_BYTES = 16 * 2**20


class _ChunkEncoder:
    """A Ray Data actor: builds its encoder once, then encodes one chunk per call."""

    def __init__(self, build_encoder: Callable, chunk_rows: int):
        self.encoder = build_encoder()
        self.chunk_rows = chunk_rows

    def __call__(self, batch: dict) -> dict:
        (chunk,) = batch["chunk"]  # batch_size=1: one chunk per call
        rows = self.encoder.encode(pickle.loads(chunk))
        padded = np.zeros((1, self.chunk_rows, rows.shape[1]), dtype=np.float32)
        padded[0, : len(rows)] = rows  # one shape for every chunk, the last one too
        return {"start": batch["start"], "rows": padded, "n": np.array([len(rows)])}


def encode_captions(
    build_encoder: Callable,
    captions,
    out: np.ndarray,
    compute: Compute,
    *,
    batch_rows: int,
    chunk_bytes: int = CHUNK_BYTES,
    desc: str = "captions",
) -> None:
    """Encode `captions` on the cluster into `out` (one row each, in order).

    `build_encoder` (picklable, e.g. a `functools.partial`) is called once per actor and
    gives an object whose `encode(chunk)` returns the chunk's rows; `captions` is anything
    sliced into chunks by rows (a list of strings, a sparse matrix). `batch_rows` is the
    encoder's batch: chunks are whole multiples of it (see the module's docstring).
    """
    n_rows, dim = out.shape
    chunk_rows = max(1, chunk_bytes // (4 * dim) // batch_rows) * batch_rows
    items = [
        {"start": start, "chunk": pickle.dumps(captions[start : start + chunk_rows])}
        for start in range(0, n_rows, chunk_rows)
    ]
    if not items:
        return
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _ChunkEncoder,
        fn_constructor_args=(build_encoder, chunk_rows),
        batch_size=1,
        **actor_options(compute),
    )
    with tqdm(total=n_rows, desc=desc, unit="caption") as bar:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for start, rows, n in zip(batch["start"], batch["rows"], batch["n"], strict=True):
                out[int(start) : int(start) + int(n)] = rows[:n]
                bar.update(int(n))


def fisher_vectors(
    fisher: FisherVectors,
    token_rows,
    word_vectors,
    out: np.ndarray,
    compute: Compute,
    *,
    chunk_bytes: int = CHUNK_BYTES,
) -> None:
    """`fisher.encode(token_rows, word_vectors, out)` on the cluster: the same bytes.

    Each actor computes the codes of the words the captions use once
    (`FisherWordCodes`); chunks travel as rows of the sparse caption-by-word matrix.
    """
    captions, words = caption_words(token_rows, word_vectors)
    build = partial(FisherWordCodes, fisher, words)
    encode_captions(
        build,
        captions,
        out,
        compute,
        batch_rows=CAPTION_BLOCK,
        chunk_bytes=chunk_bytes,
        desc="fisher vectors",
    )
