"""A split's images and captions in the joint space: its feature rows, through the model.

One helper for everything that scores or searches a split (the `evaluate` stage,
`tie search`, the tests), so that they all see the same rows in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tie.corpus.corpus import Corpus, SplitView
from tie.features.store import RowSubset, load_features, load_image_features
from tie.joint.space import embed


@dataclass
class SplitEmbeddings:
    view: SplitView  # which rows of the corpus: images, captions, and who belongs to whom
    images: np.ndarray  # (images of the split, d): one row per `view.image_rows`
    captions: np.ndarray  # (captions of the split, d): one row per `view.caption_rows`


def load_split_embeddings(
    corpus: Corpus, split: str, image_features: Path, text_features: Path, model
) -> SplitEmbeddings:
    """`split`'s rows of the feature files, projected by `model` (a fitted `CCA`).

    The feature files are checked against the corpus (see `tie.features.store.load_features`).
    """
    view = corpus.split_view(split)
    X, image_row = load_image_features(image_features, corpus.images)
    X = X[image_row[view.image_rows]]
    Y = RowSubset(load_features(text_features, corpus.caption_ids), view.caption_rows)
    images, captions = embed(model, X, Y)  # the captions block by block
    return SplitEmbeddings(view, images, captions)
