"""Captions to vectors: the one encoder of the `text_features` stage and of `tie search`.

A caption is tokenized (`tokenizer` params), and its known words' vectors (the `vocab`
stage's file) are averaged (`caption_vectors` params: IDF or SIF weights fitted on the
train captions, word scaling, common components removed). `tie search` embeds a query
with the very same encoder, so that it lands where a caption with those words would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tie.corpus.corpus import Corpus
from tie.text.fisher_vectors import FisherVectors, known_rows
from tie.text.tokenize import Tokenizer
from tie.text.word_vectors import CommonComponents, Idf, Sif, WordVectors, mean_vectors


@dataclass
class CaptionEncoder:
    """Mean word vectors of tokenized captions.

    Examples
    --------
    >>> encoder = CaptionEncoder.from_params(params, vocab_file, corpus)  # doctest: +SKIP
    >>> encoder.encode(["a red circle"]).shape  # doctest: +SKIP
    (1, 50)
    """

    tokenizer: Tokenizer
    word_vectors: WordVectors
    weights: Idf | Sif | None = None  # of the train captions' words; None: a plain mean
    word_scaling: str = "none"
    common: CommonComponents | None = None  # removed from every caption vector
    # caption_vectors.pooling: fisher: the `mixture` stage's encoder, instead of the mean.
    fisher: FisherVectors | None = None

    @classmethod
    def from_params(
        cls, params, vocab_file: Path, corpus: Corpus, mixture_dir: Path | None = None
    ) -> CaptionEncoder:
        """The encoder `params` (typed: sections `tokenizer` and `caption_vectors`)
        describe, with the `vocab` stage's word vectors (and with Fisher-vector pooling the
        `mixture` stage's encoder in `mixture_dir`)."""
        tokenizer = Tokenizer(**params.tokenizer.model_dump())
        settings = params.caption_vectors
        word_vectors = WordVectors.load(vocab_file)
        if settings.pooling == "fisher":
            return cls(tokenizer, word_vectors, fisher=FisherVectors.load(mixture_dir))
        if not (settings.idf or settings.sif or settings.common_components):
            return cls(tokenizer, word_vectors, word_scaling=settings.word_scaling)
        # Weights and common components are learned from the train captions.
        train_rows = corpus.split_view("train").caption_rows
        train_tokens = tokenizer.tokenize_all(corpus.flat_captions[i] for i in train_rows)
        weights = None
        if settings.idf:
            weights = Idf.fit(train_tokens)
        elif settings.sif:
            weights = Sif.fit(train_tokens)
        encoder = cls(tokenizer, word_vectors, weights, settings.word_scaling)
        if settings.common_components:
            train_vectors = encoder.encode_tokens(train_tokens)
            encoder.common = CommonComponents.fit(train_vectors, settings.common_components)
        return encoder

    def tokenize(self, captions) -> list[list[str]]:
        return self.tokenizer.tokenize_all(captions)

    def encode_tokens(self, token_lists: list[list[str]], out=None) -> np.ndarray:
        """One row per caption; a caption with no known word is a zero row.

        With Fisher-vector pooling, `out` (e.g. a memory-mapped `.npy`, see
        `tie.features.store.create_features`) receives the rows chunk by chunk, so that RAM never
        holds every caption's vector (18,000-d each with Klein's settings).
        """
        if self.fisher is not None:
            rows = known_rows(token_lists, self.word_vectors)
            return self.fisher.encode(rows, self.word_vectors.vectors, out=out)
        vectors = mean_vectors(token_lists, self.word_vectors, self.weights, self.word_scaling)
        return vectors if self.common is None else self.common.remove(vectors)

    def encode(self, captions) -> np.ndarray:
        return self.encode_tokens(self.tokenize(captions))

    def known(self, tokens: list[str]) -> tuple[list[str], list[str]]:
        """(tokens with a word vector, tokens without one), each in order."""
        has_vector = [self.word_vectors.row(t) is not None for t in tokens]
        return (
            [t for t, known in zip(tokens, has_vector, strict=True) if known],
            [t for t, known in zip(tokens, has_vector, strict=True) if not known],
        )
