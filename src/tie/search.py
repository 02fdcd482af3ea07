"""`tie search`: rank the test images of the current pipeline for a free-text query.

The current model is the one `params.yaml` points at: its `dataset`, `text` and
`image` choose the splits, the image features, the CCA model and the word vectors
(the `vocab` stage's file, the very vectors the model was fitted on). The query becomes
a vector exactly as `text_features` turns captions into vectors, so only words that
occur in the dataset's captions are known. With a sentence encoder (`text: clip`,
`siglip`) the query goes through its text tower instead, and the model may be the
zero-shot one (`cca.method: none`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tie.corpus import Corpus
from tie.datasets import image_sources
from tie.errors import TieError
from tie.features import load_features
from tie.gallery import top_k
from tie.joint_space import load_joint_model
from tie.paths import (
    IMAGE_FEATURES,
    MIXTURE_DIR,
    MODEL_DIR,
    RAW,
    SPLITS,
    VOCAB,
    output_path,
    path_choices,
)
from tie.registry import TEXT_ENCODERS
from tie.text.tokenize import Tokenizer
from tie.text.word_vectors import Idf, WordVectors, mean_vectors


@dataclass(frozen=True)
class Hit:
    image: str  # the image's id (its file name)
    path: Path
    score: float  # cosine similarity with the query in the joint space


def search_images(params: dict, query: str, top: int, split: str = "test") -> list[Hit]:
    """The `top` images of `split` closest to `query`, best first."""
    dataset, text = params["dataset"], params["text"]
    choice = path_choices(params)
    splits_file = output_path(SPLITS, **choice)
    model_dir = output_path(MODEL_DIR, **choice)
    vocab_file = output_path(VOCAB, **choice)
    for needed in (splits_file, model_dir, vocab_file):
        if not needed.exists():
            raise TieError(f"{needed} does not exist: run `dvc repro` (or `dvc pull`) first")
    corpus = Corpus.load(splits_file)
    view = corpus.split_view(split)
    X = load_features(output_path(IMAGE_FEATURES, **choice), corpus.images)
    X = np.asarray(X[view.image_rows])

    if TEXT_ENCODERS[text].kind == "sentence":
        from tie.towers.text import TowerTextEncoder

        query_vector = TowerTextEncoder(text, **params[text]).encode([query])
    else:
        query_vector = word_vector_query(params, corpus, query, vocab_file)
    images, query_embedding = load_joint_model(model_dir).transform(X, query_vector)
    order, scores = top_k(query_embedding, images, top)
    names = [corpus.images[view.image_rows[i]] for i in order[0]]
    sources = image_sources(dataset, output_path(RAW, **choice), names)
    return [Hit(*hit) for hit in zip(names, sources, map(float, scores[0]), strict=True)]


def word_vector_query(params: dict, corpus: Corpus, query: str, vocab_file: Path) -> np.ndarray:
    """The query as `text_features` makes a caption's row: its words' pooled vectors."""
    tokenizer = Tokenizer(**params["tokenizer"])
    tokens = tokenizer(query)
    settings = params["caption_vectors"]
    word_vectors = WordVectors.load(vocab_file)
    if settings["pooling"] == "fisher":
        from tie.text.fisher_vectors import FisherVectors, known_rows

        encoder_dir = output_path(MIXTURE_DIR, **path_choices(params))
        if not encoder_dir.exists():
            raise TieError(f"{encoder_dir} does not exist: run `dvc repro` (or `dvc pull`) first")
        encoder = FisherVectors.load(encoder_dir)
        encoder.normalize = params["fisher"]["normalize"]
        query_vector = encoder.encode(known_rows([tokens], word_vectors), word_vectors.vectors)
    else:
        idf = None
        if settings["idf"]:
            train_rows = corpus.split_view("train").caption_rows
            idf = Idf.fit(tokenizer.tokenize_all(corpus.flat_captions[i] for i in train_rows))
        query_vector = mean_vectors([tokens], word_vectors, idf, settings["word_scaling"])
    if not query_vector.any():
        raise TieError(
            f"no word of {query!r} has a `{params['text']}` vector among the words of the"
            f" {params['dataset']} captions (after tokenizing: {tokens}); try other words"
        )
    return query_vector
