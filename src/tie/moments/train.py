"""The moments stage's work: the moments of the train split's (image, caption) pairs.

Here (`tie.moments.stream.covariances`) or on Ray (`tie.moments.ray`), as section `compute`
says; both give the same covariances to rounding.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial

from tie.corpus.corpus import Corpus
from tie.errors import DataError
from tie.features.store import RowSubset
from tie.moments.stream import Covariances, covariances


def train_moments(X, image_row, Y, corpus: Corpus, engine=None) -> Covariances:
    """The covariances of `corpus`'s train pairs; X's row of image `i` is `image_row[i]`.

    `engine`: a `tie.engine.engine.Engine` (its Ray session when `on_ray`); None: here.

    X (every image's features) and Y (every caption's) are read by rows, never copied
    whole: the train captions point at their images' rows of X.
    """
    train = corpus.split_view("train")
    covariances_of = covariances
    if engine is not None and engine.on_ray:  # chunk moments on the cluster, merged here
        from tie.moments.ray import covariances_on_ray

        covariances_of = partial(covariances_on_ray, compute=engine.compute)
    train_image_rows = image_row[train.image_rows]
    try:
        with engine.session() if engine is not None else nullcontext():
            return covariances_of(
                X,
                RowSubset(Y, train.caption_rows),  # read block by block, never copied whole
                image_index=train_image_rows[train.caption_image_index],
            )
    except ValueError as error:  # the features: not finite, too few pairs
        raise DataError(
            f"{error} (X: {named(X, 'the image features')}, Y:"
            f" {named(Y, 'the caption features')}, their train rows)"
        ) from error


def named(features, otherwise: str) -> str:
    """The file a feature matrix was read from (`FeatureRows.path`), else `otherwise`."""
    path = getattr(features, "path", None)
    return str(path) if path is not None else otherwise
