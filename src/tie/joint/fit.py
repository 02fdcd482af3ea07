"""The cca stage's work: the joint space fitted on train, its params chosen on val.

`cca.method: cca` fits a CCA for every combination of `cca.n_components`, `cca.reg` and
`cca.scale_power` (each a value or a list) from the moments of train (the `moments`
stage's folder, `tie.moments`: one pass over the data for the whole grid), and keeps the
best on val (`tie.joint.model_selection`).
`cca.method: none` (the zero-shot row of CLIP / SigLIP) fits nothing: the identity map
of the model's own space, scored on val like a grid point.
"""

from __future__ import annotations

from dataclasses import dataclass

from tie.config.registry import CCA_PARAMS
from tie.config.schema import Cca
from tie.corpus.corpus import Corpus
from tie.errors import DataError, TieError
from tie.features.store import RowSubset
from tie.joint.cca import InvalidParam
from tie.joint.model_selection import capped_components, grid_search, param_grid
from tie.joint.retrieval import ranks, rsum
from tie.joint.space import ZeroShot
from tie.moments.train import named, train_moments


@dataclass(frozen=True)
class Fitted:
    """What the cca stage writes: the model, the grid's table and the choice made."""

    model: object  # a CCA, or ZeroShot
    table: list[dict]  # one row per grid point (empty for `cca.method: none`)
    selection: dict  # the chosen values, their val criterion, the grid's size
    notes: tuple[str, ...] = ()  # what the stage should say about the grid (values capped)


def fit_joint_space(cca: Cca, X, image_row, Y, corpus: Corpus, moments=None) -> Fitted:
    """Fit on `corpus`'s train split, choose on val; X's row of image `i` is `image_row[i]`.

    `moments`: the train moments (`tie.moments.store.load_moments` of the `moments` stage's
    folder, or `tie.moments.train.train_moments`); computed here when not given. X and Y
    (every image's and every caption's features) are read by rows, never copied whole.
    """
    val = corpus.split_view("val")
    if len(val.image_rows) == 0:
        raise TieError("the splits have no val images: the cca stage chooses its params on val")
    val_images = X[image_row[val.image_rows]]
    if cca.method == "none":
        return _zero_shot(val_images, Y[val.caption_rows], val.caption_image_index)
    try:
        grid = param_grid(cca, X.shape[1], Y.shape[1])
    except InvalidParam as error:  # said in CCA's own terms: here, params.yaml's
        raise TieError(f"cca.{error} (params.yaml)") from error
    except ValueError as error:  # a `cca` param not fitting these features
        raise TieError(f"{error} (params.yaml, section `cca`)") from error
    if moments is None:
        moments = train_moments(X, image_row, Y, corpus)
    if (len(moments.x_mean), len(moments.y_mean)) != (X.shape[1], Y.shape[1]):
        raise DataError(
            f"the train moments are of {len(moments.x_mean)}-d and {len(moments.y_mean)}-d"
            f" features, the features {X.shape[1]}-d and {Y.shape[1]}-d: run `dvc repro`"
        )
    try:
        result = grid_search(
            moments,
            val_images,
            RowSubset(Y, val.caption_rows),
            val.caption_image_index,
            **grid,
        )
    except InvalidParam as error:
        raise TieError(f"cca.{error} (params.yaml)") from error
    except ValueError as error:  # the features: constant, not finite, singular without reg
        raise DataError(
            f"{error} (X: {named(X, 'the image features')}, Y:"
            f" {named(Y, 'the caption features')}, their train rows)"
        ) from error
    selection = {name: result.best[name] for name in CCA_PARAMS}
    selection |= {"val_criterion": result.best["criterion"], "grid_points": len(result.table)}
    components = cca.n_components
    note = None
    if isinstance(components, list) and len(components) > 1:
        note = capped_components(components, min(X.shape[1], Y.shape[1]))[1]
    return Fitted(result.model, result.table, selection, (note,) if note else ())


def _zero_shot(images, captions, caption_image_index) -> Fitted:
    if images.shape[1] != captions.shape[1]:
        raise TieError(
            f"cca.method none compares image and caption embeddings directly, but they have"
            f" {images.shape[1]} and {captions.shape[1]} dimensions: use image and text of the"
            " same model"
        )
    model = ZeroShot(dim=images.shape[1])
    search, annotation = ranks(*model.transform(images, captions), caption_image_index)
    return Fitted(model, [], {"val_criterion": rsum(search, annotation), "grid_points": 0})
