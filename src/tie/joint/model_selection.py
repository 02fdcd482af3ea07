"""Choosing the CCA's n_components, reg and scale_power on the val split (grid search).

The published results were obtained "after cross-validation on train/val": the model is
fitted on train and every combination of the values given is scored on val. The
criterion is the sum of R@1 + R@5 + R@10 of image search and image annotation on val
(0-600, the "rsum" of the retrieval literature). Ties go to the simpler model: fewer
components, then more ridge, then the smaller scale_power.

Cost: the moments of train are computed once (`tie.moments`: the `moments` stage), then
per reg value one Cholesky factorisation of each side, in the same buffer every time
(`tie.joint.cca.CholeskyBuffers`: refilled from the moments), and one whitening and SVD;
every n_components and scale_power of that reg is a truncation and rescaling of the same
components, scored without refitting.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from pathlib import Path

from tie.config.registry import CCA_PARAMS
from tie.config.schema import Cca
from tie.joint.cca import CCA, CholeskyBuffers, InvalidParam
from tie.joint.retrieval import DIRECTIONS, RSUM_KS, metrics_from_ranks, ranks, rounded, rsum
from tie.joint.space import embed
from tie.progress import progress as progress_of

TABLE_COLUMNS = (
    *CCA_PARAMS,
    *(f"{direction}_R_at_{k}" for direction in DIRECTIONS for k in RSUM_KS),
    "criterion",
)


@dataclass
class GridSearchResult:
    model: CCA  # the chosen model, fitted on train
    table: list[dict]  # one row per grid point: TABLE_COLUMNS
    best: dict  # the chosen row of the table


def param_grid(cca: Cca, dx: int, dy: int) -> dict[str, list]:
    """The values to try for each of CCA_PARAMS of section `cca` (checked by the schema): a
    scalar param is a list of one value.

    A list of n_components is a search space: its values above the features' dimension
    min(dx, dy) are capped at it (`capped_components` says so), so that one default grid
    serves 50-d mean vectors and 3,000-d Fisher vectors alike; a single value above it is
    refused. Checks every value against the feature dimensions (what the schema cannot
    know), so that a bad one fails before any heavy work.
    """
    grid = {}
    for name in CCA_PARAMS:
        values = getattr(cca, name)
        grid[name] = list(values) if isinstance(values, list | tuple) else [values]
    if len(grid["n_components"]) > 1:
        grid["n_components"] = capped_components(grid["n_components"], min(dx, dy))[0]
    for values in itertools.product(*(grid[name] for name in CCA_PARAMS)):
        try:
            CCA(**dict(zip(CCA_PARAMS, values, strict=True))).check_params(dx, dy)
        except InvalidParam as error:
            raise ValueError(f"cca.{error}") from error
    return grid


def capped_components(values: list, limit: int) -> tuple[list, str | None]:
    """A list of n_components with every value above `limit` replaced by `limit` (once), in
    order; and a note saying so, or None."""
    capped = list(dict.fromkeys(min(v, limit) if isinstance(v, int) else v for v in values))
    if capped == list(values):
        return capped, None
    above = [v for v in values if isinstance(v, int) and v > limit]
    return capped, (
        f"cca.n_components {above} exceed the features' dimension {limit}: tried {limit}"
        " instead (at most min(image dim, text dim) components)"
    )


def grid_search(
    train_covariances, X_val, Y_val, val_image_index, n_components, reg, scale_power
) -> GridSearchResult:
    """Fit on train (from its covariances) and score every grid point on val.

    Parameters
    ----------
    train_covariances : tie.moments.stream.Covariances or tie.moments.store.StoredMoments
        `covariances(X_train, Y_train, image_index)`, or the `moments` stage's folder
        (`load_moments`): each side's covariance is copied (read) into one buffer, again for
        each reg value, and factored there.
    X_val, Y_val, val_image_index
        The val split as `tie.joint.retrieval.ranks` takes it: one row per image, one per
        caption, and for every caption the row of its image. Y_val may be a row source
        (`tie.features.store.RowSubset`), projected block by block (`tie.joint.space.embed`).
    n_components, reg, scale_power : lists
        The values to try (see `param_grid`).
    """
    max_components = max(n_components)
    table, models = [], {}
    points = len(n_components) * len(reg) * len(scale_power)
    progress = progress_of(total=points, desc="CCA grid search", unit="point")
    buffers = CholeskyBuffers(train_covariances)  # one per side for the whole grid
    for ridge in reg:
        full = CCA(n_components=max_components, reg=ridge, scale_power=0)
        full.fit_covariances(train_covariances, buffers)
        models[ridge] = full
        # Unscaled val embeddings with every component; each point slices and rescales them.
        images, captions = embed(full, X_val, Y_val)
        for k in n_components:
            for power in scale_power:
                scale = full.correlations_[:k] ** power
                search, annotation = ranks(
                    images[:, :k] * scale, captions[:, :k] * scale, val_image_index
                )
                metrics = metrics_from_ranks(search, annotation, RSUM_KS)
                table.append(_table_row(k, ridge, power, metrics, rsum(search, annotation)))
                progress.update()
    progress.close()
    best = max(
        table, key=lambda r: (r["criterion"], -r["n_components"], r["reg"], -r["scale_power"])
    )
    model = models[best["reg"]].truncated(best["n_components"], best["scale_power"])
    return GridSearchResult(model=model, table=table, best=best)


def write_table(path: Path, table: list[dict]) -> None:
    """The grid as CSV, the file DVC plots as a heatmap of the criterion over k x reg."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows(table)


def _table_row(n_components, reg, scale_power, metrics, criterion) -> dict:
    row = {"n_components": int(n_components), "reg": reg, "scale_power": scale_power}
    recalls = {
        f"{direction}_R_at_{k}": metrics[direction][f"R_at_{k}"]
        for direction in DIRECTIONS
        for k in RSUM_KS
    }
    row |= {name: rounded(value) for name, value in recalls.items()}
    row["criterion"] = criterion
    return row
