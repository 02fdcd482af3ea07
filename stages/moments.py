"""Stage `moments`: the moments of the train split's pairs, written to MOMENTS_DIR.

The means, each side's covariance (its lower triangle, packed, float64) and the
cross-covariance of the train (image, caption) pairs: everything the `cca` stage needs from
the data (`tie.moments.store`). A change of `cca.reg`, `cca.n_components` or
`cca.scale_power` re-runs only `cca`, which solves from this folder; no param of section
`cca` changes the moments, so this stage declares none. The pass runs here or on Ray
(section `compute`).
"""

from pathlib import Path

import click

from tie.commands import Command
from tie.corpus.corpus import Corpus
from tie.engine.engine import load_engine
from tie.features.store import load_features, load_image_features
from tie.moments.store import save_moments
from tie.moments.train import train_moments


@click.command(cls=Command)
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("image_features", type=click.Path(path_type=Path))
@click.argument("text_features", type=click.Path(path_type=Path))
@click.argument("moments_dir", type=click.Path(path_type=Path))
def main(splits_file: Path, image_features: Path, text_features: Path, moments_dir: Path) -> None:
    corpus = Corpus.load(splits_file)
    X, image_row = load_image_features(image_features, corpus.images)  # read when indexed
    Y = load_features(text_features, corpus.caption_ids)
    moments = train_moments(X, image_row, Y, corpus, load_engine())
    save_moments(moments, moments_dir)
    click.echo(
        f"moments of {moments.n_pairs} train pairs ({X.shape[1]}-d images,"
        f" {Y.shape[1]}-d captions) in {moments_dir}"
    )


if __name__ == "__main__":
    main()
