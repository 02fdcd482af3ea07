"""Stage `cca`: fit CCA on the train split, choosing its params on val; save to MODEL_DIR.

The train split enters through its moments (MOMENTS_DIR, the `moments` stage's folder):
this stage reads no train feature row, so a change of a `cca` param costs the solve only.

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
The work is `tie.joint.fit.fit_joint_space`.
"""

import json
from pathlib import Path

import click
import numpy as np

from tie.commands import Command
from tie.config.params import load_params
from tie.config.registry import CCA_PARAMS
from tie.corpus.corpus import Corpus
from tie.features.store import load_features, load_image_features
from tie.joint.cca import degenerate_fit
from tie.joint.fit import fit_joint_space
from tie.joint.model_selection import write_table
from tie.moments.store import load_moments


@click.command(cls=Command)
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("image_features", type=click.Path(path_type=Path))
@click.argument("text_features", type=click.Path(path_type=Path))
@click.argument("moments_dir", type=click.Path(path_type=Path))
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("grid_file", type=click.Path(path_type=Path))
@click.argument("selection_file", type=click.Path(path_type=Path))
def main(
    splits_file: Path,
    image_features: Path,
    text_features: Path,
    moments_dir: Path,
    model_dir: Path,
    grid_file: Path,
    selection_file: Path,
) -> None:
    params = load_params("cca")
    corpus = Corpus.load(splits_file)
    X, image_row = load_image_features(image_features, corpus.images)  # read when indexed
    Y = load_features(text_features, corpus.caption_ids)
    moments = None if params.cca.method == "none" else load_moments(moments_dir)
    fitted = fit_joint_space(params.cca, X, image_row, Y, corpus, moments)
    fitted.model.save(model_dir)
    write_table(grid_file, fitted.table)
    selection_file.write_text(json.dumps(fitted.selection, indent=2) + "\n")

    for note in fitted.notes:
        click.echo(f"note: {note}")
    model, n_train = fitted.model, len(corpus.split_view("train").image_rows)
    criterion = fitted.selection["val_criterion"]
    if not fitted.table:  # cca.method none
        click.echo(
            f"cca.method none: the model's own space ({X.shape[1]}-d), no CCA fitted"
            f" (R@1+R@5+R@10 on val, both directions: {criterion:.1f})"
        )
        return
    top = np.array2string(model.correlations_[:5], precision=3)
    click.echo(f"CCA on {n_train} train images: top correlations {top}")
    if (degenerate := degenerate_fit(model.n_components, n_train, "train images")) is not None:
        click.echo(f"Warning: cca.{degenerate}", err=True)
    chosen = ", ".join(f"{name}={fitted.selection[name]}" for name in CCA_PARAMS)
    click.echo(
        f"chosen on val from a grid of {len(fitted.table)}: {chosen} "
        f"(R@1+R@5+R@10, both directions: {criterion:.1f})"
    )


if __name__ == "__main__":
    main()
