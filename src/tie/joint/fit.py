"""The cca stage's work: the joint space fitted on train, its params chosen on val.

`cca.method: cca` fits a CCA for every combination of `cca.n_components`, `cca.reg` and
`cca.scale_power` (each a value or a list) from one pass of train covariances, here or
on Ray (`tie.joint.ray`), and keeps the best on val (`tie.joint.model_selection`).
`cca.method: none` (the zero-shot row of CLIP / SigLIP) fits nothing: the identity map
of the model's own space, scored on val like a grid point.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from tie.config.registry import CCA_PARAMS
from tie.config.schema import Cca
from tie.corpus.corpus import Corpus
from tie.engine.engine import LOCAL, Engine
from tie.errors import DataError, TieError
from tie.features.store import RowSubset
from tie.joint.cca import InvalidParam, covariances
from tie.joint.model_selection import capped_components, grid_search, param_grid
from tie.joint.retrieval import ranks, rsum
from tie.joint.space import ZeroShot


@dataclass(frozen=True)
class Fitted:
    """What the cca stage writes: the model, the grid's table and the choice made."""

    model: object  # a CCA, or ZeroShot
    table: list[dict]  # one row per grid point (empty for `cca.method: none`)
    selection: dict  # the chosen values, their val criterion, the grid's size
    notes: tuple[str, ...] = ()  # what the stage should say about the grid (values capped)


def fit_joint_space(cca: Cca, X, image_row, Y, corpus: Corpus, engine: Engine = LOCAL) -> Fitted:
    """Fit on `corpus`'s train split, choose on val; X's row of image `i` is `image_row[i]`.

    X (every image's features) and Y (every caption's) are read by rows, never copied
    whole: the train captions point at their images' rows of X.
    """
    train, val = corpus.split_view("train"), corpus.split_view("val")
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
    try:
        covariances_of = covariances
        if engine.on_ray:  # chunk moments on the cluster, merged here
            from tie.joint.ray import covariances_on_ray

            covariances_of = partial(covariances_on_ray, compute=engine.compute)
        train_image_rows = image_row[train.image_rows]
        with engine.session():
            train_covariances = covariances_of(
                X,
                RowSubset(Y, train.caption_rows),  # read block by block, never copied whole
                image_index=train_image_rows[train.caption_image_index],
            )
        result = grid_search(
            train_covariances,
            val_images,
            RowSubset(Y, val.caption_rows),
            val.caption_image_index,
            **grid,
        )
    except InvalidParam as error:
        raise TieError(f"cca.{error} (params.yaml)") from error
    except ValueError as error:  # the features: constant, not finite, singular without reg
        raise DataError(
            f"{error} (X: {_named(X, 'the image features')}, Y:"
            f" {_named(Y, 'the caption features')}, their train rows)"
        ) from error
    selection = {name: result.best[name] for name in CCA_PARAMS}
    selection |= {"val_criterion": result.best["criterion"], "grid_points": len(result.table)}
    components = cca.n_components
    note = None
    if isinstance(components, list) and len(components) > 1:
        note = capped_components(components, min(X.shape[1], Y.shape[1]))[1]
    return Fitted(result.model, result.table, selection, (note,) if note else ())


def _named(features, otherwise: str) -> str:
    """The file a feature matrix was read from (`FeatureRows.path`), else `otherwise`."""
    path = getattr(features, "path", None)
    return str(path) if path is not None else otherwise


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
