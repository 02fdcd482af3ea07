"""Stage `cca`: fit CCA on the train split, choosing its params on val; save to MODEL_DIR.

`cca.method: none` (the zero-shot row of CLIP / SigLIP) fits nothing: MODEL_DIR holds the
identity map (`tie.joint.space.ZeroShot`), GRID_FILE an empty grid, and SELECTION_FILE
the val criterion of the model's own space.

Each of `cca.n_components`, `cca.reg` and `cca.scale_power` is a value or a list; every
combination is scored on the val split (see tie.joint.model_selection) and the best one is
saved to MODEL_DIR, with the record of the choice: GRID_FILE, the whole grid (a DVC plot,
and an MLflow artifact of the evaluation), and SELECTION_FILE, the chosen values and their
val criterion (a DVC metrics file). Both are small and kept in git, like the other metrics,
so `dvc metrics diff` and `dvc plots diff` work in a fresh clone; dvc.yaml declares them
as the stage's metrics and plots (`cache: false`), which DVC's run-cache still restores.
"""

import json
from functools import partial
from pathlib import Path

import click
import numpy as np

from tie.commands import Command
from tie.config.params import load_params
from tie.corpus.corpus import Corpus
from tie.engine.engine import compute_session, load_compute
from tie.errors import TieError
from tie.evaluation.retrieval import DIRECTIONS, metrics_from_ranks, ranks, rounded
from tie.features.store import RowSubset, load_features, load_image_features
from tie.joint.cca import InvalidParam, covariances
from tie.joint.model_selection import (
    CRITERION_KS,
    GRID_PARAMS,
    grid_search,
    param_grid,
    write_table,
)
from tie.joint.space import ZeroShot


@click.command(cls=Command)
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("image_features", type=click.Path(path_type=Path))
@click.argument("text_features", type=click.Path(path_type=Path))
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("grid_file", type=click.Path(path_type=Path))
@click.argument("selection_file", type=click.Path(path_type=Path))
def main(
    splits_file: Path,
    image_features: Path,
    text_features: Path,
    model_dir: Path,
    grid_file: Path,
    selection_file: Path,
) -> None:
    params = load_params("cca")
    corpus = Corpus.load(splits_file)
    X, image_row = load_image_features(image_features, corpus.images)  # read when indexed
    Y = load_features(text_features, corpus.caption_ids)
    train, val = corpus.split_view("train"), corpus.split_view("val")
    if len(val.image_rows) == 0:
        raise TieError(f"{splits_file} has no val images: the cca stage chooses its params on val")
    settings = dict(params["cca"])
    if settings.pop("method", "cca") == "none":
        zero_shot(X, image_row, Y, val, model_dir, grid_file, selection_file)
        return
    try:
        grid = param_grid(settings, X.shape[1], Y.shape[1])
        # Every image row of X, with the train captions pointing at theirs: images of other
        # splits have no caption here and take no part, and X is never copied whole.
        compute = load_compute()
        covariances_of = covariances
        if compute["engine"] == "ray":  # chunk moments on the cluster, merged here
            from tie.joint.ray import covariances_on_ray

            covariances_of = partial(covariances_on_ray, compute=compute)
        train_image_rows = image_row[train.image_rows]
        with compute_session(compute):
            train_covariances = covariances_of(
                X,
                RowSubset(Y, train.caption_rows),  # read block by block, never copied whole
                image_index=train_image_rows[train.caption_image_index],
            )
        result = grid_search(
            train_covariances,
            X[image_row[val.image_rows]],
            RowSubset(Y, val.caption_rows),
            val.caption_image_index,
            **grid,
        )
    except InvalidParam as error:  # said in CCA's own terms: here, params.yaml's
        raise TieError(f"cca.{error} (params.yaml)") from error
    except ValueError as error:  # a `cca` param that does not fit these features
        raise TieError(f"{error} (params.yaml, section `cca`)") from error

    result.model.save(model_dir)
    write_table(grid_file, result.table)
    selection = {name: result.best[name] for name in GRID_PARAMS}
    selection |= {"val_criterion": result.best["criterion"], "grid_points": len(result.table)}
    selection_file.write_text(json.dumps(selection, indent=2) + "\n")

    top = np.array2string(result.model.correlations_[:5], precision=3)
    click.echo(f"CCA on {len(train.image_rows)} train images: top correlations {top}")
    if result.model.n_components >= len(train.image_rows):
        click.echo(
            f"Warning: cca.n_components = {result.model.n_components} is not below the"
            f" {len(train.image_rows)} train images: the CCA is degenerate (they span at most"
            f" {len(train.image_rows) - 1} directions); choose fewer components or add images",
            err=True,
        )
    chosen = ", ".join(f"{name}={result.best[name]}" for name in GRID_PARAMS)
    click.echo(
        f"chosen on val from a grid of {len(result.table)}: {chosen} "
        f"(R@1+R@5+R@10, both directions: {result.best['criterion']:.1f})"
    )


def zero_shot(X, image_row, Y, val, model_dir: Path, grid_file: Path, selection_file: Path) -> None:
    """`cca.method: none`: the model's own space, scored on val like a grid point."""
    if X.shape[1] != Y.shape[1]:
        raise TieError(
            f"cca.method none compares image and caption embeddings directly, but they have"
            f" {X.shape[1]} and {Y.shape[1]} dimensions: use image and text of the same model"
        )
    model = ZeroShot(dim=X.shape[1])
    model.save(model_dir)
    write_table(grid_file, [])
    images, captions = model.transform(X[image_row[val.image_rows]], Y[val.caption_rows])
    search, annotation = ranks(images, captions, val.caption_image_index)
    metrics = metrics_from_ranks(search, annotation, CRITERION_KS)
    criterion = sum(metrics[d][f"R_at_{k}"] for d in DIRECTIONS for k in CRITERION_KS)
    selection = {"val_criterion": rounded(criterion), "grid_points": 0}
    selection_file.write_text(json.dumps(selection, indent=2) + "\n")
    click.echo(
        f"cca.method none: the model's own space ({X.shape[1]}-d), no CCA fitted"
        f" (R@1+R@5+R@10 on val, both directions: {criterion:.1f})"
    )


if __name__ == "__main__":
    main()
