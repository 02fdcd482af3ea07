"""`tie search`: rank the test images of the current pipeline for a free-text query.

The current model is the one `params.yaml` points at: its `dataset`, `text` and
`image` choose the splits, the image features, the CCA model and the word vectors
(the `vocab` stage's file, the very vectors the model was fitted on). The query becomes
a vector exactly as `text_features` turns captions into vectors, so only words that
occur in the dataset's captions are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tie.cca import CCA
from tie.corpus import Corpus
from tie.datasets import image_sources
from tie.errors import TieError
from tie.features import load_image_features
from tie.gallery import top_k
from tie.paths import IMAGE_FEATURES, MODEL_DIR, RAW, SPLITS, VOCAB, output_path
from tie.text.tokenize import Tokenizer
from tie.text.word_vectors import Idf, WordVectors, mean_vectors

MAX_ECHOED_CHARS = 80  # of a query quoted back in a message
MAX_ECHOED_WORDS = 12


def shorten(query: str) -> str:
    """The query as quoted back: at most MAX_ECHOED_CHARS characters."""
    if len(query) <= MAX_ECHOED_CHARS:
        return query
    return f"{query[: MAX_ECHOED_CHARS - 3]}... ({len(query)} characters)"


@dataclass(frozen=True)
class Hit:
    image: str  # the image's id (its file name)
    path: Path
    score: float  # cosine similarity with the query in the joint space


def search_images(params: dict, query: str, top: int, split: str = "test") -> list[Hit]:
    """The `top` images of `split` closest to `query`, best first."""
    dataset, text, image = params["dataset"], params["text"], params["image"]
    choice = {"dataset": dataset, "text": text, "image": image}
    splits_file = output_path(SPLITS, **choice)
    model_dir = output_path(MODEL_DIR, **choice)
    vocab_file = output_path(VOCAB, **choice)
    for needed in (splits_file, model_dir, vocab_file):
        if not needed.exists():
            raise TieError(f"{needed} does not exist: run `dvc repro` (or `dvc pull`) first")
    corpus = Corpus.load(splits_file)
    view = corpus.split_view(split)
    X, image_row = load_image_features(output_path(IMAGE_FEATURES, **choice), corpus.images)
    X = np.asarray(X[image_row[view.image_rows]])

    tokenizer = Tokenizer(**params["tokenizer"])
    tokens = tokenizer(query)
    settings = params["caption_vectors"]
    idf = None
    if settings["idf"]:
        train_rows = corpus.split_view("train").caption_rows
        idf = Idf.fit(tokenizer.tokenize_all(corpus.flat_captions[i] for i in train_rows))
    word_vectors = WordVectors.load(vocab_file)
    query_vector = mean_vectors([tokens], word_vectors, idf, settings["word_scaling"])
    if not query_vector.any():
        shown_tokens = tokens[:MAX_ECHOED_WORDS] + (
            ["..."] if len(tokens) > MAX_ECHOED_WORDS else []
        )
        raise TieError(
            f"no word of {shorten(query)!r} has a `{text}` vector among the words of the "
            f"{dataset} captions (after tokenizing: {shown_tokens}); try other words"
        )
    images, query_embedding = CCA.load(model_dir).transform(X, query_vector)
    order, scores = top_k(query_embedding, images, top)
    names = [corpus.images[view.image_rows[i]] for i in order[0]]
    sources = image_sources(dataset, output_path(RAW, **choice), names)
    return [Hit(*hit) for hit in zip(names, sources, map(float, scores[0]), strict=True)]
